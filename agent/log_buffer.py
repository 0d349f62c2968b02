"""The agent's last log lines, kept in memory for the `logs` command (agent.commands).

`LogBuffer` is a logging handler that keeps the newest `sync.models.MAX_LOG_LINES` lines,
formatted as the journal gets them but with the full date (the journal adds its own; an
admin reading them in the portal has only these). The CLI installs it on the root logger
beside the journal's handler (`agent.cli._setup_logging`), so it sees what the journal
sees, the repeat limiter included; `find_log_buffer()` hands it to whoever asks.

Memory is bounded: at most `max_lines` lines of at most `MAX_LINE_CHARS` characters each
(2,000 lines of 1,000: about 2 MB in the worst case, a few hundred kB in practice).
"""

from __future__ import annotations

import logging
from collections import deque

from sync.models import MAX_LOG_LINES

MAX_LINE_CHARS = 1000
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class LogBuffer(logging.Handler):
    """Keeps the newest `max_lines` formatted lines (a record with a traceback is several)."""

    def __init__(self, max_lines: int = MAX_LOG_LINES, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._lines: deque[str] = deque(maxlen=max_lines)
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # as logging.StreamHandler does: a bad record must not raise
            self.handleError(record)
            return
        # emit() runs under the handler's lock (Handler.handle), so lines() sees whole records
        for line in text.splitlines() or [""]:
            if len(line) > MAX_LINE_CHARS:
                line = line[: MAX_LINE_CHARS - 1] + "…"
            self._lines.append(line)

    def lines(self, count: int = MAX_LOG_LINES) -> list[str]:
        """The newest `count` lines, oldest first."""
        if count <= 0:
            return []
        self.acquire()
        try:
            kept = list(self._lines)
        finally:
            self.release()
        return kept[-count:]

    def text(self, count: int = MAX_LOG_LINES) -> str:
        """The newest `count` lines as one UTF-8-ready text, one line each, ending in a newline."""
        lines = self.lines(count)
        return "".join(f"{line}\n" for line in lines)


def find_log_buffer(logger: logging.Logger | None = None) -> LogBuffer | None:
    """The `LogBuffer` installed on `logger` (the root logger by default), if any."""
    for handler in (logger or logging.getLogger()).handlers:
        if isinstance(handler, LogBuffer):
            return handler
    return None


__all__ = ["LOG_FORMAT", "MAX_LINE_CHARS", "LogBuffer", "find_log_buffer"]
