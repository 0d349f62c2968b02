"""The outbox: everything the device tells the cloud, kept until the cloud acknowledged it.

Play events, heartbeats, command results and "events dropped" records (`sync.models`'
`ReportEvent`s) are written to the `outbox` table in the same transaction as the state
change they describe (`add(db, event)` inside `Store.transaction`), each under its UUID.
`agent.report_uploader` sends them oldest first in batches of up to
`sync.models.MAX_EVENTS_PER_BATCH`; the cloud stores each once by its id, and an event
leaves the outbox only once the cloud's receipt names it (stored, duplicate or refused).

The outbox is bounded (`max_events`): when full, the oldest heartbeats go first (a newer
one says more); play events and command results go only once no heartbeat is left, oldest
first, and then an `EventsDropped` record counts them, so the cloud knows proof is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlite_utils

from agent.store import Store
from sync.models import WireModel

# About 10 days of a 10 s playlist offline, with a heartbeat a minute: ~1 KB each.
DEFAULT_MAX_EVENTS = 200_000


@dataclass(frozen=True)
class Pending:
    """One event waiting in the outbox: its id, type and JSON body as it will be sent."""

    id: str
    type: str
    body: str


class Outbox:
    def __init__(self, store: Store, *, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        self._store = store
        self.max_events = max_events

    def add(self, db: sqlite_utils.Database, event: WireModel) -> None:
        """Queue `event` inside the caller's transaction (`with store.transaction() as db`)."""
        raise NotImplementedError

    def put(self, event: WireModel) -> None:
        """Queue `event` in a transaction of its own; raises `StoreError` if it cannot."""
        raise NotImplementedError

    def oldest(self, limit: int) -> list[Pending]:
        """Up to `limit` events, oldest first."""
        raise NotImplementedError

    def acknowledge(self, ids: Sequence[str]) -> int:
        """Delete the events the cloud's receipt named; returns how many were deleted."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """Events waiting, by type (for `status` and the heartbeat)."""
        raise NotImplementedError


__all__ = ["DEFAULT_MAX_EVENTS", "Outbox", "Pending"]
