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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sync.models import (
    DeviceRecord,
    Group,
    Interrupt,
    OnSwitch,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
)


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

    device: DeviceRecord
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


def evaluate(state: ScheduleState, now: datetime) -> Decision:
    """What plays at `now` (aware) under `state`; see the module docstring for the rules."""
    raise NotImplementedError


__all__ = ["Decision", "Reason", "ScheduleState", "evaluate"]
