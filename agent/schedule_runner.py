"""Following the schedule: evaluate it, hand the winner's items to the screen, and wake at the
next boundary.

`player.schedule.evaluate` is pure; this module is its I/O. It reads the schedule the store
holds (`Store.schedule_state`, reloaded after each page of changes), reads the time from
`agent.clock.ScheduleClock` (the cloud-corrected clock when ours cannot be trusted), and arms
one APScheduler date job at the decision's next boundary, re-armed after each evaluation. So
between boundaries the daemon does not wake for the schedule at all; at a boundary it
evaluates again and switches within milliseconds.

What it decided is kept in the store (`Meta.SCHEDULE`) for `status`: the playlist, why it
won, the next boundary and which clock was used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from agent.clock import Reading, ScheduleClock
from agent.decision import decision_summary, evaluate_safely
from agent.errors import StoreError
from agent.screen import Screen
from agent.store import Meta, Store
from player.schedule import Decision, ScheduleState

log = logging.getLogger(__name__)

BOUNDARY_JOB = "schedule-boundary"
# A timer that fires less than this before its boundary counts as on time.
EARLY_TOLERANCE_S = 0.001
# APScheduler's own INFO lines ("Added job", "Running job") would repeat at every boundary.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class ScheduleRunner:
    """Owns the boundary timer and the decision in force."""

    def __init__(
        self,
        *,
        store: Store,
        screen: Screen,
        clock: ScheduleClock,
        on_playlist: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        """`on_playlist` hears of each change of the playlist in force (the downloader
        fetches its blobs first)."""
        self._store = store
        self._screen = screen
        self._clock = clock
        self._on_playlist = on_playlist
        self._state: ScheduleState | None = None
        self._loaded = False
        self._decision: Decision | None = None
        self._summary: dict[str, Any] | None = None
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def decision(self) -> Decision | None:
        return self._decision

    @property
    def playlist_id(self) -> str | None:
        return self._decision.playlist_id if self._decision else None

    def start(self) -> None:
        """Start the timer (on the running event loop)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def reload(self) -> None:
        """The store's schedule changed (a page of changes): read it again and evaluate."""
        self._state = self._store.schedule_state()
        self._loaded = True
        self.evaluate()

    def evaluate(self, *, not_before: datetime | None = None) -> None:
        """Decide what plays now, show it, and arm the timer for the next boundary."""
        if not self._loaded:
            self._state, self._loaded = self._store.schedule_state(), True
        reading = self._clock.read()
        now = reading.at if not_before is None else max(reading.at, not_before)
        decision = None if self._state is None else evaluate_safely(self._state, now)
        previous = self.playlist_id
        self._decision = decision
        playlist_id = decision.playlist_id if decision else None
        changed = playlist_id != previous
        allowed = {item.position for item in decision.items} if decision else set()
        items = [i for i in self._store.playlist_items(playlist_id) if i.position in allowed]
        finish = changed and decision is not None and decision.on_switch == "finish"
        self._screen.show_items(items, finish_video=finish)
        if changed:
            self._on_playlist(playlist_id)
        self._note(decision, reading, changed)
        self._arm(decision, reading)

    def _note(self, decision: Decision | None, reading: Reading, changed: bool) -> None:
        name = self._store.playlist_name(decision.playlist_id if decision else None)
        summary = decision_summary(decision, reading, name)
        if summary == self._summary:
            return
        if changed or self._summary is None:
            when = summary["next_boundary"] or "never"
            log.info(
                "schedule: playing %s: %s; next change %s (%s clock)",
                name or "nothing", summary["why"], when, reading.source,
            )  # fmt: skip
        for warning in summary["warnings"]:
            if self._summary is None or warning not in self._summary["warnings"]:
                log.warning("schedule: %s", warning)
        self._summary = summary
        try:
            self._store.set_json(Meta.SCHEDULE, summary)
        except StoreError as exc:
            log.warning("%s", exc)

    def _arm(self, decision: Decision | None, reading: Reading) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        boundary = decision.next_boundary if decision else None
        if boundary is None:
            if scheduler.get_job(BOUNDARY_JOB) is not None:
                scheduler.remove_job(BOUNDARY_JOB)
            return
        self._arm_at(boundary, reading)

    def _arm_at(self, boundary: datetime, reading: Reading) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        # The boundary is on the schedule's clock; the timer runs on the local one.
        local = boundary - timedelta(seconds=reading.offset_s)
        scheduler.add_job(
            self._on_boundary,
            DateTrigger(run_date=local, timezone=UTC),
            args=[boundary],
            id=BOUNDARY_JOB,
            replace_existing=True,
            misfire_grace_time=None,  # late (a suspended machine) still runs
            coalesce=True,
        )

    async def _on_boundary(self, boundary: datetime) -> None:
        try:
            reading = self._clock.read()
            if (boundary - reading.at).total_seconds() > EARLY_TOLERANCE_S:
                # the estimate of the cloud's clock moved since the timer was armed: wait for
                # the boundary on the clock as it reads now, so a switch is never early
                self._arm_at(boundary, reading)
                return
            # a timer may fire a hair early: evaluate at the boundary at least, never before
            self.evaluate(not_before=boundary)
        except Exception:  # the screen keeps its content; the next sync re-evaluates
            log.exception("schedule: evaluating at the boundary %s failed", boundary)


__all__ = ["BOUNDARY_JOB", "ScheduleRunner"]
