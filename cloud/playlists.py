"""A tenant's playlists: ordered items of its assets, held by the devices whose view names them.

A device holds a playlist that is its default, its groups' default, or the playlist of one
of its (or its groups') schedule entries or interrupts (`cloud.views`). Each edit records,
in its own transaction, the changes of the devices that hold the playlist
(`cloud.changelog`): a rename or new durations or windows change the playlist; new items
also add the assets they bring (upserts) and drop those no item uses any more (tombstones),
each only for the devices that do not hold it through another playlist anyway. A playlist
that no device holds concerns nobody, so editing it wakes nobody.

An item may have a window (`valid_from`, `valid_until`: a date, a local date-time or an
instant, stored as the ISO text given); the device skips it outside that window.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

from cloud.admin_models import NewPlaylist, NewPlaylistItem
from cloud.changelog import ChangeLog
from cloud.content import Content, item_duration_ms
from cloud.errors import Conflict, NotFound, Unprocessable
from cloud.expiry import purge_expired
from cloud.store import Database, Row, new_id, utc_now_iso
from cloud.views import Views, epoch_text
from sync.models import (
    ChangeKind,
    PlaylistCreated,
    PlaylistDetail,
    PlaylistItem,
    PlaylistSummary,
)

log = logging.getLogger(__name__)

_PLAYLIST_WITH_ITEMS = (
    "SELECT p.id, p.name, p.created_at,"
    " (SELECT COUNT(*) FROM playlist_items i"
    "  WHERE i.tenant_id = p.tenant_id AND i.playlist_id = p.id) AS items"
    " FROM playlists p"
)

# (playlist, device) for every way a device of the tenant holds a playlist (cloud.views).
_HOLDERS = """
WITH alive AS (SELECT playlist_id, device_id, group_id FROM interrupts
               WHERE tenant_id = :tenant AND (until IS NULL OR until > :now)),
uses(playlist_id, device_id) AS (
    SELECT playlist_id, id FROM devices
    WHERE tenant_id = :tenant AND revoked_at IS NULL AND playlist_id IS NOT NULL
    UNION SELECT playlist_id, device_id FROM schedule_entries
    WHERE tenant_id = :tenant AND device_id IS NOT NULL
    UNION SELECT playlist_id, device_id FROM alive WHERE device_id IS NOT NULL
    UNION SELECT g.playlist_id, m.device_id FROM groups g JOIN group_members m
    ON m.tenant_id = g.tenant_id AND m.group_id = g.id
    WHERE g.tenant_id = :tenant AND g.playlist_id IS NOT NULL
    UNION SELECT e.playlist_id, m.device_id FROM schedule_entries e JOIN group_members m
    ON m.tenant_id = e.tenant_id AND m.group_id = e.group_id WHERE e.tenant_id = :tenant
    UNION SELECT a.playlist_id, m.device_id FROM alive a JOIN group_members m
    ON m.tenant_id = :tenant AND m.group_id = a.group_id
)
"""

_LIST = (
    _HOLDERS + "SELECT p.id, p.name, p.created_at,"  # noqa: S608 - constants
    " (SELECT COUNT(*) FROM playlist_items i"
    "  WHERE i.tenant_id = p.tenant_id AND i.playlist_id = p.id) AS items,"
    " COALESCE(h.devices, 0) AS devices FROM playlists p LEFT JOIN"
    " (SELECT playlist_id, COUNT(*) AS devices FROM uses GROUP BY playlist_id) AS h"
    " ON h.playlist_id = p.id WHERE p.tenant_id = :tenant ORDER BY p.created_at, p.id"
)

ItemRow = tuple[str, str, int, str, int | None, str | None, str | None]


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


def _moment_text(moment: object) -> str | None:
    return None if moment is None else moment.isoformat()  # type: ignore[attr-defined]


class Playlists:
    def __init__(
        self,
        db: Database,
        *,
        content: Content,
        changelog: ChangeLog,
        views: Views,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._content = content
        self._changelog = changelog
        self._views = views
        self._clock = clock

    def _now(self) -> str:
        return epoch_text(self._clock())

    def _rows(
        self, tenant_id: str, playlist_id: str, items: Sequence[NewPlaylistItem]
    ) -> list[ItemRow]:
        """The item rows to insert; 422 naming the asset ids the tenant does not have, or a
        stream's item without a duration (a stream has no end of its own)."""
        asset_ids = sorted({item.asset_id for item in items})
        media_types = self._content.media_types(tenant_id, asset_ids)
        missing = [asset_id for asset_id in asset_ids if asset_id not in media_types]
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise Unprocessable(
                f"no asset {', '.join(missing[:3])}{more} in this tenant: "
                "upload it first with `signage-cloud asset add`"
            )
        rows: list[ItemRow] = []
        for position, item in enumerate(items):
            try:
                duration_ms = item_duration_ms(item, media_types[item.asset_id])
            except ValueError as exc:  # a stream without a duration
                raise Unprocessable(f"items[{position}] ({item.asset_id}): {exc}") from exc
            rows.append(
                (
                    tenant_id,
                    playlist_id,
                    position,
                    item.asset_id,
                    duration_ms,
                    _moment_text(item.valid_from),
                    _moment_text(item.valid_until),
                )
            )
        return rows

    def _insert_items(self, rows: list[ItemRow]) -> None:
        self._db.insert_many(
            "playlist_items",
            (
                "tenant_id",
                "playlist_id",
                "position",
                "asset_id",
                "duration_ms",
                "valid_from",
                "valid_until",
            ),
            rows,
        )

    def _summary(self, tenant_id: str, playlist_id: str) -> PlaylistSummary:
        row = self._db.one(
            f"{_PLAYLIST_WITH_ITEMS} WHERE p.tenant_id = ? AND p.id = ?",
            (tenant_id, playlist_id),
        )
        if row is None:
            raise no_playlist(playlist_id)
        holders = self._views.holding_playlists(tenant_id, [playlist_id], now=self._now())
        return playlist_summary({**row, "devices": len(holders)})

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
        """The tenant's playlists, oldest first, with their item counts and how many
        devices hold each."""
        rows = self._db.all(_LIST, {"tenant": tenant_id, "now": self._now()})
        return [playlist_summary(row) for row in rows]

    def show(self, *, tenant_id: str, playlist_id: str) -> PlaylistDetail:
        with self._db.read():
            summary = self._summary(tenant_id, playlist_id)
            data = self._views.playlist_data(tenant_id, playlist_id)
            assert data is not None  # _summary found it in this transaction
            items = [PlaylistItem.model_validate(item) for item in data["items"]]
            devices = self._views.holding_playlists(tenant_id, [playlist_id], now=self._now())
        return PlaylistDetail(
            id=summary.id,
            name=summary.name,
            created_at=summary.created_at,
            items=items,
            devices=sorted(devices),
        )

    def set_items(
        self, *, tenant_id: str, playlist_id: str, items: Sequence[NewPlaylistItem]
    ) -> PlaylistSummary:
        """Replace the playlist's items; its devices get it anew, plus the assets that came
        and tombstones for those that went (for each device, those it holds no other way)."""
        with self._db.write():
            self._summary(tenant_id, playlist_id)
            rows = self._rows(tenant_id, playlist_id, items)
            changelog = self._changelog
            before = self._views.assets_of(tenant_id, [playlist_id])
            self._db.execute(
                "DELETE FROM playlist_items WHERE tenant_id = ? AND playlist_id = ?",
                (tenant_id, playlist_id),
            )
            self._insert_items(rows)
            after = {item.asset_id for item in items}
            devices = self._views.holding_playlists(tenant_id, [playlist_id], now=self._now())
            changes = self._item_changes(tenant_id, playlist_id, devices, before ^ after)
            changelog.record_each(tenant_id, self._db.next_seq(tenant_id), changes)
            summary = self._summary(tenant_id, playlist_id)
        log.info(
            "tenant %s set the %d items of playlist %s (%d devices hold it)",
            tenant_id,
            len(items),
            playlist_id,
            len(devices),
        )
        return summary

    def _item_changes(
        self, tenant_id: str, playlist_id: str, devices: set[str], assets: set[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """What new items change for each device holding the playlist: the playlist, and
        those of the `assets` that came or went which no other playlist it holds uses."""
        by_others: dict[frozenset[str], list[str]] = defaultdict(list)
        for device_id, view in self._views.of(tenant_id, devices, now=self._now()).items():
            by_others[view.playlist_ids - {playlist_id}].append(device_id)
        changes: dict[str, list[tuple[str, str]]] = {}
        for others, device_ids in by_others.items():
            kept = self._views.used_by(tenant_id, assets, others) if others else set()
            objects = [(str(ChangeKind.PLAYLIST), playlist_id)]
            objects += [(str(ChangeKind.ASSET), asset_id) for asset_id in assets - kept]
            changes.update((device_id, objects) for device_id in device_ids)
        return changes

    def rename(self, *, tenant_id: str, playlist_id: str, name: str) -> PlaylistSummary:
        with self._db.write():
            self._summary(tenant_id, playlist_id)
            self._db.execute(
                "UPDATE playlists SET name = ? WHERE tenant_id = ? AND id = ?",
                (name, tenant_id, playlist_id),
            )
            devices = self._views.holding_playlists(tenant_id, [playlist_id], now=self._now())
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, devices, [(ChangeKind.PLAYLIST, playlist_id)])
            summary = self._summary(tenant_id, playlist_id)
        log.info("tenant %s renamed playlist %s to %r", tenant_id, playlist_id, name)
        return summary

    def delete(self, *, tenant_id: str, playlist_id: str) -> PlaylistSummary:
        """Delete a playlist nothing refers to (409 while a device or a group has it as its
        default, or a schedule entry or an interrupt plays it)."""
        with self._db.write():
            summary = self._summary(tenant_id, playlist_id)
            purge_expired(
                self._db, self._views, self._changelog, tenant_id=tenant_id, now=self._now()
            )
            self._refuse_if_used(tenant_id, playlist_id)
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

    def _refuse_if_used(self, tenant_id: str, playlist_id: str) -> None:
        uses = self._db.one(
            "SELECT (SELECT COUNT(*) FROM devices WHERE tenant_id = :tenant"
            " AND playlist_id = :playlist AND revoked_at IS NULL) AS devices,"
            " (SELECT COUNT(*) FROM groups WHERE tenant_id = :tenant"
            " AND playlist_id = :playlist) AS groups,"
            " (SELECT COUNT(*) FROM schedule_entries WHERE tenant_id = :tenant"
            " AND playlist_id = :playlist) AS entries,"
            " (SELECT COUNT(*) FROM interrupts WHERE tenant_id = :tenant"
            " AND playlist_id = :playlist) AS interrupts",
            {"tenant": tenant_id, "playlist": playlist_id},
        )
        assert uses is not None
        refs = [
            (uses["devices"], "assigned to {} device(s)", "`signage-cloud device assign`"),
            (uses["groups"], "the default of {} group(s)", "`signage-cloud group assign`"),
            (uses["entries"], "played by {} schedule entries", "`signage-cloud schedule delete`"),
            (uses["interrupts"], "played by {} interrupt(s)", "`signage-cloud interrupt clear`"),
        ]
        found = [(what.format(count), fix) for count, what, fix in refs if count]
        if found:
            raise Conflict(
                f"playlist {playlist_id} is {', '.join(what for what, _ in found)}: give them "
                f"another playlist or none, or remove them, first "
                f"({', '.join(fix for _, fix in found)})"
            )


__all__ = ["Playlists", "no_playlist", "playlist_summary"]
