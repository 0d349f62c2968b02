"""`kill -USR1 PID`: what a running (or hung) agent is doing, written to its log.

Two views, because a hang is either a thread stuck in a call or a coroutine waiting on
something that never comes:

- every thread's Python stack, from `faulthandler` (a C-level handler, so it works even when
  the event loop itself is blocked);
- every asyncio task's chain of awaits (each coroutine's current line, outermost first),
  from the event loop once it runs the signal's handler.
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal
from types import CoroutineType, FrameType, GeneratorType
from typing import Any

log = logging.getLogger(__name__)

# A chain of awaits longer than this is cut (a recursion would otherwise never end).
MAX_AWAIT_DEPTH = 64


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """`file:line in function` for each coroutine `task` is waiting in, outermost first."""
    lines: list[str] = []
    awaited: object = task.get_coro()
    while awaited is not None and len(lines) < MAX_AWAIT_DEPTH:
        frame: FrameType | None
        if isinstance(awaited, CoroutineType):
            frame, awaited = awaited.cr_frame, awaited.cr_await
        elif isinstance(awaited, GeneratorType):
            frame, awaited = awaited.gi_frame, awaited.gi_yieldfrom
        else:  # a Future, or something foreign: the chain ends here
            lines.append(f"awaiting {type(awaited).__name__}")
            break
        if frame is not None:
            code = frame.f_code
            lines.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
    return lines


def dump_tasks() -> None:
    """Log every task of the running loop with its chain of awaits."""
    tasks = asyncio.all_tasks()
    log.warning("stack dump asked for (SIGUSR1): %d asyncio task(s)", len(tasks))
    for task in sorted(tasks, key=lambda t: t.get_name()):
        chain = " <- ".join(reversed(await_chain(task))) or "(not started)"
        # the whole line as the message: the journal's repeat limiter keys on it
        log.warning(f"task {task.get_name()}: {chain}")


def install_stack_dumps(loop: asyncio.AbstractEventLoop) -> None:
    """On SIGUSR1: every thread's stack (stderr, the journal) and every task's awaits (log)."""
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    # after the loop's handler, chaining to it: faulthandler writes first, then the loop hears
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)


__all__ = ["await_chain", "dump_tasks", "install_stack_dumps"]
