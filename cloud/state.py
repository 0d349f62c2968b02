"""What a device reads: pages of changes since its cursor, or a full listing without one.

Two kinds of cursor, both opaque to the device (it sends back the last one it got):

    d1.<epoch>.<seq>                      delta: every change with a sequence number > seq
    d1.<epoch>.<seq>.<kind>.<id>          delta, mid-way: after (seq, kind, id) in log order
    f1.<epoch>.<start>.<kind>.<id>        full listing begun at `start`, after (kind, id)

`epoch` is the tenant's `sync_epoch`, so a cursor of another database (or a restored
backup of a different lineage) is refused rather than misread. A full listing names the
device's record, its playlist, then the playlist's assets by id; its last page carries the
delta cursor `d1.<epoch>.<start>`, so every change made while the listing was read is
replayed as a delta afterwards (harmless: versions tell old from new).

Every page is read in one read transaction and materialized from the current tables: a
change-log row (`cloud.changelog`) for an object that is gone or no longer concerns the
device becomes a tombstone. A delta's version is the sequence number of its log row; a
listed object's version is the tenant's sequence number when the page was read, which
already covers every change to it up to then. Pages are capped by count (`limit`) and by
bytes (`PAGE_BYTES`, half the smallest cap an agent accepts), and are serialized here
directly: a 10,000-item playlist costs one query and one `json.dumps`, not 10,000 models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from cloud.changelog import ChangeLog, chunks
from cloud.errors import Gone, NotFound
from cloud.store import Database, Row
from sync.models import DEFAULT_MAX_STATE_BYTES, MAX_CURSOR_CHARS, ChangeKind

# The byte budget of one page's changes: half of what the agent reads by default, so the
# envelope and a last large change always fit.
PAGE_BYTES = DEFAULT_MAX_STATE_BYTES // 2

DELTA_TAG = "d1"
LISTING_TAG = "f1"
# Order of a full listing: the device, its playlist, then the playlist's assets by id.
LISTING_RANK = {ChangeKind.DEVICE: 0, ChangeKind.PLAYLIST: 1, ChangeKind.ASSET: 2}
_SEQ = re.compile(r"[0-9]{1,16}")


class CursorGone(Gone):
    """410: the cursor is unknown, malformed, of another database, or older than retention."""


@dataclass(frozen=True)
class Position:
    """Where a cursor points: a delta after (seq[, kind, id]) or a listing begun at seq."""

    listing: bool
    epoch: str
    seq: int
    kind: str | None = None
    object_id: str | None = None

    def text(self) -> str:
        tag = LISTING_TAG if self.listing else DELTA_TAG
        cursor = f"{tag}.{self.epoch}.{self.seq}"
        if self.kind is not None:
            cursor += f".{self.kind}.{self.object_id}"
        return cursor


def parse_cursor(text: str) -> Position | None:
    """The position a cursor names, or None if it is not one this cloud makes."""
    if len(text) > MAX_CURSOR_CHARS:
        return None
    parts = text.split(".", 4)
    if len(parts) not in (3, 5) or parts[0] not in (DELTA_TAG, LISTING_TAG):
        return None
    tag, epoch, seq = parts[:3]
    if not epoch or not _SEQ.fullmatch(seq):
        return None
    if len(parts) == 3:
        if tag == LISTING_TAG:
            return None  # a listing's continuation always names the last key listed
        return Position(listing=False, epoch=epoch, seq=int(seq))
    kind, object_id = parts[3], parts[4]
    if kind not in LISTING_RANK or not object_id:
        return None
    return Position(
        listing=tag == LISTING_TAG, epoch=epoch, seq=int(seq), kind=kind, object_id=object_id
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def upsert(kind: str, object_id: str, version: int, data: dict[str, Any]) -> str:
    """One change as JSON text: an upsert."""
    return _dumps(
        {"kind": kind, "id": object_id, "version": version, "deleted": False, "data": data}
    )


def tombstone(kind: str, object_id: str, version: int) -> str:
    return _dumps(
        {"kind": kind, "id": object_id, "version": version, "deleted": True, "data": None}
    )


def page_body(*, cursor: str, full: bool, more: bool, changes: list[str]) -> bytes:
    """A `StatePage` as JSON bytes, from changes already serialized."""
    head = f'{{"cursor":{_dumps(cursor)},"full":{_dumps(full)},"more":{_dumps(more)},"changes":['
    return (head + ",".join(changes) + "]}").encode()


def _asset_data(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "sha256": row["sha256"],
        "media_type": row["media_type"],
        "size": row["size"],
    }


def _device_data(device: Row) -> dict[str, Any]:
    return {
        "id": device["id"],
        "name": device["name"],
        "tenant_id": device["tenant_id"],
        "playlist_id": device["playlist_id"],
    }


class _PageBuilder:
    """Changes added until the count or the byte budget is reached."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.changes: list[str] = []
        self.size = 0

    def add(self, change: str) -> bool:
        """Add `change` if it fits (the first always does); False when the page is full."""
        size = len(change.encode()) + 1
        if self.changes and (len(self.changes) >= self.limit or self.size + size > PAGE_BYTES):
            return False
        self.changes.append(change)
        self.size += size
        return True


class DeviceState:
    def __init__(self, db: Database, changelog: ChangeLog) -> None:
        self._db = db
        self._changelog = changelog

    def page(
        self, *, tenant_id: str, device_id: str, cursor: str | None, limit: int
    ) -> bytes | None:
        """The next page for `cursor` (None: start a full listing) as JSON bytes.

        None when a delta cursor has no change after it (the caller answers 204 or waits).
        Raises `CursorGone` for a cursor to answer 410, `NotFound` for a removed device.
        """
        with self._db.read():
            tenant = self._db.one(
                "SELECT revision, sync_epoch FROM tenants WHERE id = ?", (tenant_id,)
            )
            device = self._db.one(
                "SELECT id, name, tenant_id, playlist_id FROM devices"
                " WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
                (tenant_id, device_id),
            )
            if tenant is None or device is None:
                raise NotFound(f"no device {device_id}")
            now_seq, epoch = int(tenant["revision"]), str(tenant["sync_epoch"])
            if cursor is None:
                position = Position(listing=True, epoch=epoch, seq=now_seq)
            else:
                position = self._check(cursor, tenant_id, device_id, epoch, now_seq)
            if position.listing:
                return self._listing_page(device, position, now_seq, limit)
            return self._delta_page(device, position, now_seq, limit)

    def _check(
        self, cursor: str, tenant_id: str, device_id: str, epoch: str, now_seq: int
    ) -> Position:
        position = parse_cursor(cursor)
        if position is None or position.epoch != epoch or position.seq > now_seq:
            raise CursorGone(
                "this cursor is not one this cloud gave out: ask again without a cursor "
                "for a full listing"
            )
        if position.seq < self._changelog.horizon(tenant_id, device_id):
            raise CursorGone(
                "this cursor is older than the changes the cloud keeps: ask again without a "
                "cursor for a full listing"
            )
        return position

    # --- full listing ---------------------------------------------------------------------

    def _listing_page(self, device: Row, position: Position, now_seq: int, limit: int) -> bytes:
        tenant_id, playlist_id = device["tenant_id"], device["playlist_id"]
        after_rank = LISTING_RANK[ChangeKind(position.kind)] if position.kind else -1
        page = _PageBuilder(limit)
        last: tuple[str, str] | None = None
        more = False
        if after_rank < 0:
            page.add(upsert(ChangeKind.DEVICE, device["id"], now_seq, _device_data(device)))
            last = (ChangeKind.DEVICE, device["id"])
        if after_rank < 1 and playlist_id is not None:
            data = self._playlist_data(tenant_id, playlist_id)
            if data is not None:
                if page.add(upsert(ChangeKind.PLAYLIST, playlist_id, now_seq, data)):
                    last = (ChangeKind.PLAYLIST, playlist_id)
                else:
                    more = True
        if not more and playlist_id is not None:
            after_id = position.object_id if position.kind == ChangeKind.ASSET else ""
            assets = self._db.all(
                "SELECT id, name, sha256, media_type, size FROM assets"
                " WHERE tenant_id = ? AND id > ? AND id IN (SELECT asset_id FROM playlist_items"
                " WHERE tenant_id = ? AND playlist_id = ?) ORDER BY id LIMIT ?",
                (tenant_id, after_id, tenant_id, playlist_id, limit + 1),
            )
            for asset in assets:
                if not page.add(upsert(ChangeKind.ASSET, asset["id"], now_seq, _asset_data(asset))):
                    more = True
                    break
                last = (ChangeKind.ASSET, asset["id"])
        if more and last is not None:
            cursor = Position(True, position.epoch, position.seq, *last).text()
        else:
            more = False
            cursor = Position(False, position.epoch, position.seq).text()
        return page_body(cursor=cursor, full=True, more=more, changes=page.changes)

    # --- deltas ---------------------------------------------------------------------------

    def _delta_page(
        self, device: Row, position: Position, now_seq: int, limit: int
    ) -> bytes | None:
        tenant_id, device_id = device["tenant_id"], device["id"]
        if position.kind is None:
            rows = self._db.all(
                "SELECT seq, kind, object_id FROM device_changes"
                " WHERE tenant_id = ? AND device_id = ? AND seq > ?"
                " ORDER BY seq, kind, object_id LIMIT ?",
                (tenant_id, device_id, position.seq, limit + 1),
            )
        else:
            rows = self._db.all(
                "SELECT seq, kind, object_id FROM device_changes"
                " WHERE tenant_id = ? AND device_id = ?"
                " AND (seq > ? OR (seq = ? AND (kind, object_id) > (?, ?)))"
                " ORDER BY seq, kind, object_id LIMIT ?",
                (
                    tenant_id,
                    device_id,
                    position.seq,
                    position.seq,
                    position.kind,
                    position.object_id,
                    limit + 1,
                ),
            )
        if not rows:
            return None
        changes = self._materialize(device, rows[:limit])
        page = _PageBuilder(limit)
        emitted = 0
        for change in changes:
            if not page.add(change):
                break
            emitted += 1
        if emitted < len(rows):
            last = rows[emitted - 1]
            cursor = Position(False, position.epoch, last["seq"], last["kind"], last["object_id"])
            more = True
        else:
            cursor = Position(False, position.epoch, now_seq)
            more = False
        return page_body(cursor=cursor.text(), full=False, more=more, changes=page.changes)

    def _materialize(self, device: Row, rows: list[Row]) -> list[str]:
        """Each log row as an upsert of the object as it is now, or a tombstone."""
        tenant_id, playlist_id = device["tenant_id"], device["playlist_id"]
        asset_ids = [row["object_id"] for row in rows if row["kind"] == ChangeKind.ASSET]
        assets = self._held_assets(tenant_id, playlist_id, asset_ids)
        changes: list[str] = []
        for row in rows:
            kind, object_id, version = row["kind"], row["object_id"], row["seq"]
            data: dict[str, Any] | None = None
            if kind == ChangeKind.DEVICE and object_id == device["id"]:
                data = _device_data(device)
            elif kind == ChangeKind.PLAYLIST and object_id == playlist_id:
                data = self._playlist_data(tenant_id, object_id)
            elif kind == ChangeKind.ASSET:
                data = assets.get(object_id)
            if data is None:
                changes.append(tombstone(kind, object_id, version))
            else:
                changes.append(upsert(kind, object_id, version, data))
        return changes

    def _held_assets(
        self, tenant_id: str, playlist_id: str | None, asset_ids: list[str]
    ) -> dict[str, dict[str, Any]]:
        """{id: data} of those of `asset_ids` that exist and the playlist uses."""
        found: dict[str, dict[str, Any]] = {}
        if playlist_id is None:
            return found
        for chunk in chunks(asset_ids):
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT id, name, sha256, media_type, size FROM assets"  # noqa: S608 - placeholders
                f" WHERE tenant_id = ? AND id IN ({marks}) AND id IN"
                " (SELECT asset_id FROM playlist_items WHERE tenant_id = ? AND playlist_id = ?)"
            )
            for row in self._db.all(sql, (tenant_id, *chunk, tenant_id, playlist_id)):
                found[row["id"]] = _asset_data(row)
        return found

    def _playlist_data(self, tenant_id: str, playlist_id: str) -> dict[str, Any] | None:
        row = self._db.one(
            "SELECT id, name FROM playlists WHERE tenant_id = ? AND id = ?",
            (tenant_id, playlist_id),
        )
        if row is None:
            return None
        cursor = self._db.sqlite.conn.execute(
            "SELECT asset_id, position, duration_ms FROM playlist_items"
            " WHERE tenant_id = ? AND playlist_id = ? ORDER BY position",
            (tenant_id, playlist_id),
        )
        items = [
            {"asset_id": asset_id, "position": position, "duration_ms": duration_ms}
            for asset_id, position, duration_ms in cursor
        ]
        return {"id": row["id"], "name": row["name"], "items": items}


__all__ = [
    "PAGE_BYTES",
    "CursorGone",
    "DeviceState",
    "Position",
    "page_body",
    "parse_cursor",
    "tombstone",
    "upsert",
]
