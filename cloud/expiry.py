"""Deleting interrupts past their `until`, and telling their devices.

An expired interrupt is out of every device's view at once (`cloud.views` compares `until`
with the cloud's clock), so a listing no longer names it and a logged change of it reads as
a tombstone. Its row goes lazily: by the next interrupt write or playlist delete of its
tenant, and by a task of the server every minute (`cloud.app`). Deleting it records, for
the devices it reached, a tombstone for it and for what only it brought (its playlist and
that playlist's assets, unless something else in their view still uses them), so that a
device that held it lets go of them without waiting for a full listing.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from cloud.changelog import ChangeLog
from cloud.store import Database
from cloud.views import Fanout, Views, ids_json

log = logging.getLogger(__name__)


def purge_expired(
    db: Database, views: Views, changelog: ChangeLog, *, tenant_id: str | None, now: str
) -> int:
    """Delete the interrupts that expired by `now` (of one tenant; None: of every tenant).

    Call inside a write transaction. Returns how many were deleted.
    """
    params = {"now": now, "tenant": tenant_id}
    where = "until IS NOT NULL AND until <= :now"
    if tenant_id is not None:
        where += " AND tenant_id = :tenant"
    rows = db.all(
        f"SELECT tenant_id, id, device_id, group_id FROM interrupts WHERE {where}",  # noqa: S608 - constants
        params,
    )
    by_tenant: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for row in rows:
        by_tenant[row["tenant_id"]].append((row["id"], row["device_id"], row["group_id"]))
    for tenant, expired in by_tenant.items():
        devices = {device_id for _, device_id, _ in expired if device_id is not None}
        devices |= views.members(tenant, [group_id for _, _, group_id in expired if group_id])
        fanout = Fanout(views, changelog, tenant, devices, now=now, expired_held=True)
        db.execute(
            "DELETE FROM interrupts WHERE tenant_id = :tenant"
            " AND id IN (SELECT value FROM json_each(:ids))",
            {"tenant": tenant, "ids": ids_json(interrupt_id for interrupt_id, _, _ in expired)},
        )
        rows_by_device = fanout.changes()
        if rows_by_device:
            changelog.record_each(tenant, db.next_seq(tenant), rows_by_device)
        log.info(
            "deleted %d expired interrupt(s) of tenant %s; told %d device(s)",
            len(expired),
            tenant,
            len(rows_by_device),
        )
    return len(rows)


__all__ = ["purge_expired"]
