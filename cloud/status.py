"""What admins see of a fleet: each device's latest heartbeat, online state, names, groups.

`signage-cloud devices` (`GET /devices`) shows, per device, whether it is online
(`cloud.presence`), what its latest heartbeat says it plays (the item by name, the playlist
by name), its default playlist's name and its groups' names: a handful of queries for the
whole tenant, never one per device. `device show` (`GET /devices/{id}`) adds the whole latest
status and the events its outbox had to drop, beside what the schedule says it should play.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from cloud.admin_models import DeviceDetail, DeviceListing, ReportedStatus
from cloud.presence import Presence
from cloud.store import Database
from sync.models import DeviceStatus

log = logging.getLogger(__name__)


def stored_status(text: str | None) -> DeviceStatus | None:
    """A status as stored; None (and a log line) if it no longer reads as one: a status
    stored under an older contract must not make the device list fail."""
    if not text:
        return None
    try:
        return DeviceStatus.model_validate_json(text)
    except ValidationError as exc:
        log.warning("a stored device status no longer reads as one: %s", exc.errors()[0]["msg"])
        return None


class Statuses:
    def __init__(
        self, db: Database, presence: Presence, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._presence = presence
        self._clock = clock

    def listing(self, tenant_id: str) -> list[DeviceListing]:
        """The tenant's devices, oldest first, with their online state and latest status."""
        now = self._clock()
        with self._db.read():
            devices = self._db.all(
                "SELECT d.*, p.name AS playlist, s.at AS status_at, s.status"
                " FROM devices d LEFT JOIN playlists p"
                " ON p.tenant_id = d.tenant_id AND p.id = d.playlist_id"
                " LEFT JOIN device_status s ON s.tenant_id = d.tenant_id AND s.device_id = d.id"
                " WHERE d.tenant_id = ? AND d.revoked_at IS NULL ORDER BY d.created_at, d.id",
                (tenant_id,),
            )
            groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
            for row in self._db.all(
                "SELECT m.device_id, g.id, g.name FROM group_members m JOIN groups g"
                " ON g.tenant_id = m.tenant_id AND g.id = m.group_id WHERE m.tenant_id = ?"
                " ORDER BY m.device_id, m.joined_seq, m.group_id",
                (tenant_id,),
            ):
                groups[row["device_id"]].append((row["id"], row["name"]))
            playlist_names = {
                row["id"]: row["name"]
                for row in self._db.all(
                    "SELECT id, name FROM playlists WHERE tenant_id = ?", (tenant_id,)
                )
            }
        listed = []
        for row in devices:
            status = DeviceStatus.model_validate_json(row["status"]) if row["status"] else None
            playing = status.playing if status is not None else None
            playing_playlist_id = playing.playlist_id if playing is not None else None
            listed.append(
                DeviceListing(
                    id=row["id"],
                    name=row["name"],
                    playlist_id=row["playlist_id"],
                    created_at=row["created_at"],
                    last_seen_at=row["last_seen_at"],
                    online=self._presence.online(
                        tenant_id, row["id"], last_seen_at=row["last_seen_at"], now=now
                    ),
                    playlist=row["playlist"],
                    group_ids=[group_id for group_id, _ in groups[row["id"]]],
                    groups=[name for _, name in groups[row["id"]]],
                    status_at=row["status_at"],
                    playing=playing.name if playing is not None else None,
                    playing_playlist_id=playing_playlist_id,
                    playing_playlist=playlist_names.get(playing_playlist_id or ""),
                )
            )
        return listed

    def detailed(self, tenant_id: str, detail: DeviceDetail) -> DeviceDetail:
        """`detail` with the device's online state, latest status and dropped events."""
        with self._db.read():
            row = self._db.one(
                "SELECT s.*, p.name AS playing_playlist FROM device_status s"
                " LEFT JOIN playlists p ON p.tenant_id = s.tenant_id"
                " AND p.id = json_extract(s.status, '$.playing.playlist_id')"
                " WHERE s.tenant_id = ? AND s.device_id = ?",
                (tenant_id, detail.id),
            )
            dropped = self._db.all(
                "SELECT what, SUM(count) AS count FROM dropped_events"
                " WHERE tenant_id = ? AND device_id = ? GROUP BY what ORDER BY what",
                (tenant_id, detail.id),
            )
        reported = None
        status = stored_status(row["status"]) if row is not None else None
        if row is not None and status is not None:
            reported = ReportedStatus(
                at=datetime.fromisoformat(row["at"]),
                received_at=datetime.fromisoformat(row["received_at"]),
                status=status,
                playing_playlist=row["playing_playlist"],
            )
        online = self._presence.online(
            tenant_id, detail.id, last_seen_at=detail.last_seen_at, now=self._clock()
        )
        return detail.model_copy(
            update={
                "online": online,
                "status": reported,
                "dropped_events": {r["what"]: r["count"] for r in dropped},
            }
        )


__all__ = ["Statuses", "stored_status"]
