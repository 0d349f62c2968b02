"""What plays now, and until when: the schedule's pure evaluation.

`evaluate(state, now)` reads only its arguments (no clock, no files, no network). The agent
calls it with the cloud-corrected clock and wakes at `Decision.next_boundary`; the cloud's
`signage-cloud device show` calls the very same function. The rules (docs/scheduling.md):

1. An active interrupt beats everything. The device's own interrupt beats its groups';
   among several, the one that started last wins (then the lowest id).
2. Else the active schedule entry of highest priority wins. Ties: the device's own entry
   before a group's, then the entry created last, then the lowest id.
3. Else the device's default playlist; else the default of its first group (in the order of
   `DeviceRecord.group_ids`) that has one.
4. Else nothing: the screen shows "No content yet".

A candidate whose playlist is unknown, or whose items are all outside their windows (or
which has no items), is passed over, so that the next rule applies: a screen never goes
dark because the winning entry points at an empty playlist.

Times of day and dates are wall-clock times in the entry's time zone (else the screen's).
A window `from_time..to_time` that ends at or before its start crosses midnight and belongs
to the day it starts (22:00-02:00 on Monday runs Monday 22:00 to Tuesday 02:00). Daylight
saving time: a wall time that does not exist (skipped by a spring-forward) means the moment
the clocks jump (the first instant after the gap); a wall time that occurs twice (a
fall-back) means its first occurrence.

Both DST cases are one rule: a wall time means the earliest instant at which the clock reads
it or later. Entries and interrupts of a group the device is not in (not in `group_ids`) are
ignored; an unknown time zone counts as UTC and adds a line to `Decision.warnings`.

`next_boundary` is the earliest instant after `now` at which the answer may change: an edge
of an interrupt or of an entry's window, or an item entering or leaving its window in the
playlist of the winner or of a candidate passed over above it. It may be spurious (the
answer turns out the same there), never late. All instants are handled as integer
microseconds since the epoch; wall-time conversions are cached across calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# What evaluation reads, as shapes: `sync.models`' wire models (DeviceRecord, Group,
# ScheduleEntry, Interrupt, Playlist, PlaylistItem) have them, and so may anything else;
# `player` imports nothing from `sync` or `agent`.
OnSwitch = Literal["cut", "finish"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Screen(Protocol):
    """The screen's own record (`sync.models.DeviceRecord`)."""

    @property
    def id(self) -> str: ...
    @property
    def playlist_id(self) -> str | None: ...
    @property
    def group_ids(self) -> Sequence[str]: ...
    @property
    def timezone(self) -> str: ...
    @property
    def on_switch(self) -> OnSwitch: ...


class Group(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def playlist_id(self) -> str | None: ...


class ScheduleEntry(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def playlist_id(self) -> str: ...
    @property
    def group_id(self) -> str | None: ...
    @property
    def days(self) -> Sequence[str]: ...
    @property
    def from_time(self) -> time | None: ...
    @property
    def to_time(self) -> time | None: ...
    @property
    def start_date(self) -> date | None: ...
    @property
    def end_date(self) -> date | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def on_switch(self) -> OnSwitch | None: ...
    @property
    def created_at(self) -> datetime: ...


class Interrupt(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def playlist_id(self) -> str: ...
    @property
    def group_id(self) -> str | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def until(self) -> datetime | None: ...


class PlaylistItem(Protocol):
    @property
    def asset_id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def valid_from(self) -> date | datetime | None: ...
    @property
    def valid_until(self) -> date | datetime | None: ...


class Playlist(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def items(self) -> Sequence[PlaylistItem]: ...


class Reason(StrEnum):
    """Why the decision's playlist plays."""

    INTERRUPT = "interrupt"
    SCHEDULE = "schedule"
    DEVICE_DEFAULT = "device default"
    GROUP_DEFAULT = "group default"
    NOTHING = "nothing"


@dataclass(frozen=True)
class ScheduleState:
    """Everything evaluation reads: what the device holds of its schedule."""

    device: Screen
    groups: Mapping[str, Group] = field(default_factory=dict)
    entries: Sequence[ScheduleEntry] = ()
    interrupts: Sequence[Interrupt] = ()
    playlists: Mapping[str, Playlist] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What plays at `now`, why, and the next instant at which that may change."""

    playlist_id: str | None  # None: nothing to play (the "No content yet" message)
    items: tuple[PlaylistItem, ...]  # the playlist's items inside their windows, in order
    reason: Reason
    source_id: str | None  # the interrupt, entry, group or device the playlist comes from
    # One line for people, e.g. "schedule entry sch_1 (priority 5, mon-fri 09:00-17:00 UTC)".
    why: str
    on_switch: OnSwitch  # how a switch to this decision treats the item on screen
    next_boundary: datetime | None  # aware, UTC, > now; None: nothing will ever change
    warnings: tuple[str, ...] = ()  # e.g. an unknown time zone replaced by UTC


# --- Instants and wall times --------------------------------------------------------------
# Instants are integer microseconds since the Unix epoch ("micros"): exact, and compared far
# faster than aware datetimes, which matters with a thousand entries per call.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# How many days past an entry's first possible day its next window is looked for: any 7
# days hold an allowed weekday, and one more covers a window that a DST gap made empty.
_SCAN_DAYS = 8
_ALL_DAYS = (1 << 7) - 1
_FALLBACK_ZONE = "UTC"
_MAX_PASSED_OVER = 3  # named in `why`; the rest are counted


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    """The zone named `name`, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _wall_clock(micros: int, zone: ZoneInfo) -> datetime:
    return _from_micros(micros).astimezone(zone).replace(tzinfo=None)


def _resolve(naive: datetime, zone: ZoneInfo) -> int:
    """The earliest instant at which the wall clock in `zone` reads `naive` or later.

    That is `naive` itself when it occurs once, its first occurrence when it occurs twice
    (fold=0), and the instant the clocks jump when a spring-forward skips it.
    """
    first = _micros(naive.replace(tzinfo=zone, fold=0))
    if _wall_clock(first, zone) == naive:
        return first
    # In a gap, fold=0 reads `naive` with the offset before the jump and fold=1 with the one
    # after, so the jump lies between the two readings: bisect for it.
    low, high = sorted((first, _micros(naive.replace(tzinfo=zone, fold=1))))
    while high - low > 1:  # the clock reads before `naive` at low, `naive` or later at high
        middle = (low + high) // 2
        if _wall_clock(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return high


@lru_cache(maxsize=1 << 16)
def _wall_micros(day: int, minute: int, zone_key: str) -> int:
    """Instant of `minute` past midnight of the proleptic ordinal `day` (valid zone key)."""
    naive = datetime.fromordinal(day) + timedelta(minutes=minute)
    zone = _zone(zone_key)
    assert zone is not None  # callers pass keys that `_Zones` checked
    return _resolve(naive, zone)


@lru_cache(maxsize=1 << 14)
def _naive_micros(naive: datetime, zone_key: str) -> int:
    zone = _zone(zone_key)
    assert zone is not None
    return _resolve(naive, zone)


def local_instant(wall_time: datetime, timezone: str) -> datetime:
    """The instant (aware, UTC) that the naive `wall_time` in `timezone` means under the DST
    rule; an unknown zone counts as UTC."""
    key = timezone if _zone(timezone) is not None else _FALLBACK_ZONE
    return _from_micros(_naive_micros(wall_time.replace(tzinfo=None), key))


def clear_caches() -> None:
    """Forget every cached zone and wall-time conversion (for benchmarks and tests)."""
    for cached in (_zone, _wall_micros, _naive_micros, _days_mask):
        cached.cache_clear()


def _moment_micros(moment: date, zone_key: str, *, is_end: bool) -> int:
    """An item window's bound: an instant, a wall time, or a whole local day."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None and moment.utcoffset() is not None:
            return _micros(moment)
        return _naive_micros(moment, zone_key)
    return _wall_micros(moment.toordinal() + (1 if is_end else 0), 0, zone_key)


class _Zones:
    """Per call: each named zone's usable key and today's local date, and the unknown ones."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._known: dict[str, tuple[str, int]] = {}
        self.unknown: dict[str, dict[str, None]] = {}  # unknown name -> who named it

    def get(self, name: str, user: str) -> tuple[str, int]:
        """(usable zone key, ordinal of the local date of `now` there) for `name`."""
        found = self._known.get(name)
        if found is None:
            zone = _zone(name)
            key = name if zone is not None else _FALLBACK_ZONE
            local = self._now.astimezone(zone or _zone(_FALLBACK_ZONE))
            found = self._known[name] = (key, local.toordinal())
        if found[0] != name:
            self.unknown.setdefault(name, {})[user] = None
        return found

    def warnings(self) -> tuple[str, ...]:
        lines = []
        for name, named_by in self.unknown.items():
            users = list(named_by)
            more = f" and {len(users) - 1} more" if len(users) > 1 else ""
            lines.append(f"unknown time zone {name!r} ({users[0]}{more}): using UTC instead")
        return tuple(lines)


# --- Schedule entries ---------------------------------------------------------------------


@lru_cache(maxsize=1 << 14)  # above the 13,699 orderings of distinct weekdays
def _days_mask(days: tuple[str, ...]) -> int:
    """Bit n set: weekday n (Monday 0) allowed. No days: every day."""
    mask = 0
    for name in days:
        mask |= 1 << WEEKDAYS.index(name)
    return mask or _ALL_DAYS


def _entry_now(
    entry: ScheduleEntry, zone_key: str, today: int, now: int
) -> tuple[bool, int | None]:
    """Whether `entry` is active at `now`, and its next edge after `now` (None: none ever).

    The window of day D is [D start_minute, D+span end_minute): span 1 for a whole day
    (00:00 to 00:00) and for a window crossing midnight, else 0. Windows never overlap and
    their edges grow with D (the wall-time mapping never goes backwards), so the days are
    walked from the first that may still be open until a window lies ahead of `now`.
    """
    from_time, to_time = entry.from_time, entry.to_time
    if from_time is None or to_time is None:
        start_minute = end_minute = 0
        span = 1
    else:
        start_minute = from_time.hour * 60 + from_time.minute
        end_minute = to_time.hour * 60 + to_time.minute
        span = 1 if end_minute <= start_minute else 0
    # Yesterday's window can still be open only if it crosses midnight and ends after 00:00.
    day = today - 1 if span and end_minute else today
    if entry.start_date is not None:
        day = max(day, entry.start_date.toordinal())
    last = entry.end_date.toordinal() if entry.end_date is not None else None
    limit = day + _SCAN_DAYS
    days = _days_mask(tuple(entry.days)) if entry.days else _ALL_DAYS
    while last is None or day <= last:
        if day > limit:  # not reached (7 days hold an allowed one); if so, look again then
            return False, _wall_micros(day, 0, zone_key)
        if days >> ((day - 1) % 7) & 1:  # ordinal 1 is a Monday
            start = _wall_micros(day, start_minute, zone_key)
            if start > now:
                return False, start
            end = _wall_micros(day + span, end_minute, zone_key)
            if end > now:
                return True, end
        day += 1
    return False, None


def _days_text(days: Sequence[str]) -> str:
    indexes = sorted({WEEKDAYS.index(name) for name in days})
    if not indexes or len(indexes) == 7:
        return "every day"
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}")
        else:
            parts.extend(WEEKDAYS[index] for index in run)
    return ",".join(parts)


def _entry_label(entry: ScheduleEntry, owner: str, zone_key: str) -> str:
    if entry.from_time is None or entry.to_time is None:
        window = "all day"
    else:
        window = f"{entry.from_time:%H:%M}-{entry.to_time:%H:%M}"
    dates = ""
    if entry.start_date is not None:
        dates += f" from {entry.start_date.isoformat()}"
    if entry.end_date is not None:
        dates += f" to {entry.end_date.isoformat()}"
    owned = f"{owner}, " if owner != "device" else ""
    return (
        f"schedule entry {entry.id} ({owned}priority {entry.priority}, "
        f"{_days_text(entry.days)} {window} {zone_key}{dates})"
    )


# --- Playlists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _PlaylistNow:
    items: tuple[PlaylistItem, ...]  # inside their windows, by position
    next_edge: int | None  # None: no item will enter or leave its window


def _playlist_now(playlist: Playlist, zone_key: str, now: int) -> _PlaylistNow:
    inside: list[PlaylistItem] = []
    edge: int | None = None
    for item in playlist.items:
        valid_from, valid_until = item.valid_from, item.valid_until
        if valid_from is not None:
            start = _moment_micros(valid_from, zone_key, is_end=False)
            if start > now:  # ahead: it enters then (its end, if any, comes later)
                if edge is None or start < edge:
                    edge = start
                continue
        if valid_until is not None:
            end = _moment_micros(valid_until, zone_key, is_end=True)
            if end <= now:
                continue
            if edge is None or end < edge:
                edge = end
        inside.append(item)
    inside.sort(key=attrgetter("position"))
    return _PlaylistNow(tuple(inside), edge)


# --- Candidates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    reason: Reason
    source_id: str
    playlist_id: str
    label: str  # e.g. "interrupt int_1 (device, until 2026-11-25 18:00 UTC)"
    short: str  # e.g. "interrupt int_1", for the list of candidates passed over
    on_switch: OnSwitch


def _owner(group_id: str | None, groups: Mapping[str, Group]) -> str:
    if group_id is None:
        return "device"
    group = groups.get(group_id)
    return f"group {group.name} ({group_id})" if group is not None else f"group {group_id}"


def _utc_text(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC" if utc.second else f"{utc:%Y-%m-%d %H:%M} UTC"


def _interrupt_candidate(interrupt: Interrupt, groups: Mapping[str, Group]) -> _Candidate:
    until = "until cleared" if interrupt.until is None else f"until {_utc_text(interrupt.until)}"
    return _Candidate(
        Reason.INTERRUPT,
        interrupt.id,
        interrupt.playlist_id,
        f"interrupt {interrupt.id} ({_owner(interrupt.group_id, groups)}, {until})",
        f"interrupt {interrupt.id}",
        "cut",
    )


def _passed_over_text(passed: list[str]) -> str:
    if not passed:
        return ""
    named = ", ".join(passed[:_MAX_PASSED_OVER])
    more = len(passed) - _MAX_PASSED_OVER
    return f"; passed over: {named}" + (f" and {more} more" if more > 0 else "")


# --- Evaluation ---------------------------------------------------------------------------


def evaluate(state: ScheduleState, now: datetime) -> Decision:
    """What plays at `now` (aware) under `state`; see the module docstring for the rules."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("evaluate() needs an aware `now`, e.g. datetime.now(UTC)")
    device = state.device
    now_micros = _micros(now)
    zones = _Zones(now)
    device_zone, _ = zones.get(device.timezone or _FALLBACK_ZONE, f"device {device.id}")
    member_of = set(device.group_ids)
    edges: list[int] = []  # instants after now at which the answer may change

    # Interrupts: (own before a group's, started last first, lowest id) -> interrupt.
    interrupts: list[tuple[tuple[int, int, str], Interrupt]] = []
    for interrupt in state.interrupts:
        if interrupt.group_id is not None and interrupt.group_id not in member_of:
            continue
        starts = _micros(interrupt.starts_at)
        until = _micros(interrupt.until) if interrupt.until is not None else None
        if starts > now_micros:
            edges.append(starts)
            continue
        if until is None or until > now_micros:
            if until is not None:
                edges.append(until)
            key = (0 if interrupt.group_id is None else 1, -starts, interrupt.id)
            interrupts.append((key, interrupt))

    # Schedule entries: (highest priority, own before a group's, created last, lowest id).
    entries: list[tuple[tuple[int, int, int, str], ScheduleEntry, str]] = []
    for entry in state.entries:
        if entry.group_id is not None and entry.group_id not in member_of:
            continue
        if entry.timezone:
            zone_key, today = zones.get(entry.timezone, f"schedule entry {entry.id}")
        else:
            zone_key, today = zones.get(device.timezone or _FALLBACK_ZONE, f"device {device.id}")
        active, edge = _entry_now(entry, zone_key, today, now_micros)
        if edge is not None:
            edges.append(edge)
        if active:
            key = (
                -entry.priority,
                0 if entry.group_id is None else 1,
                -_micros(entry.created_at),
                entry.id,
            )
            entries.append((key, entry, zone_key))

    def candidates() -> Iterator[_Candidate]:
        """Every candidate in order of precedence, each built only when it is reached."""
        for _, interrupt in sorted(interrupts, key=itemgetter(0)):
            yield _interrupt_candidate(interrupt, state.groups)
        for _, entry, zone_key in sorted(entries, key=itemgetter(0)):
            yield _Candidate(
                Reason.SCHEDULE,
                entry.id,
                entry.playlist_id,
                _entry_label(entry, _owner(entry.group_id, state.groups), zone_key),
                f"schedule entry {entry.id}",
                entry.on_switch or device.on_switch,
            )
        if device.playlist_id is not None:
            text = "default playlist of this device"
            yield _Candidate(
                Reason.DEVICE_DEFAULT, device.id, device.playlist_id, text, text, device.on_switch
            )
        for group_id in device.group_ids:
            group = state.groups.get(group_id)
            if group is not None and group.playlist_id is not None:
                text = f"default playlist of group {group.name} ({group.id})"
                yield _Candidate(
                    Reason.GROUP_DEFAULT, group.id, group.playlist_id, text, text, device.on_switch
                )

    passed: list[str] = []
    seen: dict[str, _PlaylistNow] = {}
    winner: tuple[_Candidate, _PlaylistNow] | None = None
    for candidate in candidates():
        playlist = state.playlists.get(candidate.playlist_id)
        if playlist is None:
            passed.append(f"{candidate.short} (playlist {candidate.playlist_id} unknown)")
            continue
        now_playing = seen.get(candidate.playlist_id)
        if now_playing is None:
            now_playing = _playlist_now(playlist, device_zone, now_micros)
            seen[candidate.playlist_id] = now_playing
            if now_playing.next_edge is not None:
                edges.append(now_playing.next_edge)
        if not now_playing.items:
            state_text = "empty" if not playlist.items else "no item in its window"
            passed.append(f"{candidate.short} (playlist {candidate.playlist_id} {state_text})")
            continue
        winner = (candidate, now_playing)
        break

    next_boundary = _from_micros(min(edges)) if edges else None
    if winner is None:
        why = "nothing assigned" if not passed else "nothing to play"
        return Decision(
            playlist_id=None,
            items=(),
            reason=Reason.NOTHING,
            source_id=None,
            why=why + _passed_over_text(passed),
            on_switch=device.on_switch,
            next_boundary=next_boundary,
            warnings=zones.warnings(),
        )
    candidate, now_playing = winner
    return Decision(
        playlist_id=candidate.playlist_id,
        items=now_playing.items,
        reason=candidate.reason,
        source_id=candidate.source_id,
        why=candidate.label + _passed_over_text(passed),
        on_switch=candidate.on_switch,
        next_boundary=next_boundary,
        warnings=zones.warnings(),
    )


__all__ = ["Decision", "Reason", "ScheduleState", "clear_caches", "evaluate", "local_instant"]
