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

Details of the bound (`plan_room` is the pure rule, tested with hypothesis):

- Plays and results go in chunks of 1% of the bound, so a device offline for months writes
  one `EventsDropped` record per chunk, not one per event; records of the same kind that
  are not being sent are merged into one.
- The batch the uploader is sending (the rows the last `oldest()` returned) is never
  dropped, so an event the cloud may be storing right now is never also counted as
  dropped; only heartbeats, which nobody counts, may go from it. Rows are never updated in
  place: an event's body is what was sent, or what will be.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

from agent.store import Store
from sync.models import EventsDropped, WireModel

# About 10 days of a 10 s playlist offline, with a heartbeat a minute: ~1 KB each.
DEFAULT_MAX_EVENTS = 200_000
HEARTBEAT = "heartbeat"
DROPPED = "dropped"
# Sent without waiting for more events to share the request: an admin waits for these.
URGENT_TYPES = frozenset({"command_result"})
# Plays and results are dropped this share of the bound at a time (at least one).
DROP_CHUNK_DIVISOR = 100
# SQLite's limit on bound variables is 999 on old builds: ids go in chunks of this many.
SQL_CHUNK = 500


@dataclass(frozen=True)
class Pending:
    """One event waiting in the outbox: its id, type and JSON body as it will be sent."""

    id: str
    type: str
    body: str


@dataclass(frozen=True)
class RoomPlan:
    """How many of the oldest heartbeats and of the oldest other events to drop."""

    heartbeats: int
    others: int


def plan_room(*, total: int, max_events: int, heartbeats: int, droppable: int) -> RoomPlan:
    """What to drop so that `total` events fit in `max_events` (the pure rule).

    `heartbeats`: how many heartbeats the outbox holds; `droppable`: how many plays and
    command results it holds outside the batch being sent. Heartbeats go first, one for one;
    when none is left, plays and results go, and with them 1% of the bound more (at least
    one: room for the `EventsDropped` record that counts them), so that the next events
    fit without dropping again at once.
    """
    excess = total - max_events
    if excess <= 0:
        return RoomPlan(0, 0)
    drop_heartbeats = min(excess, heartbeats)
    rest = excess - drop_heartbeats
    if rest == 0:
        return RoomPlan(drop_heartbeats, 0)
    chunk = max(1, max_events // DROP_CHUNK_DIVISOR)
    return RoomPlan(drop_heartbeats, min(droppable, rest + chunk))


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Outbox:
    """The `outbox` table's one owner. `added` is set whenever an event is queued, `urgent`
    when it is one an admin waits for (a command's result)."""

    def __init__(
        self,
        store: Store,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`now` is the cloud's time as this device knows it (for `EventsDropped.at`)."""
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        self._store = store
        self.max_events = max_events
        self._now = now
        self.added = asyncio.Event()  # the uploader waits on it
        self.urgent = asyncio.Event()
        # At least the number of rows (a rolled-back add leaves it one high): the exact
        # count is taken only when this passes the bound, so a queued event costs no scan.
        self._count_bound: int | None = None
        self._leased_upto = 0  # the highest seq the last `oldest()` returned

    # --- writing ----------------------------------------------------------------------

    def add(self, db: sqlite_utils.Database, event: WireModel) -> None:
        """Queue `event` inside the caller's transaction (`with store.transaction() as db`).

        An event whose id is queued already is ignored (queueing is idempotent).
        """
        event_id, event_type = getattr(event, "id", None), getattr(event, "type", None)
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise TypeError(f"{type(event).__name__} is not a report event (no id and type)")
        cursor = db.execute(
            "INSERT OR IGNORE INTO outbox (id, type, body, created_at) VALUES (?, ?, ?, ?)",
            [event_id, event_type, event.model_dump_json(), _iso_now()],
        )
        if cursor.rowcount:
            if self._count_bound is None:
                self._count_bound = self._count(db)
            else:
                self._count_bound += 1
            if self._count_bound > self.max_events:
                self._make_room(db)
        self.added.set()
        if event_type in URGENT_TYPES:
            self.urgent.set()

    def put(self, event: WireModel) -> None:
        """Queue `event` in a transaction of its own; raises `StoreError` if it cannot."""
        with self._store.transaction(f"queue a {getattr(event, 'type', 'report')} event") as db:
            self.add(db, event)

    def _make_room(self, db: sqlite_utils.Database) -> None:
        total = self._count(db)
        while total > self.max_events:
            heartbeats = db.execute(
                "SELECT COUNT(*) FROM outbox WHERE type = ?", [HEARTBEAT]
            ).fetchone()[0]
            droppable = db.execute(
                "SELECT COUNT(*) FROM outbox WHERE type NOT IN (?, ?) AND seq > ?",
                [HEARTBEAT, DROPPED, self._leased_upto],
            ).fetchone()[0]
            plan = plan_room(
                total=total,
                max_events=self.max_events,
                heartbeats=heartbeats,
                droppable=droppable,
            )
            if plan == RoomPlan(0, 0):
                break  # only the batch being sent and the dropped records are left
            if plan.heartbeats:
                db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE type = ?"
                    " ORDER BY seq LIMIT ?)",
                    [HEARTBEAT, plan.heartbeats],
                )
            if plan.others:
                gone = db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
                    " WHERE type NOT IN (?, ?) AND seq > ? ORDER BY seq LIMIT ?) RETURNING type",
                    [HEARTBEAT, DROPPED, self._leased_upto, plan.others],
                ).fetchall()
                for what, count in sorted(Counter(row[0] for row in gone).items()):
                    self._count_dropped(db, what, count)
            total = self._count(db)
        self._count_bound = total

    def _count_dropped(self, db: sqlite_utils.Database, what: str, count: int) -> None:
        """One `EventsDropped` record for `what`, merged with those not being sent."""
        earlier = db.execute(
            "DELETE FROM outbox WHERE type = ? AND seq > ? AND json_extract(body, '$.what') = ?"
            " RETURNING body",
            [DROPPED, self._leased_upto, what],
        ).fetchall()
        count += sum(int(json.loads(row[0])["count"]) for row in earlier)
        record = EventsDropped(id=str(uuid.uuid4()), at=self._now(), what=what, count=count)
        db.execute(
            "INSERT INTO outbox (id, type, body, created_at) VALUES (?, ?, ?, ?)",
            [record.id, record.type, record.model_dump_json(), _iso_now()],
        )

    @staticmethod
    def _count(db: sqlite_utils.Database) -> int:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    # --- sending ----------------------------------------------------------------------

    def oldest(self, limit: int) -> list[Pending]:
        """Up to `limit` events, oldest first. They count as being sent (never dropped to
        make room) until the next call."""
        rows = self._store.db.execute(
            "SELECT seq, id, type, body FROM outbox ORDER BY seq LIMIT ?", [limit]
        ).fetchall()
        self._leased_upto = rows[-1][0] if rows else 0
        return [Pending(id=row[1], type=row[2], body=row[3]) for row in rows]

    def acknowledge(self, ids: Sequence[str]) -> int:
        """Delete the events the cloud's receipt named; returns how many were deleted."""
        deleted = 0
        with self._store.transaction("delete the events the cloud acknowledged") as db:
            for start in range(0, len(ids), SQL_CHUNK):
                chunk = list(ids[start : start + SQL_CHUNK])
                marks = ",".join("?" * len(chunk))
                cursor = db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)  # noqa: S608
                deleted += cursor.rowcount
        if self._count_bound is not None:
            self._count_bound = max(0, self._count_bound - deleted)
        return deleted

    # --- looking ----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Events waiting, by type (for `status` and the heartbeat)."""
        return {
            row[0]: row[1]
            for row in self._store.db.execute(
                "SELECT type, COUNT(*) FROM outbox GROUP BY type ORDER BY type"
            )
        }

    def oldest_created_at(self) -> str | None:
        """When the oldest event waiting was queued (ISO 8601, this device's clock)."""
        row = self._store.db.execute(
            "SELECT created_at FROM outbox ORDER BY seq LIMIT 1"
        ).fetchone()
        return row[0] if row else None


def outbox_status(store: Store, *, now: float | None = None) -> dict[str, object]:
    """What `signage-agent status` shows of the outbox (works on a read-only store)."""
    outbox = Outbox(store)
    counts, oldest = outbox.counts(), outbox.oldest_created_at()
    age = None
    if oldest is not None:
        queued = datetime.fromisoformat(oldest).timestamp()
        age = round(max(0.0, (time.time() if now is None else now) - queued), 1)
    return {"events": sum(counts.values()), "by_type": counts, "oldest_at": oldest,
            "oldest_age_s": age}  # fmt: skip


__all__ = [
    "DEFAULT_MAX_EVENTS",
    "URGENT_TYPES",
    "Outbox",
    "Pending",
    "RoomPlan",
    "outbox_status",
    "plan_room",
]
