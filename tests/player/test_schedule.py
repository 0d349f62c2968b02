"""The schedule's pure evaluation: precedence, windows, DST, item windows, boundaries.

Examples pin each rule of docs/scheduling.md; property tests compare `evaluate()` minute by
minute with a slow reference written from the rules (`reference_key`), walk its
`next_boundary` chain, and check that nothing changes before a reported boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.schedule import Decision, Reason, ScheduleState, evaluate, local_instant
from sync.models import (
    WEEKDAYS,
    DeviceRecord,
    Group,
    Interrupt,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
)

CREATED = "2026-01-01T00:00:00Z"
MICROSECOND = timedelta(microseconds=1)


def utc(text: str) -> datetime:
    """An instant from an ISO text without offset, read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def device(**fields: Any) -> DeviceRecord:
    return DeviceRecord.model_validate(
        {"id": "dev_1", "name": "Screen", "tenant_id": "ten_1", "timezone": "UTC", **fields}
    )


def item(asset_id: str, position: int = 0, **window: Any) -> PlaylistItem:
    return PlaylistItem.model_validate({"asset_id": asset_id, "position": position, **window})


def playlist(playlist_id: str, *items: PlaylistItem) -> Playlist:
    return Playlist(id=playlist_id, name=playlist_id.upper(), items=list(items))


def entry(entry_id: str, playlist_id: str, **fields: Any) -> ScheduleEntry:
    return ScheduleEntry.model_validate(
        {"id": entry_id, "playlist_id": playlist_id, "created_at": CREATED, **fields}
    )


def interrupt(interrupt_id: str, playlist_id: str, **fields: Any) -> Interrupt:
    return Interrupt.model_validate({"id": interrupt_id, "playlist_id": playlist_id, **fields})


# Playlists with one unbounded item each, named after their playlist.
PLAYLISTS = {name: playlist(name, item(f"{name}_a")) for name in ("p1", "p2", "p3", "p4")}


def state(
    *,
    entries: Sequence[ScheduleEntry] = (),
    interrupts: Sequence[Interrupt] = (),
    groups: Sequence[Group] = (),
    playlists: dict[str, Playlist] | None = None,
    **device_fields: Any,
) -> ScheduleState:
    return ScheduleState(
        device=device(**device_fields),
        groups={group.id: group for group in groups},
        entries=list(entries),
        interrupts=list(interrupts),
        playlists=PLAYLISTS if playlists is None else playlists,
    )


def playing(schedule: ScheduleState, now: datetime) -> str | None:
    return evaluate(schedule, now).playlist_id


# --- Defaults and nothing -----------------------------------------------------------------


def test_nothing_assigned_shows_nothing_and_never_changes() -> None:
    decision = evaluate(state(on_switch="finish"), utc("2026-05-01 12:00"))
    assert decision == Decision(
        playlist_id=None,
        items=(),
        reason=Reason.NOTHING,
        source_id=None,
        why="nothing assigned",
        on_switch="finish",
        next_boundary=None,
    )


def test_device_default_plays_its_items_in_position_order() -> None:
    items = (item("b", 7), item("a", 2), item("c", 9))
    schedule = state(playlist_id="p1", playlists={"p1": playlist("p1", *items)})
    decision = evaluate(schedule, utc("2026-05-01 12:00"))
    assert decision.playlist_id == "p1"
    assert [it.asset_id for it in decision.items] == ["a", "b", "c"]
    assert decision.reason == Reason.DEVICE_DEFAULT
    assert decision.source_id == "dev_1"
    assert decision.why == "default playlist of this device"
    assert decision.next_boundary is None


def test_group_default_is_the_first_group_in_the_devices_order_that_has_one() -> None:
    groups = [
        Group(id="g_none", name="No default"),
        Group(id="g_b", name="Bar", playlist_id="p2"),
        Group(id="g_a", name="Atrium", playlist_id="p1"),
    ]
    # g_gone is not in state.groups; g_none has no playlist; g_b precedes g_a in group_ids.
    schedule = state(group_ids=["g_gone", "g_none", "g_b", "g_a"], groups=groups)
    decision = evaluate(schedule, utc("2026-05-01 12:00"))
    assert (decision.playlist_id, decision.reason, decision.source_id) == (
        "p2",
        Reason.GROUP_DEFAULT,
        "g_b",
    )
    assert decision.why == "default playlist of group Bar (g_b)"
    reordered = state(group_ids=["g_a", "g_b"], groups=groups)
    assert playing(reordered, utc("2026-05-01 12:00")) == "p1"


def test_device_default_beats_group_default() -> None:
    schedule = state(
        playlist_id="p1", group_ids=["g_1"], groups=[Group(id="g_1", name="G", playlist_id="p2")]
    )
    assert playing(schedule, utc("2026-05-01 12:00")) == "p1"


def test_empty_default_passes_to_the_group_then_to_nothing() -> None:
    playlists = {**PLAYLISTS, "empty": playlist("empty")}
    group = Group(id="g_1", name="Lobby", playlist_id="p2")
    with_group = state(playlist_id="empty", group_ids=["g_1"], groups=[group], playlists=playlists)
    decision = evaluate(with_group, utc("2026-05-01 12:00"))
    assert decision.playlist_id == "p2"
    assert decision.why == (
        "default playlist of group Lobby (g_1); passed over: "
        "default playlist of this device (playlist empty empty)"
    )
    alone = evaluate(state(playlist_id="empty", playlists=playlists), utc("2026-05-01 12:00"))
    assert (alone.playlist_id, alone.items, alone.reason) == (None, (), Reason.NOTHING)
    assert alone.why.startswith("nothing to play; passed over: default playlist of this device")


def test_unknown_playlist_is_passed_over() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[entry("sch_1", "p_gone", priority=3), entry("sch_2", "p2", priority=2)],
    )
    decision = evaluate(schedule, utc("2026-05-01 12:00"))
    assert (decision.playlist_id, decision.source_id) == ("p2", "sch_2")
    assert "passed over: schedule entry sch_1 (playlist p_gone unknown)" in decision.why


# --- Schedule entries ---------------------------------------------------------------------


def test_entry_plays_inside_its_window_only_and_reports_its_edges() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[entry("sch_1", "p2", days=["mon", "tue", "wed", "thu", "fri"],
                       from_time="09:00", to_time="17:00", priority=5,
                       timezone="Europe/Berlin")],
    )  # fmt: skip
    # 2026-05-04 is a Monday; Berlin is UTC+2 in May.
    before = evaluate(schedule, utc("2026-05-04 06:59:59"))
    assert before.playlist_id == "p1"
    assert before.next_boundary == utc("2026-05-04 07:00")
    inside = evaluate(schedule, utc("2026-05-04 07:00"))
    assert (inside.playlist_id, inside.reason, inside.source_id) == (
        "p2",
        Reason.SCHEDULE,
        "sch_1",
    )
    assert inside.why == "schedule entry sch_1 (priority 5, mon-fri 09:00-17:00 Europe/Berlin)"
    assert inside.next_boundary == utc("2026-05-04 15:00")
    assert inside.next_boundary.tzinfo is UTC
    assert playing(schedule, utc("2026-05-04 15:00")) == "p1"
    friday_evening = evaluate(schedule, utc("2026-05-08 15:00"))
    assert friday_evening.playlist_id == "p1"
    assert friday_evening.next_boundary == utc("2026-05-11 07:00")  # Monday, not Saturday
    assert playing(schedule, utc("2026-05-09 10:00")) == "p1"  # a Saturday


def test_entry_without_times_covers_whole_days() -> None:
    schedule = state(playlist_id="p1", entries=[entry("sch_1", "p2", days=["sat"])])
    assert playing(schedule, utc("2026-05-08 23:59:59.999999")) == "p1"
    saturday = evaluate(schedule, utc("2026-05-09 00:00"))
    assert saturday.playlist_id == "p2"
    assert saturday.next_boundary == utc("2026-05-10 00:00")
    assert saturday.why == "schedule entry sch_1 (priority 0, sat all day UTC)"


def test_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[entry("sch_1", "p2", days=["mon"], from_time="22:00", to_time="02:00")],
    )
    assert playing(schedule, utc("2026-05-04 21:59")) == "p1"  # Monday
    assert playing(schedule, utc("2026-05-04 22:00")) == "p2"
    tuesday_night = evaluate(schedule, utc("2026-05-05 01:30"))
    assert tuesday_night.playlist_id == "p2"  # Tuesday is not in days, Monday's window is
    assert tuesday_night.next_boundary == utc("2026-05-05 02:00")
    assert playing(schedule, utc("2026-05-05 02:00")) == "p1"
    assert playing(schedule, utc("2026-05-05 22:30")) == "p1"  # Tuesday's own night: no
    assert playing(schedule, utc("2026-05-04 01:00")) == "p1"  # Sunday's night: no


def test_window_ending_where_it_starts_lasts_a_whole_day() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[entry("sch_1", "p2", days=["mon"], from_time="09:00", to_time="09:00")],
    )
    assert playing(schedule, utc("2026-05-05 08:59")) == "p2"
    assert evaluate(schedule, utc("2026-05-04 09:00")).next_boundary == utc("2026-05-05 09:00")


def test_dates_bound_the_days_windows_start_on() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[
            entry("sch_1", "p2", from_time="23:00", to_time="01:00",
                  start_date="2026-06-10", end_date="2026-06-11"),
        ],
    )  # fmt: skip
    early = evaluate(schedule, utc("2026-05-01 12:00"))
    assert early.playlist_id == "p1"
    assert early.next_boundary == utc("2026-06-10 23:00")  # straight to start_date
    assert playing(schedule, utc("2026-06-10 00:30")) == "p1"  # June 9's window: before start
    assert playing(schedule, utc("2026-06-12 00:30")) == "p2"  # the end date's window runs on
    last = evaluate(schedule, utc("2026-06-12 01:00"))
    assert last.playlist_id == "p1"
    assert last.next_boundary is None


def test_entry_time_zone_else_the_devices() -> None:
    entries = [entry("sch_1", "p2", from_time="09:00", to_time="10:00")]
    in_tokyo = state(playlist_id="p1", timezone="Asia/Tokyo", entries=entries)
    assert playing(in_tokyo, utc("2026-05-04 00:30")) == "p2"  # 09:30 in Tokyo
    own_zone = [entry("sch_1", "p2", from_time="09:00", to_time="10:00", timezone="UTC")]
    overridden = state(playlist_id="p1", timezone="Asia/Tokyo", entries=own_zone)
    assert playing(overridden, utc("2026-05-04 00:30")) == "p1"
    assert playing(overridden, utc("2026-05-04 09:30")) == "p2"


def test_priority_then_own_then_created_last_then_lowest_id() -> None:
    group = Group(id="g_1", name="Lobby")
    now = utc("2026-05-04 12:00")

    def winner(*entries: ScheduleEntry) -> str | None:
        schedule = state(group_ids=["g_1"], groups=[group], entries=entries)
        return evaluate(schedule, now).source_id

    assert winner(entry("a", "p1", priority=1), entry("b", "p2", priority=2)) == "b"
    assert winner(entry("a", "p1", priority=-1, group_id="g_1"), entry("b", "p2")) == "b"
    assert winner(entry("a", "p1", group_id="g_1"), entry("b", "p2")) == "b"
    assert winner(entry("b", "p1", group_id="g_1"), entry("a", "p2", group_id="g_1")) == "a"
    older = entry("a", "p1", created_at="2026-01-01T00:00:00Z")
    newer = entry("b", "p2", created_at="2026-02-01T00:00:00Z")
    assert winner(older, newer) == "b"
    assert winner(entry("b", "p1"), entry("a", "p2")) == "a"


def test_entries_of_groups_the_device_is_not_in_are_ignored() -> None:
    schedule = state(
        playlist_id="p1",
        group_ids=["g_1"],
        entries=[entry("sch_1", "p2", group_id="g_other", priority=9)],
        interrupts=[interrupt("int_1", "p3", group_id="g_other", starts_at="2026-01-01T00:00Z")],
    )
    assert playing(schedule, utc("2026-05-04 12:00")) == "p1"


def test_group_entry_names_its_group() -> None:
    schedule = state(
        group_ids=["g_1"],
        groups=[Group(id="g_1", name="Lobby")],
        entries=[entry("sch_1", "p2", group_id="g_1", days=["sat", "sun"], priority=2)],
    )
    decision = evaluate(schedule, utc("2026-05-09 12:00"))
    assert decision.why == (
        "schedule entry sch_1 (group Lobby (g_1), priority 2, sat,sun all day UTC)"
    )


def test_empty_winner_passes_to_the_next_entry_until_its_item_window_opens() -> None:
    playlists = {
        **PLAYLISTS,
        "later": playlist("later", item("x", valid_from="2026-05-04T12:30:00Z")),
    }
    schedule = state(
        playlist_id="p1",
        playlists=playlists,
        entries=[entry("sch_hi", "later", priority=9), entry("sch_lo", "p2", priority=1)],
    )
    decision = evaluate(schedule, utc("2026-05-04 12:00"))
    assert decision.source_id == "sch_lo"
    assert "schedule entry sch_hi (playlist later no item in its window)" in decision.why
    assert decision.next_boundary == utc("2026-05-04 12:30")  # the higher one's item enters
    assert evaluate(schedule, utc("2026-05-04 12:30")).source_id == "sch_hi"


# --- Interrupts ---------------------------------------------------------------------------


def test_interrupt_beats_every_entry_and_ends_at_until() -> None:
    schedule = state(
        on_switch="finish",
        entries=[entry("sch_1", "p1", priority=1_000_000)],
        interrupts=[
            interrupt("int_1", "p2", starts_at="2026-11-25T12:00:00Z", until="2026-11-25T18:00:00Z")
        ],
    )
    before = evaluate(schedule, utc("2026-11-25 11:00"))
    assert before.source_id == "sch_1"
    assert before.next_boundary == utc("2026-11-25 12:00")
    during = evaluate(schedule, utc("2026-11-25 12:00"))
    assert (during.playlist_id, during.reason, during.source_id) == (
        "p2",
        Reason.INTERRUPT,
        "int_1",
    )
    assert during.why == "interrupt int_1 (device, until 2026-11-25 18:00 UTC)"
    assert during.on_switch == "cut"  # whatever the screen's setting
    assert during.next_boundary == utc("2026-11-25 18:00")
    assert evaluate(schedule, utc("2026-11-25 18:00")).source_id == "sch_1"


def test_interrupt_without_until_never_ends() -> None:
    schedule = state(
        groups=[Group(id="g_1", name="Lobby")],
        group_ids=["g_1"],
        interrupts=[interrupt("int_1", "p2", group_id="g_1", starts_at="2026-11-25T12:00Z")],
    )
    decision = evaluate(schedule, utc("2030-01-01 00:00"))
    assert decision.source_id == "int_1"
    assert decision.next_boundary is None
    assert decision.why == "interrupt int_1 (group Lobby (g_1), until cleared)"


def test_interrupt_order_own_then_started_last_then_lowest_id() -> None:
    now = utc("2026-11-25 13:00")

    def winner(*interrupts: Interrupt) -> str | None:
        return evaluate(state(group_ids=["g_1"], interrupts=interrupts), now).source_id

    early, late = "2026-11-25T11:00Z", "2026-11-25T12:00Z"
    own_early = interrupt("b", "p1", starts_at=early)
    group_late = interrupt("a", "p2", starts_at=late, group_id="g_1")
    assert winner(own_early, group_late) == "b"
    assert winner(interrupt("a", "p1", starts_at=early), interrupt("b", "p2", starts_at=late)) == (
        "b"
    )
    assert winner(interrupt("b", "p1", starts_at=late), interrupt("a", "p2", starts_at=late)) == (
        "a"
    )


# --- on_switch ----------------------------------------------------------------------------


def test_on_switch_of_entry_else_device() -> None:
    entries = [
        entry("sch_cut", "p2", on_switch="cut", days=["mon"]),
        entry("sch_any", "p3", days=["tue"]),
    ]
    schedule = state(on_switch="finish", playlist_id="p1", entries=entries)
    assert evaluate(schedule, utc("2026-05-04 12:00")).on_switch == "cut"  # Monday
    assert evaluate(schedule, utc("2026-05-05 12:00")).on_switch == "finish"  # Tuesday
    assert evaluate(schedule, utc("2026-05-06 12:00")).on_switch == "finish"  # the default
    finishing = [entry("sch_fin", "p2", on_switch="finish")]
    assert evaluate(state(entries=finishing), utc("2026-05-04 12:00")).on_switch == "finish"


# --- Item windows -------------------------------------------------------------------------


def test_item_windows_dates_local_times_and_instants() -> None:
    items = (
        item("always", 0),
        item("day", 1, valid_from="2026-05-04", valid_until="2026-05-04"),  # one local day
        item("local", 2, valid_from="2026-05-04T08:00:00", valid_until="2026-05-04T09:00:00"),
        item("instant", 3, valid_from="2026-05-04T08:30:00+00:00"),
    )
    schedule = state(
        playlist_id="p1", timezone="Europe/Berlin", playlists={"p1": playlist("p1", *items)}
    )

    def assets(now: datetime) -> list[str]:
        return [it.asset_id for it in evaluate(schedule, now).items]

    # Berlin is UTC+2: the day 2026-05-04 is [05-03 22:00, 05-04 22:00) UTC.
    assert assets(utc("2026-05-03 21:59")) == ["always"]
    start = evaluate(schedule, utc("2026-05-03 21:59"))
    assert start.next_boundary == utc("2026-05-03 22:00")
    assert assets(utc("2026-05-03 22:00")) == ["always", "day"]
    assert assets(utc("2026-05-04 06:00")) == ["always", "day", "local"]
    assert assets(utc("2026-05-04 06:59:59")) == ["always", "day", "local"]
    assert assets(utc("2026-05-04 07:00")) == ["always", "day"]
    assert assets(utc("2026-05-04 08:30")) == ["always", "day", "instant"]
    assert assets(utc("2026-05-04 22:00")) == ["always", "instant"]
    assert evaluate(schedule, utc("2026-05-04 22:00")).next_boundary is None


# --- Time zones and DST -------------------------------------------------------------------


def test_unknown_time_zone_counts_as_utc_with_a_warning() -> None:
    schedule = state(
        playlist_id="p1",
        timezone="Mars/Olympus",
        entries=[
            entry("sch_1", "p2", from_time="09:00", to_time="10:00", timezone="Moon/Base"),
            entry("sch_2", "p3", days=["sun"], timezone="Moon/Base"),
        ],
        playlists={**PLAYLISTS, "p1": playlist("p1", item("x", valid_from="2026-05-04T12:00"))},
    )
    decision = evaluate(schedule, utc("2026-05-04 09:30"))
    assert decision.source_id == "sch_1"
    assert decision.why == "schedule entry sch_1 (priority 0, every day 09:00-10:00 UTC)"
    assert decision.warnings == (
        "unknown time zone 'Mars/Olympus' (device dev_1): using UTC instead",
        "unknown time zone 'Moon/Base' (schedule entry sch_1 and 1 more): using UTC instead",
    )
    later = evaluate(schedule, utc("2026-05-04 11:00"))
    assert later.next_boundary == utc("2026-05-04 12:00")  # the item's local time, as UTC


def test_now_in_any_offset_means_the_same_instant() -> None:
    schedule = state(
        playlist_id="p1",
        entries=[entry("sch_1", "p2", from_time="09:00", to_time="10:00")],
    )
    in_tokyo = datetime(2026, 5, 4, 18, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 09:30 UTC
    decision = evaluate(schedule, in_tokyo)
    assert decision == evaluate(schedule, utc("2026-05-04 09:30"))
    assert decision.source_id == "sch_1"
    assert decision.next_boundary == utc("2026-05-04 10:00")
    assert decision.next_boundary is not None and decision.next_boundary.tzinfo is UTC


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(state(), datetime(2026, 5, 4, 12))


@pytest.mark.parametrize(
    ("zone", "wall", "instant"),
    [
        # Spring-forward gaps: the moment the clocks jump.
        ("Europe/London", "2026-03-29 01:30", "2026-03-29 01:00"),
        ("Europe/London", "2026-03-29 02:00", "2026-03-29 01:00"),
        ("America/New_York", "2026-03-08 02:30", "2026-03-08 07:00"),
        ("Australia/Lord_Howe", "2026-10-04 02:10", "2026-10-03 15:30"),
        # Fall-backs: the first occurrence.
        ("Europe/London", "2026-10-25 01:30", "2026-10-25 00:30"),
        ("America/New_York", "2026-11-01 01:30", "2026-11-01 05:30"),
        ("Australia/Lord_Howe", "2026-04-05 01:45", "2026-04-04 14:45"),
        # Ordinary times.
        ("Europe/London", "2026-10-25 02:00", "2026-10-25 02:00"),
        ("Australia/Lord_Howe", "2026-10-04 02:30", "2026-10-03 15:30"),
        ("Australia/Lord_Howe", "2026-04-05 02:00", "2026-04-04 15:30"),
    ],
)
def test_wall_times_map_to_instants(zone: str, wall: str, instant: str) -> None:
    assert local_instant(datetime.fromisoformat(wall), zone) == utc(instant)


@pytest.mark.parametrize(
    ("zone", "day", "window", "runs"),
    [
        # London springs forward at 01:00 UTC (01:00 GMT -> 02:00 BST): 30 minutes.
        ("Europe/London", "2026-03-29", ("01:30", "02:30"), ("2026-03-29 01:00", "01:30")),
        # London falls back at 01:00 UTC (02:00 BST -> 01:00 GMT): the first 01:00-01:59.
        ("Europe/London", "2026-10-25", ("01:00", "01:59"), ("2026-10-25 00:00", "00:59")),
        # New York springs forward at 07:00 UTC (02:00 EST -> 03:00 EDT).
        ("America/New_York", "2026-03-08", ("02:30", "03:30"), ("2026-03-08 07:00", "07:30")),
        # New York falls back at 06:00 UTC (02:00 EDT -> 01:00 EST): the EDT hour.
        ("America/New_York", "2026-11-01", ("01:00", "01:59"), ("2026-11-01 05:00", "05:59")),
        # Lord Howe moves by 30 minutes: 02:00 -> 02:30 (+10:30 -> +11) at 15:30 UTC.
        ("Australia/Lord_Howe", "2026-10-04", ("02:10", "03:00"), ("2026-10-03 15:30", "16:00")),
        # ... and back, 02:00 -> 01:30 (+11 -> +10:30) at 15:00 UTC: the first 01:30-01:45.
        ("Australia/Lord_Howe", "2026-04-05", ("01:30", "01:45"), ("2026-04-04 14:30", "14:45")),
    ],
)
def test_dst_windows(zone: str, day: str, window: tuple[str, str], runs: tuple[str, str]) -> None:
    schedule = state(
        playlist_id="p1",
        entries=[
            entry("sch_1", "p2", from_time=window[0], to_time=window[1],
                  start_date=day, end_date=day, timezone=zone),
        ],
    )  # fmt: skip
    start = utc(runs[0])
    end = utc(f"{runs[0][:10]} {runs[1]}")
    before = evaluate(schedule, start - timedelta(hours=3))
    assert before.next_boundary == start
    assert playing(schedule, start - MICROSECOND) == "p1"
    inside = evaluate(schedule, start)
    assert (inside.playlist_id, inside.next_boundary) == ("p2", end)
    assert playing(schedule, end - MICROSECOND) == "p2"
    after = evaluate(schedule, end)
    assert after.playlist_id == "p1"
    assert after.next_boundary is None  # it runs once, even where the wall times repeat


def test_fall_back_window_does_not_run_again_in_the_repeated_hour() -> None:
    schedule = state(
        playlist_id="p1",
        timezone="Europe/London",
        entries=[entry("sch_1", "p2", from_time="01:00", to_time="01:59")],
    )
    assert playing(schedule, utc("2026-10-25 00:30")) == "p2"  # 01:30 BST
    assert playing(schedule, utc("2026-10-25 01:30")) == "p1"  # 01:30 GMT, the second time


def test_midnight_crossing_window_over_a_spring_forward() -> None:
    # Saturday 22:00 to Sunday 02:00 in London, over the gap at Sunday 01:00 GMT.
    schedule = state(
        playlist_id="p1",
        timezone="Europe/London",
        entries=[entry("sch_1", "p2", days=["sat"], from_time="22:00", to_time="02:00")],
    )
    decision = evaluate(schedule, utc("2026-03-28 23:00"))
    assert decision.playlist_id == "p2"
    assert decision.next_boundary == utc("2026-03-29 01:00")  # 02:00 does not exist: the jump


def test_fall_back_across_midnight_starts_the_new_day_at_its_first_occurrence() -> None:
    # St. John's, 2010-11-07 (a Sunday): at 00:01 NDT (02:31 UTC) clocks went back to 23:01
    # NST on Saturday. Sunday 00:00 first occurs at 02:30 UTC; the clock then reads Saturday
    # again for an hour, but Sunday's window has begun.
    schedule = state(
        playlist_id="p1",
        timezone="America/St_Johns",
        entries=[entry("sch_1", "p2", days=["sun"])],
    )
    assert playing(schedule, utc("2010-11-07 02:29")) == "p1"
    assert evaluate(schedule, utc("2010-11-07 02:29")).next_boundary == utc("2010-11-07 02:30")
    assert playing(schedule, utc("2010-11-07 03:00")) == "p2"  # reads Saturday 23:29


# --- Property tests -----------------------------------------------------------------------
# A reference written straight from the rules, slow and simple: it resolves a wall time by
# stepping minute by minute to the earliest instant whose wall clock reads it or later, and
# looks at every day from two before to one after the local date.

BAD_ZONE = "Nowhere/Atlantis"


@cache
def reference_zone(name: str) -> ZoneInfo:
    return ZoneInfo("UTC" if name == BAD_ZONE else name)


@cache
def reference_wall(wall: datetime, zone_name: str) -> datetime:
    zone = reference_zone(zone_name)
    readings = [wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    instant = min(readings)
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def reference_bound(moment: date, zone_name: str, *, is_end: bool) -> datetime:
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            return moment
        return reference_wall(moment, zone_name)
    day = moment + timedelta(days=1) if is_end else moment
    return reference_wall(datetime.combine(day, time()), zone_name)


def reference_entry_active(entry: ScheduleEntry, zone_name: str, now: datetime) -> bool:
    local = now.astimezone(reference_zone(zone_name)).date()
    for offset in (-2, -1, 0, 1):
        day = local + timedelta(days=offset)
        if entry.days and WEEKDAYS[day.weekday()] not in entry.days:
            continue
        if entry.start_date is not None and day < entry.start_date:
            continue
        if entry.end_date is not None and day > entry.end_date:
            continue
        if entry.from_time is None or entry.to_time is None:
            start_wall = datetime.combine(day, time())
            end_wall = start_wall + timedelta(days=1)
        else:
            start_wall = datetime.combine(day, entry.from_time)
            end_day = day + timedelta(days=1) if entry.to_time <= entry.from_time else day
            end_wall = datetime.combine(end_day, entry.to_time)
        if reference_wall(start_wall, zone_name) <= now < reference_wall(end_wall, zone_name):
            return True
    return False


Key = tuple[str | None, tuple[str, ...], Reason, str | None]


def key_of(decision: Decision) -> Key:
    assets = tuple(it.asset_id for it in decision.items)
    return (decision.playlist_id, assets, decision.reason, decision.source_id)


def reference_key(schedule: ScheduleState, now: datetime) -> Key:
    """What should play at `now`, straight from docs/scheduling.md."""
    device = schedule.device
    member = set(device.group_ids)
    candidates: list[tuple[str, Reason, str]] = []  # (playlist, reason, source)
    interrupts = [
        i
        for i in schedule.interrupts
        if (i.group_id is None or i.group_id in member)
        and i.starts_at <= now
        and (i.until is None or now < i.until)
    ]
    interrupts.sort(key=lambda i: (i.group_id is not None, -i.starts_at.timestamp(), i.id))
    candidates += [(i.playlist_id, Reason.INTERRUPT, i.id) for i in interrupts]
    entries = [
        e
        for e in schedule.entries
        if (e.group_id is None or e.group_id in member)
        and reference_entry_active(e, e.timezone or device.timezone, now)
    ]
    entries.sort(
        key=lambda e: (-e.priority, e.group_id is not None, -e.created_at.timestamp(), e.id)
    )
    candidates += [(e.playlist_id, Reason.SCHEDULE, e.id) for e in entries]
    if device.playlist_id:
        candidates.append((device.playlist_id, Reason.DEVICE_DEFAULT, device.id))
    for group_id in device.group_ids:
        group = schedule.groups.get(group_id)
        if group is not None and group.playlist_id:
            candidates.append((group.playlist_id, Reason.GROUP_DEFAULT, group_id))
    for playlist_id, reason, source in candidates:
        found = schedule.playlists.get(playlist_id)
        if found is None:
            continue
        inside = tuple(
            it.asset_id
            for it in sorted(found.items, key=lambda it: it.position)
            if (
                it.valid_from is None
                or reference_bound(it.valid_from, device.timezone, is_end=False) <= now
            )
            and (
                it.valid_until is None
                or now < reference_bound(it.valid_until, device.timezone, is_end=True)
            )
        )
        if inside:
            return (playlist_id, inside, reason, source)
    return (None, (), Reason.NOTHING, None)


# Days with a DST change (and one without) and their zones.
DST_DAYS = [
    ("Europe/London", date(2026, 3, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Australia/Lord_Howe", date(2026, 4, 5)),
    ("Australia/Lord_Howe", date(2026, 10, 4)),
    # Until 2011 St. John's fell back from 00:01 to 23:01 the day before: the repeated hour
    # crosses midnight.
    ("America/St_Johns", date(2010, 11, 7)),
    ("UTC", date(2026, 6, 7)),
]
INTERESTING_MINUTES = [0, 30, 60, 70, 90, 105, 120, 130, 150, 180, 720, 1320, 1410, 1439]
PLAYLIST_IDS = ["p1", "p2", "p3", "p4", "p_gone"]


@st.composite
def schedules(draw: st.DrawFn, zone: str, day: date) -> ScheduleState:
    """A small state around `day` in `zone`: the edges fall on whole minutes."""
    zones = st.sampled_from([zone, zone, "UTC", "America/New_York", BAD_ZONE])
    minutes = st.one_of(st.sampled_from(INTERESTING_MINUTES), st.integers(0, 1439))
    clock = minutes.map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
    near_days = st.integers(-2, 2).map(lambda n: day + timedelta(days=n))
    near_walls = st.builds(
        lambda d, m: datetime.combine(d, time()) + timedelta(minutes=m), near_days, minutes
    )
    base = datetime.combine(day, time(), tzinfo=UTC)
    near_instants = st.integers(-2 * 1440, 2 * 1440).map(lambda m: base + timedelta(minutes=m))
    groups = ["g1", "g2", "g3"]  # g3: the device is not in it
    # Mostly known playlists with items inside their windows, so that the rules get to work.
    playlist_ids = st.sampled_from([*PLAYLIST_IDS[:4]] * 3 + ["p_gone"])

    member_of = draw(st.permutations(["g1", "g2"]))[: draw(st.sampled_from([2, 1, 0]))]
    device_record = device(
        timezone=draw(st.sampled_from([zone, zone, zone, "UTC", BAD_ZONE])),
        playlist_id=draw(st.one_of(st.none(), playlist_ids, playlist_ids)),
        group_ids=member_of,
        on_switch=draw(st.sampled_from(["cut", "finish"])),
    )
    group_records = {
        group_id: Group(
            id=group_id,
            name=group_id.upper(),
            playlist_id=draw(st.one_of(st.none(), playlist_ids, playlist_ids)),
        )
        for group_id in groups
        if draw(st.booleans())
    }
    entry_records = []
    for index in range(draw(st.integers(0, 5))):
        fields: dict[str, Any] = {
            "days": draw(st.lists(st.sampled_from(WEEKDAYS), unique=True, max_size=3)),
            "priority": draw(st.integers(0, 1)),
            "timezone": draw(st.one_of(st.none(), zones)),
            "group_id": draw(st.sampled_from([None, None, None, *groups])),
            "created_at": draw(st.sampled_from(["2026-01-01T00:00Z", "2026-01-02T00:00Z"])),
            "on_switch": draw(st.sampled_from([None, "cut", "finish"])),
        }
        if draw(st.booleans()):
            fields["from_time"], fields["to_time"] = draw(clock), draw(clock)
        if draw(st.booleans()):
            first, last = sorted([draw(near_days), draw(near_days)])
            fields["start_date"] = first
            if draw(st.booleans()):
                fields["end_date"] = last
        entry_records.append(entry(f"e{index}", draw(playlist_ids), **fields))
    interrupt_records = []
    for index in range(draw(st.integers(0, 3))):
        starts = base + timedelta(minutes=draw(st.integers(-1440, 1440)))
        length = draw(st.one_of(st.none(), st.integers(1, 1440)))
        interrupt_records.append(
            interrupt(
                f"i{index}",
                draw(playlist_ids),
                group_id=draw(st.sampled_from([None, None, None, *groups])),
                starts_at=starts,
                until=None if length is None else starts + timedelta(minutes=length),
            )
        )
    bounds = st.one_of(st.none(), st.none(), st.none(), near_days, near_walls, near_instants)
    playlists = {}
    for playlist_id in PLAYLIST_IDS[:4]:
        if draw(st.integers(0, 7)) == 0:
            continue  # unknown to the device
        smallest = 0 if draw(st.integers(0, 4)) == 0 else 1
        positions = draw(st.lists(st.integers(0, 9), unique=True, min_size=smallest, max_size=3))
        playlists[playlist_id] = playlist(
            playlist_id,
            *(
                item(f"{playlist_id}_{position}", position,
                     valid_from=draw(bounds), valid_until=draw(bounds))
                for position in positions
            ),
        )  # fmt: skip
    return ScheduleState(device_record, group_records, entry_records, interrupt_records, playlists)


def scan(
    schedule: ScheduleState, start: datetime, end: datetime
) -> list[tuple[datetime, datetime | None, Key]]:
    """Follow next_boundary from `start` past `end`: (from, until, answer) per stretch."""
    stretches: list[tuple[datetime, datetime | None, Key]] = []
    now: datetime | None = start
    while now is not None and now < end:
        decision = evaluate(schedule, now)
        assert decision.next_boundary is None or decision.next_boundary > now
        stretches.append((now, decision.next_boundary, key_of(decision)))
        now = decision.next_boundary
        assert len(stretches) < 2000, "boundaries do not move forward"
    return stretches


@pytest.mark.parametrize(("zone", "day"), DST_DAYS, ids=[f"{z}-{d}" for z, d in DST_DAYS])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_minute_by_minute_against_the_reference(zone: str, day: date, data: st.DataObject) -> None:
    """Over two days around a DST change, at every minute: evaluate() agrees with the
    reference, and with the answer at the start of its stretch of the boundary chain (so no
    change of answer falls between two reported boundaries)."""
    schedule = data.draw(schedules(zone, day))
    start = datetime.combine(day - timedelta(days=1), time(), tzinfo=UTC)
    end = start + timedelta(days=2)
    stretches = scan(schedule, start, end)
    index = 0
    minute = start
    while minute < end:
        while (until := stretches[index][1]) is not None and until <= minute:
            index += 1
        expected = reference_key(schedule, minute)
        assert key_of(evaluate(schedule, minute)) == expected, minute
        assert stretches[index][2] == expected, (minute, stretches[index])
        minute += timedelta(minutes=1)


def stable_over(schedule: ScheduleState, now: datetime, fractions: Sequence[float]) -> None:
    decision = evaluate(schedule, now)
    boundary = decision.next_boundary
    if boundary is None:
        later = [now + timedelta(days=days) for days in (1, 30, 400, 3000)]
    else:
        assert boundary > now
        assert boundary.utcoffset() == timedelta(0)
        span = boundary - now
        inside = [min(now + span * fraction, boundary - MICROSECOND) for fraction in fractions]
        later = [boundary - MICROSECOND, *inside]
    for instant in later:
        assert key_of(evaluate(schedule, instant)) == key_of(decision), instant
    for it in decision.items:  # every item on show is inside its window
        zone_name = schedule.device.timezone
        if it.valid_from is not None:
            assert reference_bound(it.valid_from, zone_name, is_end=False) <= now
        if it.valid_until is not None:
            assert now < reference_bound(it.valid_until, zone_name, is_end=True)


@settings(max_examples=300, deadline=None)
@given(
    place=st.sampled_from(DST_DAYS),
    data=st.data(),
    offset=st.integers(-2 * 86_400_000_000, 2 * 86_400_000_000),
    fractions=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=4),
)
def test_answer_holds_until_the_next_boundary(
    place: tuple[str, date], data: st.DataObject, offset: int, fractions: list[float]
) -> None:
    zone, day = place
    schedule = data.draw(schedules(zone, day))
    now = datetime.combine(day, time(), tzinfo=UTC) + timedelta(microseconds=offset)
    stable_over(schedule, now, fractions)
    assert key_of(evaluate(schedule, now)) == reference_key(schedule, now)


@settings(max_examples=60, deadline=None)
@given(
    now=st.datetimes(datetime(2001, 1, 1), datetime(2199, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(["UTC", "Europe/London", "Australia/Lord_Howe", BAD_ZONE]),
    assets=st.lists(st.sampled_from("abcdef"), unique=True, max_size=4),
)
def test_without_a_schedule_the_default_plays_and_nothing_changes(
    now: datetime, zone: str, assets: list[str]
) -> None:
    default = playlist("p1", *(item(asset, position) for position, asset in enumerate(assets)))
    decision = evaluate(state(playlist_id="p1", timezone=zone, playlists={"p1": default}), now)
    if assets:
        assert key_of(decision) == ("p1", tuple(assets), Reason.DEVICE_DEFAULT, "dev_1")
    else:
        assert key_of(decision) == (None, (), Reason.NOTHING, None)
    assert decision.next_boundary is None
