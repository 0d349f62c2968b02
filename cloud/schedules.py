"""Schedule entries: play a playlist on a device or a group on some days, in some hours.

An entry belongs to one device or to one group (`device_id` or `group_id`); what it means is
`player.schedule`'s to say (docs/scheduling.md): the cloud stores it, checks it against the
wire model (and that its time zone exists), sets `created_at`, and sends it to the devices
it reaches. Adding or deleting one records, for those devices (`cloud.views.Fanout`), the
entry and the playlist and assets that came into or left their view with it.

A tenant has at most `MAX_SCHEDULE_ENTRIES`: a device's view holds at most that many.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from cloud.admin_models import MAX_SCHEDULE_ENTRIES, NewScheduleEntry, ScheduleEntrySummary
from cloud.devices import no_device
from cloud.errors import NotFound, Unprocessable
from cloud.groups import no_group
from cloud.playlists import no_playlist
from cloud.store import Row, new_id
from cloud.views import Fanout, ViewWriter, entry_data, epoch_text, instant_text
from sync.models import WEEKDAYS

log = logging.getLogger(__name__)


def no_entry(entry_id: str) -> NotFound:
    return NotFound(
        f"no schedule entry {entry_id} in this tenant: `signage-cloud schedule list` lists them"
    )


def entry_summary(row: Row) -> ScheduleEntrySummary:
    return ScheduleEntrySummary.model_validate({**entry_data(row), "device_id": row["device_id"]})


class Schedules(ViewWriter):
    def _row(self, tenant_id: str, entry_id: str) -> Row:
        row = self._db.one(
            "SELECT * FROM schedule_entries WHERE tenant_id = ? AND id = ?", (tenant_id, entry_id)
        )
        if row is None:
            raise no_entry(entry_id)
        return row

    def _reached(self, tenant_id: str, device_id: str | None, group_id: str | None) -> list[str]:
        devices = self._views.target(tenant_id, device_id=device_id, group_id=group_id)
        if devices is None:
            raise no_device(device_id) if device_id is not None else no_group(str(group_id))
        return devices

    def add(self, *, tenant_id: str, entry: NewScheduleEntry) -> ScheduleEntrySummary:
        """Store an entry; the devices it reaches get it, with its playlist and assets."""
        entry_id = new_id("sch")
        now = self._clock()
        with self._db.write():
            devices = self._reached(tenant_id, entry.device_id, entry.group_id)
            if not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, entry.playlist_id),
            ):
                raise no_playlist(entry.playlist_id)
            count = self._db.one(
                "SELECT COUNT(*) AS n FROM schedule_entries WHERE tenant_id = ?", (tenant_id,)
            )
            if count is not None and count["n"] >= MAX_SCHEDULE_ENTRIES:
                raise Unprocessable(
                    f"this tenant has {MAX_SCHEDULE_ENTRIES} schedule entries, the most it may "
                    "have: delete some first (`signage-cloud schedule delete`)"
                )
            fanout = Fanout(self._views, self._changelog, tenant_id, devices, now=epoch_text(now))
            self._db.insert(
                "schedule_entries",
                {
                    "id": entry_id,
                    "tenant_id": tenant_id,
                    "device_id": entry.device_id,
                    "group_id": entry.group_id,
                    "playlist_id": entry.playlist_id,
                    "days": ",".join(day for day in WEEKDAYS if day in entry.days),
                    "from_time": _clock_text(entry.from_time),
                    "to_time": _clock_text(entry.to_time),
                    "start_date": _date_text(entry.start_date),
                    "end_date": _date_text(entry.end_date),
                    "priority": entry.priority,
                    "timezone": entry.timezone,
                    "on_switch": entry.on_switch,
                    "created_at": instant_text(datetime.fromtimestamp(now, UTC)),
                },
            )
            fanout.record(self._db.next_seq(tenant_id))
            summary = entry_summary(self._row(tenant_id, entry_id))
        log.info(
            "tenant %s added schedule entry %s for %s %s (playlist %s, %d device(s))",
            tenant_id,
            entry_id,
            "device" if entry.device_id else "group",
            entry.device_id or entry.group_id,
            entry.playlist_id,
            len(devices),
        )
        return summary

    def list(
        self, *, tenant_id: str, device_id: str | None = None, group_id: str | None = None
    ) -> list[ScheduleEntrySummary]:
        """The tenant's entries, oldest first; only those of a device or of a group if given."""
        with self._db.read():
            sql = "SELECT * FROM schedule_entries WHERE tenant_id = :tenant"
            if device_id is not None or group_id is not None:
                self._reached(tenant_id, device_id, group_id)
                sql += (
                    " AND device_id = :device"
                    if device_id is not None
                    else " AND group_id = :group"
                )
            rows = self._db.all(
                sql + " ORDER BY created_at, id",
                {"tenant": tenant_id, "device": device_id, "group": group_id},
            )
        return [entry_summary(row) for row in rows]

    def delete(self, *, tenant_id: str, entry_id: str) -> ScheduleEntrySummary:
        """Delete an entry; its devices get a tombstone, and for what only it brought."""
        with self._db.write():
            row = self._row(tenant_id, entry_id)
            devices = self._reached(tenant_id, row["device_id"], row["group_id"])
            fanout = Fanout(
                self._views, self._changelog, tenant_id, devices, now=epoch_text(self._clock())
            )
            self._db.execute(
                "DELETE FROM schedule_entries WHERE tenant_id = ? AND id = ?",
                (tenant_id, entry_id),
            )
            fanout.record(self._db.next_seq(tenant_id))
        log.info("tenant %s deleted schedule entry %s", tenant_id, entry_id)
        return entry_summary(row)


def _clock_text(value: object) -> str | None:
    return None if value is None else value.strftime("%H:%M")  # type: ignore[attr-defined]


def _date_text(value: object) -> str | None:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]


__all__ = ["Schedules", "entry_summary", "no_entry"]
