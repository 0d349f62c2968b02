"""What one `player.schedule.evaluate()` call costs with a large schedule.

A device in Europe/Berlin, in 3 groups (a 4th group's entries are in the state but do not
concern it), with `--entries` schedule entries (mixed weekdays, whole days, day windows and
windows across midnight, 7 time zones or none, priorities -5..5, start and end dates on some,
a quarter of them a group's), 10 interrupts spread over the year, and `--playlists`
playlists of `--items` items each, a third of them with item windows (dates, local
date-times and instants). Every playlist id is used, a few entries name unknown ones.

Figures, in microseconds per call:
- cold: the first call after the caches are cleared (zones loaded, conversions computed);
- warm, one week: `--calls` calls at random instants within one week, after one pass;
- spread over a year: `--calls` calls at random instants of 2026 (more conversions miss
  the cache; the agent's calls move forward in time, so this is the pessimistic case);
- walking: following `next_boundary` from 2026-03-25 for two weeks (what the agent does).

Prints figures; asserts nothing.

    .venv/bin/python bench/schedule_evaluate.py [--entries 1000] [--playlists 100] [--items 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from player.schedule import ScheduleState, clear_caches, evaluate
from sync.models import (
    WEEKDAYS,
    DeviceRecord,
    Group,
    Interrupt,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
)

ZONES = [
    None,
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "UTC",
    "Pacific/Chatham",
]
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def build_state(entries: int, playlists: int, items: int, rng: random.Random) -> ScheduleState:
    device = DeviceRecord(
        id="dev_1",
        name="Lobby screen",
        tenant_id="ten_1",
        playlist_id="pl_0",
        group_ids=["grp_1", "grp_2", "grp_3"],
        timezone="Europe/Berlin",
    )
    groups = {
        f"grp_{n}": Group(id=f"grp_{n}", name=f"Group {n}", playlist_id=f"pl_{n}")
        for n in range(1, 5)
    }
    all_playlists: dict[str, Playlist] = {}
    for n in range(playlists):
        windowed = n % 3 == 0
        playlist_items = []
        for position in range(items):
            valid_from: object = None
            valid_until: object = None
            if windowed and position % 2 == 0:
                day = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
                kind = rng.randrange(3)
                if kind == 0:
                    valid_from, valid_until = day, day + timedelta(days=rng.randrange(1, 60))
                elif kind == 1:
                    start = datetime.combine(day, datetime.min.time()) + timedelta(hours=8)
                    valid_from, valid_until = start, start + timedelta(days=rng.randrange(1, 30))
                else:
                    start = YEAR_START + timedelta(minutes=rng.randrange(365 * 1440))
                    valid_from, valid_until = start, start + timedelta(hours=rng.randrange(1, 500))
            playlist_items.append(
                PlaylistItem(
                    asset_id=f"as_{n}_{position}",
                    position=position,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
            )
        rng.shuffle(playlist_items)  # positions, not list order, set the order
        all_playlists[f"pl_{n}"] = Playlist(id=f"pl_{n}", name=f"P{n}", items=playlist_items)
    schedule = []
    for n in range(entries):
        shape = rng.randrange(3)
        if shape == 0:
            window: dict[str, object] = {}
        else:
            start_minute = rng.randrange(0, 24 * 60, 15)
            length = rng.randrange(30, 10 * 60, 15)
            if shape == 1:
                length = min(length, 24 * 60 - 15 - start_minute) or 15
            end_minute = (start_minute + length) % (24 * 60)
            window = {
                "from_time": f"{start_minute // 60:02d}:{start_minute % 60:02d}",
                "to_time": f"{end_minute // 60:02d}:{end_minute % 60:02d}",
            }
        dates: dict[str, object] = {}
        if rng.random() < 0.3:
            start_date = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
            dates = {
                "start_date": start_date,
                "end_date": start_date + timedelta(rng.randrange(60)),
            }
        group = rng.choice([None, None, None, "grp_1", "grp_2", "grp_3", "grp_4"])
        playlist = f"pl_{rng.randrange(playlists)}" if rng.random() > 0.02 else "pl_missing"
        schedule.append(
            ScheduleEntry(
                id=f"sch_{n}",
                playlist_id=playlist,
                group_id=group,
                days=rng.sample(WEEKDAYS, rng.randrange(8)),
                priority=rng.randrange(-5, 6),
                timezone=rng.choice(ZONES),
                created_at=YEAR_START - timedelta(minutes=rng.randrange(100_000)),
                **window,
                **dates,
            )
        )
    interrupts = []
    for n in range(10):
        starts = YEAR_START + timedelta(minutes=rng.randrange(365 * 1440))
        interrupts.append(
            Interrupt(
                id=f"int_{n}",
                playlist_id=f"pl_{rng.randrange(playlists)}",
                group_id=rng.choice([None, "grp_1", "grp_4"]),
                starts_at=starts,
                until=starts + timedelta(hours=rng.randrange(1, 48)),
            )
        )
    return ScheduleState(device, groups, schedule, interrupts, all_playlists)


def timed(calls: list[datetime], state: ScheduleState) -> list[float]:
    """Microseconds per call of evaluate(state, now), for each `now`."""
    figures = []
    for now in calls:
        started = time.perf_counter_ns()
        evaluate(state, now)
        figures.append((time.perf_counter_ns() - started) / 1000)
    return figures


def row(name: str, figures: list[float]) -> str:
    ordered = sorted(figures)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]
    return (
        f"{name:<24} {len(figures):>6} {statistics.median(figures):>10.0f} "
        f"{p95:>10.0f} {ordered[-1]:>10.0f}"
    )


def instants(rng: random.Random, start: datetime, span: timedelta, count: int) -> list[datetime]:
    micros = span // timedelta(microseconds=1)
    return [start + timedelta(microseconds=rng.randrange(micros)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--playlists", type=int, default=100)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    state = build_state(args.entries, args.playlists, args.items, rng)

    clear_caches()
    first = instants(rng, datetime(2026, 3, 25, tzinfo=UTC), timedelta(days=7), 1)
    cold = timed(first, state)
    week = instants(rng, datetime(2026, 3, 25, tzinfo=UTC), timedelta(days=7), args.calls)
    timed(week, state)  # one pass to fill the caches
    warm = timed(week, state)
    year = timed(instants(rng, YEAR_START, timedelta(days=365), args.calls), state)

    walking: list[float] = []
    now: datetime | None = datetime(2026, 3, 25, tzinfo=UTC)
    reasons: dict[str, int] = {}
    while now is not None and now < datetime(2026, 4, 8, tzinfo=UTC):
        started = time.perf_counter_ns()
        decision = evaluate(state, now)
        walking.append((time.perf_counter_ns() - started) / 1000)
        reasons[decision.reason] = reasons.get(decision.reason, 0) + 1
        now = decision.next_boundary

    print(
        f"{args.entries} entries, {args.playlists} playlists x {args.items} items, "
        f"10 interrupts; microseconds per evaluate() call"
    )
    print(f"{'what':<24} {'calls':>6} {'median':>10} {'p95':>10} {'max':>10}")
    print(row("cold (first call)", cold))
    print(row("warm, within one week", warm))
    print(row("spread over a year", year))
    print(row("walking next_boundary", walking))
    print(
        "walking: "
        + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        + " decisions in 14 days"
    )


if __name__ == "__main__":
    main()
