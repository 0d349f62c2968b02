"""The per-device change log behind delta sync: who a write concerns, recorded with it.

Every admin write that changes what some device should hold takes the tenant's next
change sequence number (`Database.next_seq`) and records, in the same transaction, one row
`(device, kind, object id) -> seq` for each device it concerns and each object that changed
for that device. What concerns a device is its view (`cloud.views`): its record, its groups,
the schedule entries and interrupts of it and of its groups, the playlists all of those name,
and the assets of those playlists; `cloud.views.Fanout` finds the rows of a write.

The row says only *that* the object changed for the device, not how: `cloud.state` reads
the object from the current tables when it answers, and an object that is gone or no longer
concerns the device becomes a tombstone. The log compacts itself: its key is
`(tenant, device, kind, object)`, so a later change of the same object replaces the row
(and its sequence number) instead of adding one. It grows with the objects a device ever
held, not with the number of edits; `prune` removes rows older than the retention window
and remembers, per device, the newest sequence number it removed (its horizon): a cursor
older than the horizon has lost changes and is answered 410 Gone.

The writes wake exactly the devices they recorded rows for (`Database.wake`, then
`cloud.changes`). Writes cost O(devices concerned x objects changed): exactly the rows
those devices will read, and nothing for a device a write does not concern.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from cloud.settings import DEFAULT_CHANGE_RETENTION_S
from cloud.store import Database
from sync.models import ChangeKind

log = logging.getLogger(__name__)

# Ids per `IN (...)` query: far below SQLite's limit on variables in one statement.
IDS_PER_QUERY = 500
# How often a write may spend a prune of its tenant's log (at most once per this many s).
PRUNE_EVERY_S = 60.0


def chunks(ids: Sequence[str], size: int = IDS_PER_QUERY) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class ChangeLog:
    """Recording (inside the caller's write transaction) and pruning of device changes."""

    def __init__(self, db: Database, *, retention_s: float = DEFAULT_CHANGE_RETENTION_S) -> None:
        self._db = db
        self.retention_s = retention_s
        self._last_prune: dict[str, float] = {}

    # --- recording ------------------------------------------------------------------------

    def record(
        self,
        tenant_id: str,
        seq: int,
        device_ids: Iterable[str],
        objects: Iterable[tuple[ChangeKind, str]],
    ) -> int:
        """Note that each of `objects` changed at `seq` for each of `device_ids`; wake them.

        Call inside the write transaction that made the change. Returns the rows written.
        """
        changed = [(str(kind), object_id) for kind, object_id in objects]
        return self.record_each(tenant_id, seq, {device_id: changed for device_id in device_ids})

    def record_each(
        self, tenant_id: str, seq: int, changes: Mapping[str, Iterable[tuple[str, str]]]
    ) -> int:
        """`record` with objects of their own for each device: {device id: [(kind, id)]}.

        Devices with the same objects (the members of a group, typically) are written by one
        `INSERT ... SELECT` over two JSON arrays: SQLite makes the rows, not Python (a
        group's new 10,000-item playlist is 10,000 rows per member).
        """
        at = time.time()
        by_objects: dict[frozenset[tuple[str, str]], list[str]] = defaultdict(list)
        for device_id, objects in changes.items():
            keys = frozenset((str(kind), object_id) for kind, object_id in objects)
            if keys:
                by_objects[keys].append(device_id)
        written = 0
        for keys, device_ids in by_objects.items():
            written += len(keys) * len(device_ids)
            self._db.execute(
                "INSERT INTO device_changes"
                " (tenant_id, device_id, kind, object_id, seq, changed_at)"
                " SELECT :tenant, d.value, json_extract(o.value, '$[0]'),"
                " json_extract(o.value, '$[1]'), :seq, :at"
                " FROM json_each(:devices) AS d, json_each(:objects) AS o"
                " WHERE true"  # SQLite reads ON CONFLICT after a bare SELECT as a join's ON
                " ON CONFLICT (tenant_id, device_id, kind, object_id)"
                " DO UPDATE SET seq = excluded.seq, changed_at = excluded.changed_at",
                {
                    "tenant": tenant_id,
                    "seq": seq,
                    "at": at,
                    "devices": json.dumps(sorted(device_ids)),
                    "objects": json.dumps(sorted(keys)),
                },
            )
        if not written:
            return 0
        self._db.wake(tenant_id, {d for device_ids in by_objects.values() for d in device_ids})
        self._maybe_prune(tenant_id, at)
        return written

    def forget_device(self, tenant_id: str, device_id: str) -> None:
        """Drop a removed device's log; call inside the write transaction that removes it."""
        self._db.execute(
            "DELETE FROM device_changes WHERE tenant_id = ? AND device_id = ?",
            (tenant_id, device_id),
        )
        self._db.execute(
            "DELETE FROM device_horizons WHERE tenant_id = ? AND device_id = ?",
            (tenant_id, device_id),
        )
        self._db.wake(tenant_id, [device_id])  # its held long-poll ends: it is told it was removed

    # --- retention ------------------------------------------------------------------------

    def horizon(self, tenant_id: str, device_id: str) -> int:
        """The newest sequence number pruned from the device's log (0: none)."""
        row = self._db.one(
            "SELECT seq FROM device_horizons WHERE tenant_id = ? AND device_id = ?",
            (tenant_id, device_id),
        )
        return int(row["seq"]) if row else 0

    def _maybe_prune(self, tenant_id: str, now: float) -> None:
        if now - self._last_prune.get(tenant_id, 0.0) >= min(PRUNE_EVERY_S, self.retention_s):
            self._last_prune[tenant_id] = now
            self.prune(tenant_id, now=now)

    def prune(self, tenant_id: str, *, now: float) -> int:
        """Remove the tenant's rows older than the retention window; call inside a write.

        Each device's horizon becomes the newest sequence number removed from its log, so
        that a cursor older than that is answered 410 and only those. Returns the rows removed.
        """
        cutoff = now - self.retention_s
        self._db.execute(
            "INSERT INTO device_horizons (tenant_id, device_id, seq)"
            " SELECT tenant_id, device_id, MAX(seq) FROM device_changes"
            " WHERE tenant_id = ? AND changed_at < ? GROUP BY device_id"
            " ON CONFLICT (tenant_id, device_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
            (tenant_id, cutoff),
        )
        removed = self._db.execute(
            "DELETE FROM device_changes WHERE tenant_id = ? AND changed_at < ?",
            (tenant_id, cutoff),
        )
        if removed:
            log.info(
                "pruned %d device changes of tenant %s older than %g s",
                removed,
                tenant_id,
                self.retention_s,
            )
        return removed


__all__ = ["IDS_PER_QUERY", "ChangeLog", "chunks"]
