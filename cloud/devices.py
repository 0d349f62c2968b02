"""Devices (screens) of a tenant: created by an approved enrollment, given a playlist by an admin.

A device row holds the thumbprint (`jkt`) of the key the screen enrolled with: its tokens
are only accepted with proofs by that key. A device with `revoked_at` set is refused
everywhere, whatever tokens it still holds.

A rename or an assignment records the device's changes in the same transaction
(`cloud.changelog`): its record; on a new assignment also the old playlist (a tombstone),
the new one, and the assets that differ between the two (upserts for those it now needs,
tombstones for those it no longer does). Assets both playlists use are not sent again.
"""

from __future__ import annotations

from cloud.changelog import ChangeLog
from cloud.errors import NotFound
from cloud.playlists import no_playlist
from cloud.store import Database, Row, new_id, utc_now_iso
from sync.models import ChangeKind, DeviceSummary


def device_summary(row: Row) -> DeviceSummary:
    return DeviceSummary(
        id=row["id"],
        name=row["name"],
        playlist_id=row["playlist_id"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


def no_device(device_id: str) -> NotFound:
    return NotFound(f"no device {device_id} in this tenant: `signage-cloud devices` lists them")


class Devices:
    def __init__(self, db: Database, changelog: ChangeLog) -> None:
        self._db = db
        self._changelog = changelog

    def create(self, *, tenant_id: str, name: str, jkt: str) -> str:
        """Insert a device (and its first change); call inside the caller's write transaction.

        Returns its id."""
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
        seq = self._db.next_seq(tenant_id)
        self._changelog.record(tenant_id, seq, [device_id], [(ChangeKind.DEVICE, device_id)])
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
                raise no_device(device_id)
            self._db.execute(
                "UPDATE devices SET revoked_at = ? WHERE tenant_id = ? AND id = ?",
                (utc_now_iso(), tenant_id, device_id),
            )
            self._db.execute(
                "UPDATE refresh_tokens SET status = 'revoked'"
                " WHERE tenant_id = ? AND device_id = ?",
                (tenant_id, device_id),
            )
            self._db.next_seq(tenant_id)
            self._changelog.forget_device(tenant_id, device_id)  # ends its long-poll at once
        return device_summary(row)

    def rename(self, *, tenant_id: str, device_id: str, name: str) -> DeviceSummary:
        """Rename the device; it gets its record anew."""
        with self._db.write():
            if self.active(tenant_id=tenant_id, device_id=device_id) is None:
                raise no_device(device_id)
            self._db.execute(
                "UPDATE devices SET name = ? WHERE tenant_id = ? AND id = ?",
                (name, tenant_id, device_id),
            )
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, [device_id], [(ChangeKind.DEVICE, device_id)])
            row = self.active(tenant_id=tenant_id, device_id=device_id)
        assert row is not None
        return device_summary(row)

    def assign_playlist(
        self, *, tenant_id: str, device_id: str, playlist_id: str | None
    ) -> DeviceSummary:
        """Make the device play `playlist_id` (None: nothing); it gets what changes for it."""
        with self._db.write():
            row = self.active(tenant_id=tenant_id, device_id=device_id)
            if row is None:
                raise no_device(device_id)
            if playlist_id is not None and not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, playlist_id),
            ):
                raise no_playlist(playlist_id)
            old_playlist_id: str | None = row["playlist_id"]
            self._db.execute(
                "UPDATE devices SET playlist_id = ? WHERE tenant_id = ? AND id = ?",
                (playlist_id, tenant_id, device_id),
            )
            changed: list[tuple[ChangeKind, str]] = [(ChangeKind.DEVICE, device_id)]
            if old_playlist_id != playlist_id:
                changelog = self._changelog
                before = changelog.assets_of(tenant_id, old_playlist_id)
                after = changelog.assets_of(tenant_id, playlist_id)
                changed += [
                    (ChangeKind.PLAYLIST, some_id)
                    for some_id in (old_playlist_id, playlist_id)
                    if some_id is not None
                ]
                changed += [(ChangeKind.ASSET, asset_id) for asset_id in before ^ after]
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, [device_id], changed)
            row = self.active(tenant_id=tenant_id, device_id=device_id)
        assert row is not None
        return device_summary(row)


__all__ = ["Devices", "device_summary", "no_device"]
