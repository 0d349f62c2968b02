"""Which item plays next: pure functions over the playlist, the failure record and `now`.

The engine carries these decisions out; nothing here touches libvlc or the clock.

- `first_playable(items, start, failures, now)`: the first item at or after `start`,
  wrapping around, that is not waiting out a failure back-off.
- `plan_change(old, new, current)`: what a new playlist means for what is on screen:
  `ShowMessage` (it is empty), `KeepPlaying(index)` (the current entry is still there,
  at `index`: the new order takes effect at the next boundary), or `StartAt(index)` (play
  from `index` now: nothing was playing, or the current entry is gone).
- Failures back off per entry: after the n-th failure in a row an entry is skipped for
  `RetryPolicy.delay(n)` seconds (doubling up to a cap), so a broken file is retried a
  few times an hour, not on every loop, and a success clears the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from player.items import PlayableItem

# An entry is the same entry when both its key and its bytes are unchanged.
EntryId = tuple[str, str]


def entry_id(item: PlayableItem) -> EntryId:
    return (item.key, item.sha256)


@dataclass(frozen=True)
class RetryPolicy:
    """How long a failed entry is skipped: `first_delay_s`, doubling per failure in a row."""

    first_delay_s: float = 30.0
    max_delay_s: float = 600.0

    def __post_init__(self) -> None:
        if self.first_delay_s <= 0 or self.max_delay_s < self.first_delay_s:
            raise ValueError("RetryPolicy needs 0 < first_delay_s <= max_delay_s")

    def delay(self, failures_in_a_row: int) -> float:
        exponent = min(max(failures_in_a_row - 1, 0), 32)
        return min(self.first_delay_s * 2**exponent, self.max_delay_s)


@dataclass(frozen=True)
class Failure:
    """An entry's failures in a row, the last reason, and when it may be tried again."""

    count: int
    retry_at: float  # loop clock, seconds
    reason: str


Failures = Mapping[EntryId, Failure]


def record_failure(
    failures: Failures, item: PlayableItem, reason: str, now: float, policy: RetryPolicy
) -> dict[EntryId, Failure]:
    previous = failures.get(entry_id(item))
    count = previous.count + 1 if previous else 1
    updated = dict(failures)
    updated[entry_id(item)] = Failure(count, now + policy.delay(count), reason)
    return updated


def record_success(failures: Failures, item: PlayableItem) -> dict[EntryId, Failure]:
    return {key: value for key, value in failures.items() if key != entry_id(item)}


def forget_missing(failures: Failures, items: Sequence[PlayableItem]) -> dict[EntryId, Failure]:
    """Drop the records of entries no longer in the playlist."""
    present = {entry_id(item) for item in items}
    return {key: value for key, value in failures.items() if key in present}


def is_due(item: PlayableItem, failures: Failures, now: float) -> bool:
    failure = failures.get(entry_id(item))
    return failure is None or failure.retry_at <= now


def first_playable(
    items: Sequence[PlayableItem], start: int, failures: Failures, now: float
) -> int | None:
    """Index of the first item at or after `start` (wrapping) that may play now, or None."""
    count = len(items)
    for step in range(count):
        index = (start + step) % count
        if is_due(items[index], failures, now):
            return index
    return None


def next_retry(items: Sequence[PlayableItem], failures: Failures) -> float | None:
    """When the first of `items` comes out of back-off, or None if none is backing off."""
    times = [failures[entry_id(i)].retry_at for i in items if entry_id(i) in failures]
    return min(times, default=None)


@dataclass(frozen=True)
class ShowMessage:
    """The new playlist is empty: show the message."""


@dataclass(frozen=True)
class KeepPlaying:
    """The current entry is in the new playlist at `index`: let it finish."""

    index: int


@dataclass(frozen=True)
class StartAt:
    """Play from `index` of the new playlist now (the first playable at or after it)."""

    index: int


@dataclass(frozen=True)
class FinishThenStart:
    """The current video is not in the new playlist but may finish; then play it from 0."""


Plan = ShowMessage | KeepPlaying | StartAt | FinishThenStart


def plan_change(
    old: Sequence[PlayableItem],
    new: Sequence[PlayableItem],
    current: int | None,
    *,
    finish_video: bool = False,
) -> Plan:
    """What to do when `new` replaces `old` while `old[current]` plays (None: nothing plays).

    When the current entry is gone, playback switches now to the entry that would have
    followed it: the first entry after it in the old order that is still in the new
    playlist; when none is, from the start of the new playlist. With `finish_video` (a
    schedule's switch set to "finish"), a video that is gone plays to its end first; an
    image is cut all the same.
    """
    if not new:
        return ShowMessage()
    if current is None or not 0 <= current < len(old):
        return StartAt(0)
    new_index = {entry_id(item): index for index, item in enumerate(new)}
    playing = entry_id(old[current])
    if playing in new_index:
        return KeepPlaying(new_index[playing])
    if finish_video and old[current].media_type == "video":
        return FinishThenStart()
    for step in range(1, len(old)):
        follower = entry_id(old[(current + step) % len(old)])
        if follower in new_index:
            return StartAt(new_index[follower])
    return StartAt(0)


__all__ = [
    "EntryId",
    "Failure",
    "Failures",
    "FinishThenStart",
    "KeepPlaying",
    "Plan",
    "RetryPolicy",
    "ShowMessage",
    "StartAt",
    "entry_id",
    "first_playable",
    "forget_missing",
    "is_due",
    "next_retry",
    "plan_change",
    "record_failure",
    "record_success",
]
