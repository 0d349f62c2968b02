"""Devices (screens) of a tenant: created by an approved enrollment, given a playlist by an admin.

A device row holds the thumbprint (`jkt`) of the key the screen enrolled with: its tokens
are only accepted with proofs by that key. A device with `revoked_at` set is refused
everywhere, whatever tokens it still holds.
"""

from __future__ import annotations

from cloud.errors import NotFound
from cloud.store import Database, Row, new_id, utc_now_iso
from sync.models import DeviceSummary


def device_summary(row: Row) -> DeviceSummary:
    return DeviceSummary(
        id=row["id"],
        name=row["name"],
        playlist_id=row["playlist_id"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


class Devices:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, *, tenant_id: str, name: str, jkt: str) -> str:
        """Insert a device; call inside the caller's write transaction. Returns its id."""
        device_id = new_id("dev")
        self._db.insert(
            "devices",
            {
                "id": device_id,
                "tenant_id": tenant_id,
                "name": name,
                "jkt": jkt,
                "playlist_id": None,
                "created_at": utc_now_iso(),
                "last_seen_at": None,
                "revoked_at": None,
            },
        )
        return device_id

    def active(self, *, tenant_id: str, device_id: str) -> Row | None:
        """The device if it exists in the tenant and was not revoked."""
        return self._db.one(
            "SELECT * FROM devices WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
            (tenant_id, device_id),
        )

    def touch(self, *, tenant_id: str, device_id: str) -> None:
        """Record that the device was just heard from."""
        with self._db.write():
            self._db.execute(
                "UPDATE devices SET last_seen_at = ? WHERE tenant_id = ? AND id = ?",
                (utc_now_iso(), tenant_id, device_id),
            )

    def list(self, tenant_id: str) -> list[DeviceSummary]:
        rows = self._db.all(
            "SELECT * FROM devices WHERE tenant_id = ? AND revoked_at IS NULL"
            " ORDER BY created_at, id",
            (tenant_id,),
        )
        return [device_summary(row) for row in rows]

    def remove(self, *, tenant_id: str, device_id: str) -> DeviceSummary:
        """Remove the device: its tokens stop working at once and it is told it was removed."""
        with self._db.write():
            row = self.active(tenant_id=tenant_id, device_id=device_id)
            if row is None:
                raise NotFound(
                    f"no device {device_id} in this tenant: `signage-cloud devices` lists them"
                )
            self._db.execute(
                "UPDATE devices SET revoked_at = ? WHERE tenant_id = ? AND id = ?",
                (utc_now_iso(), tenant_id, device_id),
            )
            self._db.execute(
                "UPDATE refresh_tokens SET status = 'revoked'"
                " WHERE tenant_id = ? AND device_id = ?",
                (tenant_id, device_id),
            )
            self._db.bump_revision(tenant_id)  # ends the device's long-poll at once
        return device_summary(row)

    def assign_playlist(
        self, *, tenant_id: str, device_id: str, playlist_id: str | None
    ) -> DeviceSummary:
        """Make the device play `playlist_id` (None: nothing); its cursor moves."""
        with self._db.write():
            if self.active(tenant_id=tenant_id, device_id=device_id) is None:
                raise NotFound(
                    f"no device {device_id} in this tenant: `signage-cloud devices` lists them"
                )
            if playlist_id is not None and not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, playlist_id),
            ):
                raise NotFound(
                    f"no playlist {playlist_id} in this tenant: "
                    "create one with `signage-cloud playlist create`"
                )
            self._db.execute(
                "UPDATE devices SET playlist_id = ? WHERE tenant_id = ? AND id = ?",
                (playlist_id, tenant_id, device_id),
            )
            self._db.bump_revision(tenant_id)
            row = self.active(tenant_id=tenant_id, device_id=device_id)
        assert row is not None
        return device_summary(row)


__all__ = ["Devices", "device_summary"]
