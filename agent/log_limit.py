"""Keeping the journal readable and the SD card alive: repeated log lines are rate-limited.

A broken item that fails every few seconds, or a cloud that stays down, would otherwise
write the same line thousands of times a day. `RepeatLimiter` lets each message template
(`record.msg` before formatting, with its logger and level) through `burst` times per
`window_s` (warnings and errors; routine lines pass); what it holds back is counted and
said in one line when the template next gets through ("… 57 similar line(s) suppressed").
Different messages never hide one another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

DEFAULT_BURST = 5
DEFAULT_WINDOW_S = 60.0
MAX_TEMPLATES = 1000  # bound the bookkeeping itself


class RepeatLimiter(logging.Filter):
    def __init__(
        self,
        burst: int = DEFAULT_BURST,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        min_level: int = logging.WARNING,
    ) -> None:
        super().__init__()
        self._min_level = min_level
        self._burst = burst
        self._window_s = window_s
        self._clock = clock
        # template -> (window start, lines let through in it, lines suppressed since)
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self._min_level:
            return True  # routine lines (what plays) are the journal's to rotate
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        start, passed, suppressed = self._seen.get(key, (now, 0, 0))
        if now - start >= self._window_s:
            start, passed = now, 0
        if passed >= self._burst:
            self._remember(key, (start, passed, suppressed + 1))
            return False
        self._remember(key, (start, passed + 1, 0))
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} similar line(s) suppressed)"
        return True

    def _remember(self, key: tuple[str, int, str], value: tuple[float, int, int]) -> None:
        if key not in self._seen and len(self._seen) >= MAX_TEMPLATES:
            self._seen.pop(next(iter(self._seen)))  # the oldest template
        self._seen[key] = value


__all__ = ["RepeatLimiter"]
