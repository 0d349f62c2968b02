"""Which clock the schedule follows (agent.clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agent.clock import (
    TRUSTED_OFFSET_S,
    ClockSource,
    ScheduleClock,
    choose,
    local_clock_synchronised,
)


@pytest.mark.parametrize(
    ("offset", "synchronised", "expected"),
    [
        (None, None, ClockSource.LOCAL),  # nothing known of the cloud's clock yet
        (None, False, ClockSource.LOCAL),
        (0.3, True, ClockSource.LOCAL),  # NTP beats our estimate of a small offset
        (0.3, None, ClockSource.LOCAL),
        (0.3, False, ClockSource.CLOUD),  # the kernel says ours is not synchronised
        (TRUSTED_OFFSET_S + 0.1, True, ClockSource.CLOUD),  # synchronised, yet seconds off
        (-(TRUSTED_OFFSET_S + 0.1), True, ClockSource.CLOUD),
        (-86_400.0 * 365, None, ClockSource.CLOUD),  # a Pi that booted a year in the past
    ],
)
def test_the_cloud_clock_is_used_when_ours_cannot_be_trusted(
    offset: float | None, synchronised: bool | None, expected: ClockSource
) -> None:
    assert choose(offset, synchronised) == expected


def test_a_reading_adds_the_offset_only_on_the_cloud_clock() -> None:
    wall = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()
    offset: list[float | None] = [None]
    clock = ScheduleClock(lambda: offset[0], synchronised=lambda: True, wall=lambda: wall)
    assert clock.read().at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    offset[0] = 90.0
    reading = clock.read()
    assert (reading.source, reading.offset_s) == (ClockSource.CLOUD, 90.0)
    assert reading.at == datetime(2026, 11, 25, 12, 1, 30, tzinfo=UTC)
    offset[0] = 1.0  # within what NTP is trusted for: our own clock again
    assert clock.read().at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_kernel_can_be_asked_whether_the_clock_is_synchronised() -> None:
    assert local_clock_synchronised() in (True, False)  # Linux answers adjtimex(2)
