"""The clocks this device keeps: the cloud's as far as it knows it (`CloudClock`, which
every reported time is on), and the one the schedule follows (`ScheduleClock`): this
device's, or the cloud's.

A Raspberry Pi has no real-time clock: until NTP has set it, its time is whatever it was at
the last shutdown (or 1970). The sync layer keeps the cloud's clock minus ours
(`DeviceClient.clock_offset_s`). The schedule uses the cloud-corrected time when that offset
is known and either the kernel says the local clock is not synchronised, or the two clocks
differ by more than `TRUSTED_OFFSET_S`; otherwise the local clock, which NTP keeps finer
than our estimate of the offset. `status` shows which one is in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# Below this, a synchronised local clock is trusted over the estimated offset.
TRUSTED_OFFSET_S = 2.0
# adjtimex(2) returns TIME_ERROR when the kernel's clock is not synchronised.
TIME_ERROR = 5
# `struct timex` is 208 bytes on 64-bit Linux; a larger zeroed buffer (modes = 0: read only).
TIMEX_BUFFER_BYTES = 512


class ClockSource(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud-corrected"


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def local_clock_synchronised() -> bool | None:
    """Whether the kernel says NTP (or another source) keeps this clock synchronised;
    None where that cannot be asked (not Linux)."""
    libc = _libc()
    adjtimex = getattr(libc, "adjtimex", None)
    if adjtimex is None:
        return None
    buffer = ctypes.create_string_buffer(TIMEX_BUFFER_BYTES)  # modes = 0: only read
    state = adjtimex(buffer)
    if state < 0:
        return None
    return state != TIME_ERROR


def choose(offset_s: float | None, synchronised: bool | None) -> ClockSource:
    """The pure rule (module docstring)."""
    if offset_s is None:
        return ClockSource.LOCAL  # nothing better known yet
    if synchronised is False or abs(offset_s) > TRUSTED_OFFSET_S:
        return ClockSource.CLOUD
    return ClockSource.LOCAL


@dataclass(frozen=True)
class Reading:
    at: datetime  # aware, UTC
    source: ClockSource
    offset_s: float  # added to the local clock (0 for the local clock)


class ScheduleClock:
    """The time the schedule follows, read afresh on each call."""

    def __init__(
        self,
        offset_s: Callable[[], float | None],
        *,
        synchronised: Callable[[], bool | None] = local_clock_synchronised,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._offset_s = offset_s
        self._synchronised = synchronised
        self._wall = wall

    def read(self) -> Reading:
        offset = self._offset_s()
        source = choose(offset, self._synchronised())
        used = offset if source == ClockSource.CLOUD and offset is not None else 0.0
        return Reading(datetime.fromtimestamp(self._wall() + used, UTC), source, used)


def to_ms(at: datetime) -> datetime:
    """`at` to the millisecond: the precision of every stored and sent time."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


class CloudClock:
    """The cloud's time as this device knows it: its own clock plus the offset the sync layer
    measured (`offset_s()`); until the cloud has answered since start, its own clock (the
    one the schedule follows then too, so a switch at a boundary is logged at the boundary)."""

    def __init__(
        self, offset_s: Callable[[], float | None], *, wall: Callable[[], float] = time.time
    ) -> None:
        self._offset_s = offset_s
        self._wall = wall

    def offset_s(self) -> float:
        return self._offset_s() or 0.0

    def convert(self, at: datetime) -> datetime:
        """A time read from this device's clock, on the cloud's, to the millisecond."""
        return to_ms(at + timedelta(seconds=self.offset_s()))

    def now(self) -> datetime:
        return self.convert(datetime.fromtimestamp(self._wall(), UTC))


__all__ = [
    "TRUSTED_OFFSET_S",
    "ClockSource",
    "CloudClock",
    "Reading",
    "ScheduleClock",
    "choose",
    "local_clock_synchronised",
    "to_ms",
]
