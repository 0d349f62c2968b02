"""Proof of play: what the player reports, on the cloud's clock, into the outbox.

When an item appears, its open play (`Meta.OPEN_PLAY`: the event id, item, asset, playlist,
the schedule's reason and source at that moment, and when it started on the cloud's clock)
is stored with the local log's "started" row in one transaction. When it leaves the screen,
its `PlayEvent` goes to the outbox, the local log's "ended" (or "failed") row is written and
the open play is cleared, again in one transaction: a crash leaves the open play or the
event, never both and never neither. At start, an open play left by an agent that was
killed becomes a `PlayEvent` "interrupted" (`recover`).

Outcomes: "completed" when the renderer ended it (a video reached its end, an image or a
cut video its duration), "cut" when a playlist change replaced it, "interrupted" when the
agent stopped (or died) while it played, "failed" when it broke (with the reason; an item
that never showed a picture is reported failed with no time on screen).

The local `play_events` table keeps the newest 20,000 starts and ends for `status`, the
demo and tests (an "ended" row carries the outcome in `detail`); the outbox is what
reaches the cloud.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from agent.clock import CloudClock, to_ms
from agent.errors import StoreError
from agent.outbox import Outbox
from agent.screen import one_line
from agent.store import Meta, Store
from player import Ending, PlayableItem
from player.schedule import Decision
from sync.models import MAX_DESCRIPTION_CHARS, MAX_PLAY_MS, PlayEvent, PlayOutcome

log = logging.getLogger(__name__)

LOST_REPORT_EVERY_S = 60.0
# The local play log's row for an event's outcome (`play_events.event`).
LOCAL_ROWS = {PlayOutcome.FAILED: "failed", PlayOutcome.SKIPPED: "skipped"}
OUTCOMES = {
    Ending.FINISHED: PlayOutcome.COMPLETED,
    Ending.CUT: PlayOutcome.CUT,
    Ending.STOPPED: PlayOutcome.INTERRUPTED,
}
INTERRUPTED_DETAIL = "the agent stopped while it played (killed, crashed or powered off)"
# Reported times never go back by less than this: the estimate of the cloud's clock steps by
# up to about a second as answers come in (and between runs), and the timeline must not
# overlap, so a time that would fall before the last one reported is that one. A larger
# step is the clock really moving, and is kept.
MAX_STEP_BACK = timedelta(seconds=2)


@dataclass(frozen=True)
class OpenPlay:
    """The item on screen, as `Meta.OPEN_PLAY` keeps it until its event is written."""

    id: str
    item_key: str
    sha256: str
    name: str
    asset_id: str | None
    playlist_id: str | None
    schedule_reason: str | None
    schedule_source: str | None
    started_at: datetime  # on the cloud's clock
    planned_ms: int | None  # how long it should stay on screen, when known

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "started_at": self.started_at.isoformat()}

    @classmethod
    def from_json(cls, value: Any) -> OpenPlay | None:
        """The stored open play, or None when it does not read (a newer or broken value)."""
        try:
            fields = {name: value[name] for name in cls.__dataclass_fields__}
            fields["started_at"] = datetime.fromisoformat(fields["started_at"])
            if fields["started_at"].tzinfo is None:
                return None
            return cls(**fields)
        except (TypeError, KeyError, ValueError):
            return None

    def event(
        self, *, ended_at: datetime, duration_ms: int, outcome: PlayOutcome, detail: str | None
    ) -> PlayEvent:
        return PlayEvent(
            id=self.id,
            asset_id=self.asset_id,
            sha256=self.sha256,
            name=self.name,
            playlist_id=self.playlist_id,
            schedule_reason=self.schedule_reason,
            schedule_source=self.schedule_source,
            started_at=min(self.started_at, ended_at),
            ended_at=ended_at,
            duration_ms=max(0, min(duration_ms, MAX_PLAY_MS)),
            outcome=outcome,
            detail=None if detail is None else one_line(detail, MAX_DESCRIPTION_CHARS),
        )


def recovered_end(open_play: OpenPlay, now: datetime) -> datetime:
    """When a play an agent did not live to end is taken to have ended: its planned end, or
    the restart (`now`) if earlier, so it never overlaps what plays after the restart."""
    planned = open_play.planned_ms
    planned_end = (
        None if planned is None else open_play.started_at + timedelta(milliseconds=planned)
    )
    end = now if planned_end is None else min(now, planned_end)
    # The restart reads earlier than the start: the clock went back, or the start was
    # reported later than it was (times never step back by less than 2 s, and the new
    # process has no cloud offset yet). Nothing is known of its end then; taking its start
    # keeps it from overlapping what plays after the restart.
    return max(end, open_play.started_at)


class PlayLog:
    """The player's listener: each play that starts and ends becomes one `PlayEvent`.

    A store that cannot write (a full disk) loses the event with one log line a minute;
    playback never stops for it.
    """

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        *,
        clock: CloudClock,
        decision: Callable[[], Decision | None] = lambda: None,
        on_started: Callable[[str], None] = lambda _: None,
    ) -> None:
        """`decision` is the schedule's decision in force (its reason and source go into
        each play); `on_started` hears the sha256 of each item that starts."""
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._decision = decision
        self._on_started = on_started
        self._open: OpenPlay | None = None
        self._last: datetime | None = None  # the latest time reported
        self._lost = 0
        self._reported_at = float("-inf")

    @property
    def open_play(self) -> OpenPlay | None:
        """The item on screen now, as it will be reported."""
        return self._open

    # --- start-up ---------------------------------------------------------------------

    def recover(self) -> PlayEvent | None:
        """Report the play an agent was killed during (call once, before the player runs)."""
        self._last = self._store.last_play_at()
        raw = self._store.get_json(Meta.OPEN_PLAY)
        if raw is None:
            return None
        open_play = OpenPlay.from_json(raw)
        try:
            if open_play is None:
                log.warning("play log: the stored open play does not read; dropped it")
                self._store.set_many({Meta.OPEN_PLAY: None})
                return None
            ended_at = recovered_end(open_play, self._clock.now())
            duration_ms = round((ended_at - open_play.started_at).total_seconds() * 1000)
            event = open_play.event(
                ended_at=ended_at,
                duration_ms=duration_ms,
                outcome=PlayOutcome.INTERRUPTED,
                detail=INTERRUPTED_DETAIL,
            )
            with self._store.transaction("report the play the agent stopped during") as db:
                self._write_end(db, event, item_key=open_play.item_key, row="ended")
        except StoreError as exc:
            self._lose(exc, "interrupted play", open_play.name if open_play else "?")
            return None
        log.info(
            'play log: "%s" was on screen when the agent stopped; reported as interrupted',
            open_play.name,
        )
        return event

    # --- PlayerListener -------------------------------------------------------------

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        open_play = self._open_play(item, self._in_order(self._clock.convert(started_at)))
        self._open = open_play
        try:
            with self._store.transaction("record the start of a play") as db:
                Store.log_play_event(
                    db, "started", item_key=item.key, name=item.name, sha256=item.sha256,
                    at=open_play.started_at,
                )  # fmt: skip
                Store.set_within(db, {Meta.OPEN_PLAY: _json(open_play.to_json())})
        except StoreError as exc:
            self._lose(exc, "start", item.name)
        self._on_started(item.sha256)

    def item_ended(
        self, item: PlayableItem, ended_at: datetime, played_ms: int, how: Ending
    ) -> None:
        ended = self._in_order(self._clock.convert(ended_at))
        self._close(item, ended, played_ms, OUTCOMES[how], None)

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        ended_at = self._in_order(self._clock.now())
        shown = self._matching_open(item)
        played_ms = 0
        if shown is not None:
            played_ms = round((ended_at - shown.started_at).total_seconds() * 1000)
        self._close(item, ended_at, played_ms, PlayOutcome.FAILED, reason)

    def item_skipped(self, item: PlayableItem, reason: str) -> None:
        """An entry of the playlist in force was left out (its content is missing): one
        "skipped" event, on screen for no time (the Screen calls it once per absence)."""
        at = self._in_order(self._clock.now())
        self._close(item, at, 0, PlayOutcome.SKIPPED, reason)

    # --- the work -----------------------------------------------------------------------

    def _in_order(self, at: datetime) -> datetime:
        """`at`, or the latest time reported when `at` falls less than `MAX_STEP_BACK`
        before it (see there)."""
        last = self._last
        if last is not None and at < last <= at + MAX_STEP_BACK:
            return last
        self._last = at
        return at

    def _open_play(self, item: PlayableItem, started_at: datetime) -> OpenPlay:
        playlist_id, asset_id = self._entry(item)
        decision = self._decision()
        return OpenPlay(
            id=str(uuid.uuid4()),
            item_key=item.key,
            sha256=item.sha256,
            name=item.name,
            asset_id=asset_id,
            playlist_id=playlist_id if playlist_id is not None else _playlist_of(decision),
            schedule_reason=decision.reason.value if decision else None,
            schedule_source=decision.source_id if decision else None,
            started_at=started_at,
            planned_ms=item.planned_ms,
        )

    def _entry(self, item: PlayableItem) -> tuple[str | None, str | None]:
        """(playlist id, asset id) of the entry `item` plays (its key is "playlist:position")."""
        playlist_id, _, position = item.key.rpartition(":")
        if not playlist_id or not position.isdigit():
            return None, None
        return playlist_id, self._store.entry_asset(playlist_id, int(position))

    def _matching_open(self, item: PlayableItem) -> OpenPlay | None:
        found = self._open
        if found is not None and found.item_key == item.key and found.sha256 == item.sha256:
            return found
        return None

    def _close(
        self,
        item: PlayableItem,
        ended_at: datetime,
        played_ms: int,
        outcome: PlayOutcome,
        detail: str | None,
    ) -> None:
        shown = self._matching_open(item)
        if shown is not None:
            self._open = None
            open_play = shown
        else:  # it never showed (it failed), or the player's events were out of step
            started_at = ended_at - timedelta(milliseconds=played_ms)
            open_play = self._open_play(item, to_ms(started_at))
        event = open_play.event(
            ended_at=ended_at, duration_ms=played_ms, outcome=outcome, detail=detail
        )
        row = LOCAL_ROWS.get(outcome, "ended")
        try:
            with self._store.transaction(f"record the end of a play ({outcome})") as db:
                if (
                    shown is not None
                    and self._store.get(Meta.OPEN_PLAY) is None
                    and self._store.get(Meta.DEVICE_ID) is None
                ):
                    return  # the device was removed while it played: nobody to tell
                self._write_end(db, event, item_key=item.key, row=row, close=shown is not None)
        except StoreError as exc:
            self._lose(exc, str(outcome), item.name)

    def _write_end(
        self,
        db: sqlite_utils.Database,
        event: PlayEvent,
        *,
        item_key: str,
        row: str,
        close: bool = True,
    ) -> None:
        """The event into the outbox and the local log, and (`close`) the open play gone."""
        self._outbox.add(db, event)
        self._last = max(event.ended_at, self._last or event.ended_at)
        Store.log_play_event(
            db, row, item_key=item_key, name=event.name, sha256=event.sha256,
            at=event.ended_at, played_ms=event.duration_ms,
            detail=event.detail if row in LOCAL_ROWS.values() else event.outcome.value,
        )  # fmt: skip
        if close:
            Store.set_within(db, {Meta.OPEN_PLAY: None})

    def _lose(self, exc: StoreError, what: str, name: str) -> None:
        self._lost += 1
        now = time.monotonic()
        if now - self._reported_at >= LOST_REPORT_EVERY_S:  # a full disk must not flood
            self._reported_at = now
            log.error(
                "play log: %s; %d event(s) lost so far, the last the %s of %s",
                exc, self._lost, what, name,
            )  # fmt: skip


def _playlist_of(decision: Decision | None) -> str | None:
    return decision.playlist_id if decision else None


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


__all__ = ["OpenPlay", "PlayLog", "recovered_end"]
