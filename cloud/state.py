"""What a device sees: its snapshot (device, playlist, assets) and the cursor that names it.

The cursor is derived from the tenant's revision counter, which every admin write that can
change what a device sees bumps in its own transaction. Devices treat the cursor as an
opaque string: they send back the last one they applied, and get 204 No Content while it
is still current. The snapshot and its cursor are read in one transaction, so a snapshot
is never newer or older than the cursor it carries.
"""

from __future__ import annotations

from cloud.errors import NotFound
from cloud.store import Database
from sync.models import Asset, DeviceInfo, Playlist, PlaylistItem, StateSnapshot

CURSOR_PREFIX = "rev."


def cursor_for(revision: int) -> str:
    return f"{CURSOR_PREFIX}{revision}"


class DeviceState:
    def __init__(self, db: Database) -> None:
        self._db = db

    def current_cursor(self, tenant_id: str) -> str:
        row = self._db.one("SELECT revision FROM tenants WHERE id = ?", (tenant_id,))
        if row is None:
            raise NotFound(f"no tenant {tenant_id}")
        return cursor_for(row["revision"])

    def snapshot(self, *, tenant_id: str, device_id: str) -> StateSnapshot:
        with self._db.read():
            cursor = self.current_cursor(tenant_id)
            device = self._db.one(
                "SELECT id, name, tenant_id, playlist_id FROM devices"
                " WHERE tenant_id = ? AND id = ?",
                (tenant_id, device_id),
            )
            if device is None:
                raise NotFound(f"no device {device_id}")
            playlist, assets = self._playlist(tenant_id, device["playlist_id"])
        return StateSnapshot(
            cursor=cursor,
            device=DeviceInfo(id=device["id"], name=device["name"], tenant_id=tenant_id),
            playlist=playlist,
            assets=assets,
        )

    def _playlist(
        self, tenant_id: str, playlist_id: str | None
    ) -> tuple[Playlist | None, list[Asset]]:
        if playlist_id is None:
            return None, []
        row = self._db.one(
            "SELECT id, name FROM playlists WHERE tenant_id = ? AND id = ?",
            (tenant_id, playlist_id),
        )
        if row is None:
            return None, []
        items = [
            PlaylistItem(
                asset_id=item["asset_id"],
                position=item["position"],
                duration_ms=item["duration_ms"],
            )
            for item in self._db.all(
                "SELECT asset_id, position, duration_ms FROM playlist_items"
                " WHERE tenant_id = ? AND playlist_id = ? ORDER BY position",
                (tenant_id, playlist_id),
            )
        ]
        assets = [
            Asset(
                id=asset["id"],
                name=asset["name"],
                sha256=asset["sha256"],
                media_type=asset["media_type"],
                size=asset["size"],
            )
            for asset in self._db.all(
                "SELECT DISTINCT a.id, a.name, a.sha256, a.media_type, a.size"
                " FROM assets a JOIN playlist_items i"
                " ON i.tenant_id = a.tenant_id AND i.asset_id = a.id"
                " WHERE i.tenant_id = ? AND i.playlist_id = ? ORDER BY a.id",
                (tenant_id, playlist_id),
            )
        ]
        return Playlist(id=row["id"], name=row["name"], items=items), assets


__all__ = ["CURSOR_PREFIX", "DeviceState", "cursor_for"]
