"""Reboot and display power: what the unprivileged agent asks a small root helper to do.

The agent runs as user `signage` with no capabilities and `NoNewPrivileges`
(systemd/signage-agent.service), so it can neither reboot the machine nor be given a way
to become root. Three actions need more: `reboot`, `display-off` and `display-on`. They go
through one narrow path (docs/commands.md):

    agent ──connect──▶ /run/signage-agent-privileged.sock   (root:signage 0660; only the
                        │                                    service user can connect)
                        ▼ systemd starts one instance per connection (Accept=yes)
    signage-agent-privileged@.service ──▶ /usr/libexec/signage-agent/signage-agent-privileged

The helper reads one line, a verb, and answers one line::

    ok <detail>            done (for `reboot`: the reboot is under way)
    unsupported <reason>   this device has no way to do it (no HDMI-CEC, no vcgencmd)
    failed <reason>        it tried, and the tool failed
    refused <reason>       not one of the three verbs (this client never sends one)

It accepts nothing else and reads no argument, so the most the agent (or whoever runs as
its user) can ever make root do is reboot the screen or switch its display. The helper is
a POSIX shell script owned by the package, never code from the agent's own environment
(which a self-update replaces).

`Privileged` is the interface the command runner (agent.commands) uses; tests replace it
there and nowhere else. `HelperClient` is the real one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from agent.errors import PrivilegedError

log = logging.getLogger(__name__)

SOCKET_PATH = Path("/run/signage-agent-privileged.sock")
# The helper's own limit (RuntimeMaxSec in its unit) is 30 s; HDMI-CEC waits for the TV.
ANSWER_TIMEOUT_S = 35.0
MAX_ANSWER_BYTES = 1024
NO_DISPLAY_CONTROL = "no HDMI-CEC or display power control on this device"


class Verb(StrEnum):
    """The only three things the helper does."""

    REBOOT = "reboot"
    DISPLAY_OFF = "display-off"
    DISPLAY_ON = "display-on"


class Outcome(StrEnum):
    OK = "ok"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    detail: str  # one line for a person: what was done, or why not


class Privileged(Protocol):
    """What the command runner needs for the actions it may not do itself."""

    def unavailable(self, verb: Verb) -> str | None:
        """Why `verb` cannot be done on this device, or None when it can be tried.

        Cheap and without side effects: the runner asks before it records a command as
        started, so that a screen without display power control answers `unsupported`.
        """
        ...

    async def run(self, verb: Verb) -> Answer:
        """Ask for `verb`; raises `PrivilegedError` when the helper cannot be asked."""
        ...


def display_control(dev_dir: Path, which: Callable[[str], str | None] = shutil.which) -> bool:
    """Whether the helper has a way to switch the display: `cec-ctl` with an HDMI-CEC
    adapter (/dev/cec*), or the Raspberry Pi firmware's `vcgencmd`."""
    if which("cec-ctl") is not None and any(dev_dir.glob("cec[0-9]*")):
        return True
    return which("vcgencmd") is not None


def parse_answer(line: bytes) -> Answer:
    """The helper's one-line answer; raises `PrivilegedError` for anything else."""
    text = line.decode("utf-8", "replace").strip()
    word, _, detail = text.partition(" ")
    detail = "".join(ch if ch.isprintable() else "?" for ch in detail)[:500]
    try:
        outcome = Outcome(word)
    except ValueError:
        if word == "refused":
            raise PrivilegedError(f"the privileged helper refused the request: {detail}") from None
        shown = text[:80] or "nothing"
        raise PrivilegedError(f"the privileged helper answered {shown!r}") from None
    return Answer(outcome, detail or word)


class HelperClient:
    """`Privileged` through signage-agent-privileged.socket (see the module docstring)."""

    def __init__(
        self,
        socket_path: Path = SOCKET_PATH,
        *,
        dev_dir: Path = Path("/dev"),
        which: Callable[[str], str | None] = shutil.which,
        timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self.socket_path = socket_path
        self._dev_dir = dev_dir
        self._which = which
        self._timeout_s = timeout_s

    def unavailable(self, verb: Verb) -> str | None:
        if not self.socket_path.exists():
            return (
                f"no privileged helper on this device ({self.socket_path} is missing: "
                "signage-agent-privileged.socket is not installed or not running)"
            )
        if verb != Verb.REBOOT and not display_control(self._dev_dir, self._which):
            return NO_DISPLAY_CONTROL
        return None

    async def run(self, verb: Verb) -> Answer:
        try:
            async with asyncio.timeout(self._timeout_s):
                reader, writer = await asyncio.open_unix_connection(
                    str(self.socket_path), limit=MAX_ANSWER_BYTES
                )
                try:
                    writer.write(f"{verb.value}\n".encode())
                    await writer.drain()
                    writer.write_eof()
                    line = await reader.readline()
                finally:
                    writer.close()
                    await writer.wait_closed()
        except TimeoutError:
            raise PrivilegedError(
                f"the privileged helper did not answer {verb.value} within {self._timeout_s:.0f} s"
            ) from None
        except (OSError, ValueError) as exc:  # ValueError: a line over the limit
            raise PrivilegedError(
                f"cannot ask the privileged helper at {self.socket_path} to {verb.value}: {exc}"
            ) from exc
        if not line and verb == Verb.REBOOT:
            # The reboot stops every service, the helper too, perhaps before it answered.
            return Answer(Outcome.OK, "no answer from the helper: the reboot may be under way")
        answer = parse_answer(line)
        log.info("privileged helper: %s -> %s %s", verb.value, answer.outcome, answer.detail)
        return answer


__all__ = [
    "NO_DISPLAY_CONTROL",
    "SOCKET_PATH",
    "Answer",
    "HelperClient",
    "Outcome",
    "Privileged",
    "PrivilegedError",
    "Verb",
    "display_control",
    "parse_answer",
]
