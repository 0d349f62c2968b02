"""`device show`'s "next": the first boundary at which what the screen plays changes."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.playing import next_change
from player.schedule import evaluate
from tests.player.test_schedule import entry, interrupt, state, utc


def test_next_passes_over_boundaries_an_interrupt_covers() -> None:
    # An all-day entry has a boundary at each midnight; an interrupt from 23:00 to 00:30
    # covers the first, so what plays next is the entry again, at 00:30.
    schedule = state(
        entries=[entry("sch_1", "p1")],
        interrupts=[
            interrupt("int_1", "p2", starts_at="2026-12-04T23:00:00Z", until="2026-12-05T00:30:00Z")
        ],
    )
    now = utc("2026-12-04 23:17")
    decision = evaluate(schedule, now)
    assert (decision.source_id, decision.next_boundary) == ("int_1", utc("2026-12-05 00:00"))
    later = next_change(schedule, decision)
    assert later is not None
    assert (later.at, later.source_id, later.playlist_id) == (
        datetime(2026, 12, 5, 0, 30, tzinfo=UTC),
        "sch_1",
        "p1",
    )


def test_next_is_none_when_nothing_ever_changes() -> None:
    schedule = state(playlist_id="p1")
    assert next_change(schedule, evaluate(schedule, utc("2026-12-04 23:17"))) is None


def test_next_is_the_first_boundary_when_it_changes_there() -> None:
    schedule = state(entries=[entry("sch_1", "p1", from_time="09:00", to_time="17:00")])
    decision = evaluate(schedule, utc("2026-12-04 10:00"))
    later = next_change(schedule, decision)
    assert later is not None and later.at == utc("2026-12-04 17:00")
    assert later.playlist_id is None
