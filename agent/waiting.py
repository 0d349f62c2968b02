"""Waiting for an `asyncio.Event` with a time limit, without losing a cancellation.

Python 3.11's `asyncio.wait_for` returns the awaited result when the task is cancelled in
the instant between that result arriving and the task resuming, and the cancellation is
lost (CPython gh-86296, fixed in 3.12 by building `wait_for` on `asyncio.timeout`). A
daemon task looping on `wait_for(event.wait(), ...)` then never ends, and a clean stop
hangs: the agent did once, when a heartbeat poke (an item starting) met SIGTERM.
`asyncio.timeout` has no such window.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float | None) -> bool:
    """Wait until `event` is set (True) or `timeout_s` passes (False; None: no limit)."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True


__all__ = ["wait_event"]
