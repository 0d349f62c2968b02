"""The play log: what the player reports, written to the store on the cloud's clock.

It becomes the proof-of-play outbox; for now it keeps the newest events (see
`agent.store.PLAY_EVENTS_KEPT`) and what is on screen, for `status`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.errors import StoreError
from agent.store import Store
from player import PlayableItem

log = logging.getLogger(__name__)

LOST_REPORT_EVERY_S = 60.0


class PlayLog:
    """The player's listener: records each start, end and failure.

    Times are put on the cloud's clock (`clock_offset_s()`) as soon as it is known: proof of
    play from a Pi whose own clock is years off must still be right. A store that cannot
    write (a full disk) loses the event with one log line; playback never stops for it.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock_offset_s: Callable[[], float | None],
        on_started: Callable[[str], None] = lambda _: None,
    ) -> None:
        """`on_started` hears the sha256 of each item that starts (the cache's play order)."""
        self._store = store
        self._clock_offset_s = clock_offset_s
        self._on_started = on_started
        self._lost = 0
        self._reported_at = float("-inf")

    def _record(self, event: str, item: PlayableItem, at: datetime, **extra: Any) -> None:
        at_on_cloud_clock = at + timedelta(seconds=self._clock_offset_s() or 0.0)
        try:
            self._store.record_play_event(
                event, item_key=item.key, name=item.name, sha256=item.sha256,
                at=at_on_cloud_clock, **extra,
            )  # fmt: skip
        except StoreError as exc:
            self._lost += 1
            now = time.monotonic()
            if now - self._reported_at >= LOST_REPORT_EVERY_S:  # a full disk must not flood
                self._reported_at = now
                log.error(
                    "play log: %s; %d event(s) lost so far, the last the %s of %s",
                    exc, self._lost, event, item.name,
                )  # fmt: skip

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self._record("started", item, started_at)
        self._on_started(item.sha256)

    def item_ended(self, item: PlayableItem, ended_at: datetime, played_ms: int) -> None:
        self._record("ended", item, ended_at, played_ms=played_ms)

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        self._record("failed", item, datetime.now(UTC), detail=reason)


__all__ = ["PlayLog"]
