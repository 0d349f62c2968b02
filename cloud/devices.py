"""Devices (screens) of a tenant: created by an approved enrollment, given a playlist by an admin.

A device row holds the thumbprint (`jkt`) of the key the screen enrolled with: its tokens
are only accepted with proofs by that key. A device with `revoked_at` set is refused
everywhere, whatever tokens it still holds.

A rename, new settings or an assignment records the device's changes in the same
transaction (`cloud.changelog`): its record; on a new assignment also what entered or left
its view (`cloud.views.Fanout`): the old playlist (a tombstone, unless a group, an entry or
an interrupt still brings it), the new one, and the assets that differ between the two
sets of playlists. Assets it holds anyway are not sent again.
"""

from __future__ import annotations

from cloud.admin_models import DeviceSettings
from cloud.errors import NotFound
from cloud.playlists import no_playlist
from cloud.store import Row, new_id, utc_now_iso
from cloud.views import Fanout, ViewWriter, epoch_text
from sync.models import ChangeKind, DeviceRecord, DeviceSummary


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


class Devices(ViewWriter):
    def record(self, *, tenant_id: str, device_id: str) -> DeviceRecord:
        """The device's record, as the device itself receives it."""
        view = self._views.one(tenant_id, device_id, now=epoch_text(self._clock()))
        data = None if view is None else self._views.device_data(tenant_id, view)
        if data is None:
            raise no_device(device_id)
        return DeviceRecord.model_validate(data)

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
            # What was the device's alone goes with it: only its own view held it.
            for table in ("group_members", "schedule_entries", "interrupts"):
                self._db.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND device_id = ?",  # noqa: S608 - constants
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

    def set_settings(
        self, *, tenant_id: str, device_id: str, settings: DeviceSettings
    ) -> DeviceRecord:
        """Change the device's time zone, switching, rotation or volume; it gets its record
        anew. A rotation or volume given as None goes back to the screen's own."""
        given = settings.model_fields_set
        with self._db.write():
            row = self.active(tenant_id=tenant_id, device_id=device_id)
            if row is None:
                raise no_device(device_id)
            self._db.execute(
                "UPDATE devices SET timezone = ?, on_switch = ?, rotation = ?, volume = ?"
                " WHERE tenant_id = ? AND id = ?",
                (
                    settings.timezone or row["timezone"],
                    settings.on_switch or row["on_switch"],
                    settings.rotation if "rotation" in given else row["rotation"],
                    settings.volume if "volume" in given else row["volume"],
                    tenant_id,
                    device_id,
                ),
            )
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, [device_id], [(ChangeKind.DEVICE, device_id)])
            return self.record(tenant_id=tenant_id, device_id=device_id)

    def assign_playlist(
        self, *, tenant_id: str, device_id: str, playlist_id: str | None
    ) -> DeviceSummary:
        """Make `playlist_id` the device's default (None: none); it gets what changes for it."""
        with self._db.write():
            if self.active(tenant_id=tenant_id, device_id=device_id) is None:
                raise no_device(device_id)
            if playlist_id is not None and not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, playlist_id),
            ):
                raise no_playlist(playlist_id)
            fanout = Fanout(
                self._views,
                self._changelog,
                tenant_id,
                [device_id],
                now=epoch_text(self._clock()),
            )
            self._db.execute(
                "UPDATE devices SET playlist_id = ? WHERE tenant_id = ? AND id = ?",
                (playlist_id, tenant_id, device_id),
            )
            fanout.record(self._db.next_seq(tenant_id), [(ChangeKind.DEVICE, device_id)])
            row = self.active(tenant_id=tenant_id, device_id=device_id)
        assert row is not None
        return device_summary(row)


__all__ = ["Devices", "device_summary", "no_device"]
