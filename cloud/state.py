"""What a device reads: pages of changes since its cursor, or a full listing without one.

Two kinds of cursor, both opaque to the device (it sends back the last one it got):

    d1.<epoch>.<seq>                      delta: every change with a sequence number > seq
    d1.<epoch>.<seq>.<kind>.<id>          delta, mid-way: after (seq, kind, id) in log order
    f1.<epoch>.<start>.<kind>.<id>        full listing begun at `start`, after (kind, id)

`epoch` is the tenant's `sync_epoch`, so a cursor of another database (or a restored
backup of a different lineage) is refused rather than misread. A full listing names the
device's view (`cloud.views`) by kind, in `LISTING_ORDER` (device, groups, schedule entries,
interrupts, playlists, assets, commands), and by id within a kind; its last page carries the
delta cursor `d1.<epoch>.<start>`, so every change made while the listing was read is
replayed as a delta afterwards (harmless: versions tell old from new).

Every page is read in one read transaction and materialized from the current tables and the
device's current view: a change-log row (`cloud.changelog`) for an object that is gone or no
longer in the view becomes a tombstone (an interrupt past its `until` is out of the view).
A delta's version is the sequence number of its log row; a listed object's version is the
tenant's sequence number when the page was read, which already covers every change to it up
to then. Pages are capped by count (`limit`) and by bytes (`PAGE_BYTES`, half the smallest
cap an agent accepts), and are serialized here directly: a 10,000-item playlist costs one
query and one `json.dumps`, not 10,000 models.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloud.errors import Gone, NotFound
from cloud.store import Row
from cloud.views import LISTING_ORDER, View, ViewWriter, epoch_text
from sync.models import DEFAULT_MAX_STATE_BYTES, MAX_CURSOR_CHARS, ChangeKind

# The byte budget of one page's changes: half of what the agent reads by default, so the
# envelope and a last large change always fit.
PAGE_BYTES = DEFAULT_MAX_STATE_BYTES // 2

DELTA_TAG = "d1"
LISTING_TAG = "f1"
# Order of a full listing: by kind (`cloud.views.LISTING_ORDER`), then by id.
LISTING_RANK = {kind: rank for rank, kind in enumerate(LISTING_ORDER)}
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


class DeviceState(ViewWriter):
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
            view = self._views.one(tenant_id, device_id, now=epoch_text(self._clock()))
            if tenant is None or view is None:
                raise NotFound(f"no device {device_id}")
            now_seq, epoch = int(tenant["revision"]), str(tenant["sync_epoch"])
            if cursor is None:
                position = Position(listing=True, epoch=epoch, seq=now_seq)
            else:
                position = self._check(cursor, tenant_id, device_id, epoch, now_seq)
            if position.listing:
                return self._listing_page(tenant_id, view, position, now_seq, limit)
            return self._delta_page(tenant_id, view, position, now_seq, limit)

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

    def _listing_page(
        self, tenant_id: str, view: View, position: Position, now_seq: int, limit: int
    ) -> bytes:
        after_rank = LISTING_RANK[ChangeKind(position.kind)] if position.kind else -1
        page = _PageBuilder(limit)
        last: tuple[str, str] | None = None
        more = False
        for kind in LISTING_ORDER:
            rank = LISTING_RANK[kind]
            if rank < after_rank:
                continue
            after_id = (position.object_id or "") if rank == after_rank else ""
            room = limit - len(page.changes) + 1  # one more than fits: is there more?
            for object_id, data in self._listed(tenant_id, view, kind, after_id, room):
                if not page.add(upsert(kind, object_id, now_seq, data)):
                    more = True
                    break
                last = (kind, object_id)
            if more:
                break
        if more and last is not None:
            cursor = Position(True, position.epoch, position.seq, *last).text()
        else:
            more = False
            cursor = Position(False, position.epoch, position.seq).text()
        return page_body(cursor=cursor, full=True, more=more, changes=page.changes)

    def _listed(
        self, tenant_id: str, view: View, kind: ChangeKind, after_id: str, count: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The first `count` objects of `kind` in the view after `after_id`, by id."""
        views = self._views
        if kind == ChangeKind.ASSET:
            yield from views.listed_assets(
                tenant_id, view.playlist_ids, after_id=after_id, count=count
            )
            return
        ids = sorted(object_id for object_id in view.ids(kind) if object_id > after_id)[:count]
        if kind == ChangeKind.DEVICE:
            found = {view.device_id: views.device_data(tenant_id, view)} if ids else {}
        elif kind == ChangeKind.PLAYLIST:
            # One at a time: a page is often full after a few large playlists.
            for playlist_id in ids:
                data = views.playlist_data(tenant_id, playlist_id)
                if data is not None:
                    yield playlist_id, data
            return
        else:
            found = self._data(tenant_id, kind, ids)
        for object_id in ids:
            data = found.get(object_id)
            if data is not None:
                yield object_id, data

    def _data(self, tenant_id: str, kind: str, ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """{id: data} of groups, schedule entries, interrupts or commands."""
        views = self._views
        if kind == ChangeKind.GROUP:
            return dict(views.groups_data(tenant_id, ids))
        if kind == ChangeKind.SCHEDULE:
            return dict(views.entries_data(tenant_id, ids))
        if kind == ChangeKind.INTERRUPT:
            return dict(views.interrupts_data(tenant_id, ids))
        if kind == ChangeKind.COMMAND:
            return dict(views.commands_data(tenant_id, ids))
        return {}

    # --- deltas ---------------------------------------------------------------------------

    def _delta_page(
        self, tenant_id: str, view: View, position: Position, now_seq: int, limit: int
    ) -> bytes | None:
        device_id = view.device_id
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
        page = _PageBuilder(limit)
        emitted = 0
        for change in self._materialize(tenant_id, view, rows[:limit]):
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

    def _materialize(self, tenant_id: str, view: View, rows: list[Row]) -> Iterator[str]:
        """Each log row as an upsert of the object as it is now if the view holds it, else a
        tombstone; playlists are read as they are reached (a page may end before them)."""
        held: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            kind, object_id = row["kind"], row["object_id"]
            if kind == ChangeKind.ASSET or object_id in view.ids(kind):
                held[kind].append(object_id)
        found: dict[tuple[str, str], dict[str, Any] | None] = {}
        for kind, ids in held.items():
            if kind == ChangeKind.ASSET:
                data = self._views.assets_data(tenant_id, ids, view.playlist_ids)
            elif kind == ChangeKind.DEVICE:
                data = {view.device_id: self._views.device_data(tenant_id, view)}
            else:
                data = self._data(tenant_id, kind, ids)
            found.update(((kind, object_id), value) for object_id, value in data.items())
        for row in rows:
            kind, object_id, version = row["kind"], row["object_id"], row["seq"]
            if kind == ChangeKind.PLAYLIST and object_id in view.playlist_ids:
                change = self._views.playlist_data(tenant_id, object_id)
            else:
                change = found.get((kind, object_id))
            if change is None:
                yield tombstone(kind, object_id, version)
            else:
                yield upsert(kind, object_id, version, change)


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
