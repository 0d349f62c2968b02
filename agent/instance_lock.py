"""One agent per state folder, and a way for `status` to tell whether it runs.

The daemon holds an exclusive `flock` on `<state_dir>/agent.lock` for as long as it runs
and writes its pid there. The kernel drops the lock when the process ends, however it
ends (SIGKILL, a crash, power loss), so "the lock is held" means "an agent runs", with no
stale pid files to clean up. A second agent on the same folder stops at start-up.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agent.errors import AlreadyRunning

LOCK_FILE_NAME = "agent.lock"


class InstanceLock:
    """Held from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = running_pid(self.path.parent)
            raise AlreadyRunning(
                f"another agent (pid {pid or '?'}) already runs on {self.path.parent}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock; safe to call twice."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def running_pid(state_dir: Path) -> int | None:
    """The pid of the agent running on `state_dir`, or None when none runs."""
    path = state_dir / LOCK_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: an agent runs
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE_NAME", "InstanceLock", "running_pid"]
