"""A tenant's playlists: ordered items of its assets, played by the devices assigned them.

Each edit records, in its own transaction, the changes of the devices that play the
playlist (`cloud.changelog`): a rename or new durations change the playlist; new items
also add the assets they bring (upserts) and drop those no item uses any more
(tombstones). A playlist that no device plays concerns nobody, so editing it wakes nobody.
"""

from __future__ import annotations

import logging

from cloud.changelog import ChangeLog
from cloud.content import Content, item_duration_ms
from cloud.errors import Conflict, NotFound, Unprocessable
from cloud.store import Database, Row, new_id, utc_now_iso
from sync.models import (
    ChangeKind,
    NewPlaylist,
    NewPlaylistItem,
    PlaylistCreated,
    PlaylistDetail,
    PlaylistItem,
    PlaylistSummary,
)

log = logging.getLogger(__name__)

_PLAYLIST_WITH_COUNTS = (
    "SELECT p.id, p.name, p.created_at,"
    " (SELECT COUNT(*) FROM playlist_items i"
    "  WHERE i.tenant_id = p.tenant_id AND i.playlist_id = p.id) AS items,"
    " (SELECT COUNT(*) FROM devices d WHERE d.tenant_id = p.tenant_id"
    "  AND d.playlist_id = p.id AND d.revoked_at IS NULL) AS devices"
    " FROM playlists p"
)


def playlist_summary(row: Row) -> PlaylistSummary:
    return PlaylistSummary(
        id=row["id"],
        name=row["name"],
        items=row["items"],
        devices=row["devices"],
        created_at=row["created_at"],
    )


def no_playlist(playlist_id: str) -> NotFound:
    return NotFound(
        f"no playlist {playlist_id} in this tenant: `signage-cloud playlist list` lists them"
    )


class Playlists:
    def __init__(self, db: Database, *, content: Content, changelog: ChangeLog) -> None:
        self._db = db
        self._content = content
        self._changelog = changelog

    def _rows(
        self, tenant_id: str, playlist_id: str, items: list[NewPlaylistItem]
    ) -> list[tuple[str, str, int, str, int | None]]:
        """The item rows to insert; 422 naming the asset ids the tenant does not have."""
        asset_ids = sorted({item.asset_id for item in items})
        media_types = self._content.media_types(tenant_id, asset_ids)
        missing = [asset_id for asset_id in asset_ids if asset_id not in media_types]
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise Unprocessable(
                f"no asset {', '.join(missing[:3])}{more} in this tenant: "
                "upload it first with `signage-cloud asset add`"
            )
        return [
            (
                tenant_id,
                playlist_id,
                position,
                item.asset_id,
                item_duration_ms(item, media_types[item.asset_id]),
            )
            for position, item in enumerate(items)
        ]

    def _insert_items(self, rows: list[tuple[str, str, int, str, int | None]]) -> None:
        self._db.insert_many(
            "playlist_items",
            ("tenant_id", "playlist_id", "position", "asset_id", "duration_ms"),
            rows,
        )

    def _summary(self, tenant_id: str, playlist_id: str) -> PlaylistSummary:
        row = self._db.one(
            f"{_PLAYLIST_WITH_COUNTS} WHERE p.tenant_id = ? AND p.id = ?",
            (tenant_id, playlist_id),
        )
        if row is None:
            raise no_playlist(playlist_id)
        return playlist_summary(row)

    def create(self, *, tenant_id: str, playlist: NewPlaylist) -> PlaylistCreated:
        """Store a playlist whose items all name assets of the tenant (it concerns nobody yet)."""
        created = PlaylistCreated(id=new_id("pl"), name=playlist.name)
        with self._db.write():
            rows = self._rows(tenant_id, created.id, playlist.items)
            self._db.insert(
                "playlists",
                {
                    "id": created.id,
                    "tenant_id": tenant_id,
                    "name": created.name,
                    "created_at": utc_now_iso(),
                },
            )
            self._insert_items(rows)
        log.info(
            "tenant %s created playlist %s %r with %d items",
            tenant_id,
            created.id,
            created.name,
            len(playlist.items),
        )
        return created

    def list(self, tenant_id: str) -> list[PlaylistSummary]:
        """The tenant's playlists, oldest first, with their item and device counts."""
        rows = self._db.all(
            f"{_PLAYLIST_WITH_COUNTS} WHERE p.tenant_id = ? ORDER BY p.created_at, p.id",
            (tenant_id,),
        )
        return [playlist_summary(row) for row in rows]

    def show(self, *, tenant_id: str, playlist_id: str) -> PlaylistDetail:
        with self._db.read():
            summary = self._summary(tenant_id, playlist_id)
            items = [
                PlaylistItem(
                    asset_id=row["asset_id"],
                    position=row["position"],
                    duration_ms=row["duration_ms"],
                )
                for row in self._db.all(
                    "SELECT asset_id, position, duration_ms FROM playlist_items"
                    " WHERE tenant_id = ? AND playlist_id = ? ORDER BY position",
                    (tenant_id, playlist_id),
                )
            ]
            devices = self._changelog.devices_playing(tenant_id, [playlist_id])
        return PlaylistDetail(
            id=summary.id,
            name=summary.name,
            created_at=summary.created_at,
            items=items,
            devices=sorted(devices),
        )

    def set_items(
        self, *, tenant_id: str, playlist_id: str, items: list[NewPlaylistItem]
    ) -> PlaylistSummary:
        """Replace the playlist's items; its devices get it anew, plus the assets that came
        and tombstones for those that went."""
        with self._db.write():
            self._summary(tenant_id, playlist_id)
            rows = self._rows(tenant_id, playlist_id, items)
            changelog = self._changelog
            before = changelog.assets_of(tenant_id, playlist_id)
            self._db.execute(
                "DELETE FROM playlist_items WHERE tenant_id = ? AND playlist_id = ?",
                (tenant_id, playlist_id),
            )
            self._insert_items(rows)
            after = {item.asset_id for item in items}
            devices = changelog.devices_playing(tenant_id, [playlist_id])
            seq = self._db.next_seq(tenant_id)
            changelog.record(
                tenant_id,
                seq,
                devices,
                [(ChangeKind.PLAYLIST, playlist_id)]
                + [(ChangeKind.ASSET, asset_id) for asset_id in before ^ after],
            )
            summary = self._summary(tenant_id, playlist_id)
        log.info(
            "tenant %s set the %d items of playlist %s (%d devices play it)",
            tenant_id,
            len(items),
            playlist_id,
            len(devices),
        )
        return summary

    def rename(self, *, tenant_id: str, playlist_id: str, name: str) -> PlaylistSummary:
        with self._db.write():
            self._summary(tenant_id, playlist_id)
            self._db.execute(
                "UPDATE playlists SET name = ? WHERE tenant_id = ? AND id = ?",
                (name, tenant_id, playlist_id),
            )
            devices = self._changelog.devices_playing(tenant_id, [playlist_id])
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, devices, [(ChangeKind.PLAYLIST, playlist_id)])
            summary = self._summary(tenant_id, playlist_id)
        log.info("tenant %s renamed playlist %s to %r", tenant_id, playlist_id, name)
        return summary

    def delete(self, *, tenant_id: str, playlist_id: str) -> PlaylistSummary:
        """Delete a playlist nobody plays (409 while a device is assigned it)."""
        with self._db.write():
            summary = self._summary(tenant_id, playlist_id)
            if summary.devices:
                raise Conflict(
                    f"playlist {playlist_id} is assigned to {summary.devices} device(s): assign "
                    "them another playlist or none first (`signage-cloud device assign`)"
                )
            self._db.execute(
                "DELETE FROM playlist_items WHERE tenant_id = ? AND playlist_id = ?",
                (tenant_id, playlist_id),
            )
            # A removed device keeps its last assignment: let go of the playlist.
            self._db.execute(
                "UPDATE devices SET playlist_id = NULL"
                " WHERE tenant_id = ? AND playlist_id = ? AND revoked_at IS NOT NULL",
                (tenant_id, playlist_id),
            )
            self._db.execute(
                "DELETE FROM playlists WHERE tenant_id = ? AND id = ?", (tenant_id, playlist_id)
            )
            self._db.next_seq(tenant_id)
        log.info("tenant %s deleted playlist %s %r", tenant_id, playlist_id, summary.name)
        return summary


__all__ = ["Playlists", "no_playlist", "playlist_summary"]
