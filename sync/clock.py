"""The cloud's clock minus ours, from the `Signage-Time` header of every device answer, or
from the `Date` headers of answers that were not held where a server does not send it.

`Signage-Time` is the server's POSIX time to the millisecond, taken as the answer started,
so it lies between our `sent` and `received`:

    T - received - 0.0005  <=  offset  <=  T + 0.0005 - sent

which is as wide as the round trip (a few milliseconds on a LAN), held answers included.

A Pi has no real-time clock, so its own may be years off; play times are put on the cloud's
clock with this offset. `Date` bounds it far more loosely: the server stamped it (whole
seconds, from a cached value) while our request was with it, so with D the header's value,
`sent` and `received` our clock around the request:

    D - received  <=  offset  <  D + DATE_SLACK_S - sent

`DATE_SLACK_S` is the header's 1 s resolution plus how stale the server's cached date may
be: uvicorn stamps every answer with the date it computed on the last tenth tick of its
0.1 s sleep loop (`Server.main_loop`/`on_tick`, uvicorn 0.29 to 0.54), so the date is at
most about 1 s old, plus whatever the server's event loop lags. A long-poll answer is
excluded by the caller: its date is stamped when the request arrived, up to its `wait`
before it was received, which adds nothing but width.

One sample's midpoint is within 1 s plus half the round trip of the truth. The estimator
intersects the intervals of the last `WINDOW` samples and reports the midpoint; requests at
different moments of the server's second narrow it further. When the intervals stop
overlapping, our clock jumped (NTP, or a Pi's clock being set at boot), or a server lagged
more than allowed: the estimator starts again from the newest sample.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# The Date header's 1 s resolution plus the server's cached-date staleness (see above).
DATE_RESOLUTION_S = 1.0
DATE_STALENESS_S = 1.0
DATE_SLACK_S = DATE_RESOLUTION_S + DATE_STALENESS_S
# `Signage-Time` is written to the millisecond, rounded: half a millisecond either side.
TIME_ROUNDING_S = 0.0005
# A `Signage-Time` value longer than this is not ours.
MAX_TIME_CHARS = 24
# Samples whose intervals are intersected: enough to narrow the estimate, few enough that a
# slowly drifting clock (tens of ppm on a Pi without NTP) is followed.
WINDOW = 32


@dataclass(frozen=True)
class Interval:
    """The offsets (server clock minus ours, seconds) consistent with what we saw."""

    low: float
    high: float

    @property
    def midpoint(self) -> float:
        return (self.low + self.high) / 2

    def intersect(self, other: Interval) -> Interval | None:
        low, high = max(self.low, other.low), min(self.high, other.high)
        return Interval(low, high) if low <= high else None


def date_value(header: str | None) -> float | None:
    """The POSIX time of an HTTP `Date` header, or None when it is missing or unusable."""
    if not header:
        return None
    try:
        server = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        return None
    value = server.timestamp()
    return value if math.isfinite(value) else None


def time_value(header: str | None) -> float | None:
    """The POSIX time of a `Signage-Time` header, or None when it is missing or unusable."""
    if not header or len(header) > MAX_TIME_CHARS:
        return None
    try:
        value = float(header)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 < value < 2**40 else None


def sample_interval(
    stamp: float,
    *,
    sent: float,
    received: float,
    below: float = 0.0,
    above: float = DATE_SLACK_S,
) -> Interval | None:
    """What one answer says about the offset, or None for a sample that makes no sense.

    The server's clock read between `stamp - below` and `stamp + above` while it answered:
    for `Date`, 0 and `DATE_SLACK_S`; for `Signage-Time`, half its resolution either side."""
    if not (math.isfinite(sent) and math.isfinite(received)) or received < sent:
        return None  # our clock stepped back during the request: this sample says nothing
    return Interval(stamp - below - received, stamp + above - sent)


class ClockOffsetEstimator:
    """Server clock minus ours from recent samples; `offset_s` is None until the first one."""

    def __init__(self, window: int = WINDOW) -> None:
        self._samples: deque[Interval] = deque(maxlen=window)
        self._current: Interval | None = None

    @property
    def interval(self) -> Interval | None:
        """The intersection of the recent samples' intervals."""
        return self._current

    @property
    def offset_s(self) -> float | None:
        return None if self._current is None else self._current.midpoint

    def add(self, date: float, *, sent: float, received: float) -> None:
        """Take one answer's `Date` value and our clock just before sending and on receipt."""
        self._add(sample_interval(date, sent=sent, received=received))

    def add_precise(self, stamp: float, *, sent: float, received: float) -> None:
        """Take one answer's `Signage-Time` value and our clock around the request."""
        self._add(
            sample_interval(
                stamp, sent=sent, received=received, below=TIME_ROUNDING_S, above=TIME_ROUNDING_S
            )
        )

    def _add(self, sample: Interval | None) -> None:
        if sample is None:
            return
        self._samples.append(sample)
        current: Interval | None = sample
        for older in self._samples:
            assert current is not None
            current = current.intersect(older)
            if current is None:
                break
        if current is None:  # the clocks jumped apart: what we saw before no longer holds
            self._samples.clear()
            self._samples.append(sample)
            current = sample
        self._current = current


__all__ = [
    "DATE_SLACK_S",
    "WINDOW",
    "ClockOffsetEstimator",
    "Interval",
    "date_value",
    "sample_interval",
    "time_value",
]
