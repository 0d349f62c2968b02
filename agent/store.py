"""The agent's local state in SQLite: identity, tokens, the synced content and the play log.

Small values live in the `meta` table under the names of `Meta`; nothing else reads or
writes that table by a bare string.

One writer: the daemon owns the read-write connection (WAL, short `BEGIN IMMEDIATE`
transactions). `signage-agent status` opens the same file read-only, so it works while the
daemon runs. A snapshot is applied in one transaction together with its cursor, so a crash
leaves either the old state and cursor or the new ones, never half of each.

The file holds the device's tokens, so it is created 0600 inside a 0700 state folder.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.errors import StoreError
from player.schedule import ScheduleState
from sync.client import DeviceTokens
from sync.delta import Held, Key, keys_of, plan_page
from sync.models import (
    Asset,
    ChangeKind,
    Command,
    DeviceRecord,
    Group,
    Interrupt,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
    StatePage,
    WireModel,
)

DB_FILE_NAME = "agent.db"
# The play log keeps the newest events only, until proof-of-play upload exists to empty it:
# a screen changing items every 10 s writes about 17,000 events a day.
PLAY_EVENTS_KEPT = 20_000


def json_or_none(raw: str | None) -> Any:
    """A stored JSON value, or None when absent or unreadable."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class Meta(StrEnum):
    """The names of the values kept in the `meta` table."""

    ACCESS_TOKEN = "access_token"  # noqa: S105 (a key name, not a secret)
    REFRESH_TOKEN = "refresh_token"  # noqa: S105
    DEVICE_ID = "device_id"
    TENANT_ID = "tenant_id"
    DEVICE_NAME = "device_name"
    ENROLLMENT_CODE = "enrollment_code"
    ENROLLMENT_URI = "enrollment_uri"
    PENDING_GRANT = "pending_grant"  # JSON: the RFC 8628 grant on screen, and when it came
    CURSOR = "cursor"
    LAST_SYNC_AT = "last_sync_at"  # when the content last changed from a cloud answer
    CLOCK_OFFSET_S = "clock_offset_s"  # the cloud's clock minus ours
    NOW_PLAYING = "now_playing"  # JSON: name, sha256, since
    CONNECTION = "connection"  # JSON: see agent.connection.ConnectionState
    DOWNLOADS = "downloads"  # JSON: see agent.downloads.Downloader.progress
    CACHE = "cache"  # JSON: used_bytes, blobs, limit_bytes
    SCREEN_MESSAGE = "screen_message"  # JSON: title, headline, lines, shown when nothing plays
    SCHEDULE = "schedule"  # JSON: see agent.schedule_runner.ScheduleRunner: what plays and why
    OPEN_PLAY = "open_play"  # JSON: the item on screen, until its play event goes to the outbox
    # the audio volume in effect: what the last `set-volume` command (agent.commands) or
    # change of the device's volume setting (agent.screen_settings) asked for
    VOLUME = "volume"
    VOLUME_SETTING = "volume_setting"  # the device's volume setting last applied, or "none"


_TOKEN_KEYS = (Meta.ACCESS_TOKEN, Meta.REFRESH_TOKEN, Meta.DEVICE_ID, Meta.TENANT_ID)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _m001_initial(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["assets"].create(
        {"id": str, "name": str, "sha256": str, "media_type": str, "size": int}, pk="id"
    )
    db["playlist"].create({"id": str, "name": str}, pk="id")
    db["playlist_items"].create(
        {"playlist_id": str, "position": int, "asset_id": str, "duration_ms": int},
        pk=("playlist_id", "position"),
    )
    db["play_events"].create(
        {
            "id": int,
            "event": str,  # started | ended | failed
            "item_key": str,
            "name": str,
            "sha256": str,
            "at": str,
            "played_ms": int,
            "detail": str,
        },
        pk="id",
    )


def _m002_delta_sync(db: sqlite_utils.Database) -> None:
    """Objects by kind and id with versions (delta sync), several playlists, the device record.

    The snapshot's one `playlist` row becomes a row of `playlists` and the device's assigned
    playlist; the cursor is dropped, since a snapshot cursor means nothing to delta sync: the
    next answer is a full listing, which reconciles what is kept here.
    """
    db["objects"].create(
        {"kind": str, "id": str, "version": int, "deleted": int}, pk=("kind", "id")
    )
    db["playlists"].create({"id": str, "name": str}, pk="id")
    db["device"].create({"id": str, "name": str, "tenant_id": str, "playlist_id": str}, pk="id")
    db["listing_seen"].create({"kind": str, "id": str}, pk=("kind", "id"))
    db.execute("INSERT INTO playlists (id, name) SELECT id, name FROM playlist")
    old = db.execute("SELECT id FROM playlist LIMIT 1").fetchone()
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("device_id") and meta.get("tenant_id"):
        db["device"].insert(
            {
                "id": meta["device_id"],
                "name": meta.get("device_name") or "",
                "tenant_id": meta["tenant_id"],
                "playlist_id": old[0] if old else None,
            }
        )
    db["playlist"].drop()
    db.execute("DELETE FROM meta WHERE key = 'cursor'")
    db["playlist_items"].create_index(["asset_id"])


def _m003_schedules(db: sqlite_utils.Database) -> None:
    """Groups, schedule entries and interrupts, kept as their JSON in `objects.data` (as is
    the device's record, now with its groups and settings); item windows on playlist items.

    The cursor is dropped: what the cloud sent before this agent knew these kinds was
    skipped, so the next answer is a full listing, which brings it all.
    """
    db.execute("ALTER TABLE objects ADD COLUMN data TEXT")
    db.execute("ALTER TABLE playlist_items ADD COLUMN valid_from TEXT")
    db.execute("ALTER TABLE playlist_items ADD COLUMN valid_until TEXT")
    db.execute("DELETE FROM meta WHERE key = 'cursor'")


def _m004_outbox(db: sqlite_utils.Database) -> None:
    """The outbox (agent.outbox): events for the cloud, in the order they were written, each
    under the UUID the cloud stores it by; and the commands received, with their state, so
    that none runs twice (agent.commands)."""
    db.execute(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
        " type TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX outbox_by_type ON outbox (type, seq)")
    db.execute(
        "CREATE TABLE command_runs (command_id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
        " state TEXT NOT NULL, received_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,"
        " detail TEXT)"
    )


def _m005_streams(db: sqlite_utils.Database) -> None:
    """Streams: an asset's `url` (a stream has no blob; its sha256 is that of the URL)."""
    db.execute("ALTER TABLE assets ADD COLUMN url TEXT")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_delta_sync", _m002_delta_sync),
    ("003_schedules", _m003_schedules),
    ("004_outbox", _m004_outbox),
    ("005_streams", _m005_streams),
]

# Kinds kept whole as JSON in `objects.data` (assets and playlists have tables of their own).
JSON_KINDS: dict[str, type[WireModel]] = {
    ChangeKind.DEVICE: DeviceRecord,
    ChangeKind.GROUP: Group,
    ChangeKind.SCHEDULE: ScheduleEntry,
    ChangeKind.INTERRUPT: Interrupt,
    ChangeKind.COMMAND: Command,  # read by agent.commands (`Store.commands`)
}


@dataclass(frozen=True)
class PageResult:
    """What applying one page did."""

    applied: int  # changes applied
    stale: int  # changes older than what was held, ignored
    reconciled: int  # objects deleted because a completed full listing did not name them
    unknown_kinds: dict[str, int]  # kinds this agent does not know -> changes skipped
    screen_changed: bool  # something that decides what plays, or how, changed


@dataclass(frozen=True)
class CommandRun:
    """A command this device has answered or is answering (table `command_runs`)."""

    command_id: str
    kind: str
    state: str  # a sync.models.CommandState value
    received_at: str
    started_at: str | None
    finished_at: str | None
    detail: str | None


@dataclass(frozen=True)
class CachedItem:
    """A playlist entry joined with its asset, as the player needs it."""

    playlist_id: str
    position: int
    asset_id: str
    name: str
    sha256: str
    media_type: str
    duration_ms: int | None
    url: str | None = None  # a stream's; files play from the cache


class Store:
    """The single owner of the agent database's write connection."""

    def __init__(self, db: sqlite_utils.Database, *, read_only: bool) -> None:
        self.db = db
        self.read_only = read_only
        self._closed = False

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = state_dir / DB_FILE_NAME
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        # Keep the WAL small on a small SD card: checkpoint every ~1 MiB and truncate the file
        # back to 1 MiB after, instead of letting it keep its largest size.
        conn.execute("PRAGMA wal_autocheckpoint=256")
        conn.execute(f"PRAGMA journal_size_limit={1 << 20}")
        conn.execute("PRAGMA foreign_keys=ON")
        store = cls(sqlite_utils.Database(conn), read_only=False)
        store._migrate()
        return store

    @classmethod
    def open_read_only(cls, state_dir: Path) -> Store | None:
        """The store for inspection, or None until the agent has created it in this folder."""
        path = state_dir / DB_FILE_NAME
        if not path.exists():
            return None
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        store = cls(sqlite_utils.Database(conn), read_only=True)
        if not store._migrated():
            store.close()  # the agent is creating it right now: nothing to read yet
            return None
        return store

    def _migrated(self) -> bool:
        """True once every migration this version knows has been applied."""
        if "_migrations" not in self.db.table_names():
            return False
        applied = {row[0] for row in self.db.execute("SELECT name FROM _migrations").fetchall()}
        return applied >= {name for name, _ in MIGRATIONS}

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if not self._closed:
            self._closed = True
            self.db.conn.close()

    @contextmanager
    def transaction(self, what: str = "write to the store") -> Iterator[sqlite_utils.Database]:
        """One write transaction. A database that refuses it (a full disk, a locked or broken
        file) raises `StoreError` saying `what` failed, and leaves everything as it was."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot {what}: {exc}") from exc

    def _migrate(self) -> None:
        if "_migrations" not in self.db.table_names():
            self.db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
        applied = {row["name"] for row in self.db["_migrations"].rows}
        for name, migration in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction() as db:
                migration(db)
                db["_migrations"].insert({"name": name, "applied_at": _now()})

    # --- key/value ----------------------------------------------------------------------

    def get(self, key: Meta) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [str(key)]).fetchone()
        return row[0] if row else None

    def get_json(self, key: Meta) -> Any:
        """The JSON value under `key`, or None when absent or unreadable."""
        return json_or_none(self.get(key))

    def meta(self) -> dict[str, str]:
        """Every meta value by name (for `status`)."""
        return {row[0]: row[1] for row in self.db.execute("SELECT key, value FROM meta")}

    def set_many(self, values: dict[Meta, str | None]) -> None:
        with self.transaction(f"save {', '.join(values)}") as db:
            self._set_many(db, values)

    def set_json(self, key: Meta, value: Any) -> None:
        self.set_many({key: None if value is None else json.dumps(value)})

    @staticmethod
    def _set_many(db: sqlite_utils.Database, values: dict[Meta, str | None]) -> None:
        Store.set_within(db, values)

    @staticmethod
    def set_within(db: sqlite_utils.Database, values: dict[Meta, str | None]) -> None:
        """`set_many` inside the caller's transaction (`with store.transaction() as db`)."""
        for key, value in values.items():
            if value is None:
                db.execute("DELETE FROM meta WHERE key = ?", [key])
            else:
                db["meta"].upsert({"key": key, "value": value}, pk="key")

    # --- identity -------------------------------------------------------------------------

    def tokens(self) -> DeviceTokens | None:
        values = {str(key): self.get(key) for key in _TOKEN_KEYS}
        if any(value is None for value in values.values()):
            return None
        return DeviceTokens(**values)  # type: ignore[arg-type]

    def save_tokens(self, tokens: DeviceTokens | None) -> None:
        """Persist the client's tokens; None drops them (the device was revoked).

        Content and cursor stay when tokens are dropped: only the cloud saying the device
        was removed wipes them (`forget_device`).
        """
        if tokens is None:
            self.set_many({Meta.ACCESS_TOKEN: None, Meta.REFRESH_TOKEN: None})
            return
        self.set_many(
            {
                Meta.ACCESS_TOKEN: tokens.access_token,
                Meta.REFRESH_TOKEN: tokens.refresh_token,
                Meta.DEVICE_ID: tokens.device_id,
                Meta.TENANT_ID: tokens.tenant_id,
                Meta.ENROLLMENT_CODE: None,
                Meta.ENROLLMENT_URI: None,
                Meta.PENDING_GRANT: None,
            }
        )

    def forget_device(self) -> None:
        """Forget the device and everything its tenant gave it (the cloud removed it)."""
        with self.transaction() as db:
            for table in ("playlist_items", "playlists", "assets", "device", "objects",
                          "listing_seen", "play_events", "outbox", "command_runs",
                          "meta"):  # fmt: skip
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed table names)

    # --- content (delta sync) -------------------------------------------------------------

    def apply_page(self, page: StatePage, *, starts_listing: bool) -> PageResult:
        """Apply one page of changes and store its cursor, in one transaction.

        `starts_listing`: the page answers a request without a cursor, so it begins a full
        listing (what earlier listings named is forgotten). The work is proportional to the
        page: versions are read for the objects it names only. A database that refuses it
        (a full disk, a broken file) raises `StoreError` and leaves the old state.
        """
        with self.transaction(f"store changes up to {page.cursor[:40]!r}") as db:
            return self._apply_page(db, page, starts_listing)

    def _apply_page(
        self, db: sqlite_utils.Database, page: StatePage, starts_listing: bool
    ) -> PageResult:
        if starts_listing:
            db.execute("DELETE FROM listing_seen")
        plan = plan_page(page, self._held(db, keys_of(page.changes)))
        touched: set[Key] = set()
        for key, version, obj in plan.upserts:
            self._upsert(db, key, version, obj)
            touched.add(key)
        for key, version in plan.deletes:
            self._delete(db, key, version)
            touched.add(key)
        if page.full:
            db["listing_seen"].upsert_all(
                ({"kind": kind, "id": id_} for kind, id_ in plan.listed), pk=("kind", "id")
            )
        reconciled = 0
        if page.full and not page.more:  # the listing is complete: drop what it did not name
            gone = db.execute(
                """SELECT o.kind, o.id, o.version FROM objects o
                   LEFT JOIN listing_seen s ON s.kind = o.kind AND s.id = o.id
                   WHERE o.deleted = 0 AND s.id IS NULL"""
            ).fetchall()
            for kind, id_, version in gone:
                self._delete(db, (kind, id_), version)
                touched.add((kind, id_))
            reconciled = len(gone)
            db.execute("DELETE FROM listing_seen")
        values: dict[Meta, str | None] = {Meta.CURSOR: page.cursor}
        if touched:
            values[Meta.LAST_SYNC_AT] = _now()
        record = db.execute("SELECT name FROM device LIMIT 1").fetchone()
        if record is not None:
            values[Meta.DEVICE_NAME] = record[0]
        self._set_many(db, values)
        return PageResult(
            applied=len(plan.upserts) + len(plan.deletes),
            stale=plan.stale,
            reconciled=reconciled,
            unknown_kinds=plan.unknown_kinds,
            screen_changed=bool(touched),
        )

    @staticmethod
    def _held(db: sqlite_utils.Database, keys: list[Key]) -> dict[Key, Held]:
        """What is held of `keys`: one indexed lookup per kind and 500 ids."""
        by_kind: dict[str, list[str]] = {}
        for kind, id_ in keys:
            by_kind.setdefault(kind, []).append(id_)
        held: dict[Key, Held] = {}
        for kind, ids in by_kind.items():
            for start in range(0, len(ids), 500):  # within SQLite's bound-variable limit
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for id_, version, deleted in db.execute(
                    f"SELECT id, version, deleted FROM objects WHERE kind = ? AND id IN ({marks})",  # noqa: S608
                    [kind, *chunk],
                ):
                    held[(kind, id_)] = Held(version, bool(deleted))
        return held

    @staticmethod
    def _upsert(db: sqlite_utils.Database, key: Key, version: int, obj: WireModel) -> None:
        kind, id_ = key
        if isinstance(obj, Asset):
            db["assets"].upsert(obj.model_dump(), pk="id")
        elif isinstance(obj, Playlist):
            db["playlists"].upsert({"id": obj.id, "name": obj.name}, pk="id")
            db.execute("DELETE FROM playlist_items WHERE playlist_id = ?", [obj.id])
            db["playlist_items"].insert_all(
                {"playlist_id": obj.id, **item.model_dump(mode="json")} for item in obj.items
            )
        elif isinstance(obj, DeviceRecord):
            db.execute("DELETE FROM device")  # one device per store
            db["device"].insert(
                {
                    "id": obj.id,
                    "name": obj.name,
                    "tenant_id": obj.tenant_id,
                    "playlist_id": obj.playlist_id,
                }
            )
        data = obj.model_dump_json() if kind in JSON_KINDS else None
        db["objects"].upsert(
            {"kind": kind, "id": id_, "version": version, "deleted": 0, "data": data},
            pk=("kind", "id"),
        )

    @staticmethod
    def _delete(db: sqlite_utils.Database, key: Key, version: int) -> None:
        kind, id_ = key
        if kind == ChangeKind.ASSET:
            db.execute("DELETE FROM assets WHERE id = ?", [id_])
        elif kind == ChangeKind.PLAYLIST:
            db.execute("DELETE FROM playlist_items WHERE playlist_id = ?", [id_])
            db.execute("DELETE FROM playlists WHERE id = ?", [id_])
        elif kind == ChangeKind.DEVICE:
            db.execute("DELETE FROM device WHERE id = ?", [id_])
        db["objects"].upsert(
            {"kind": kind, "id": id_, "version": version, "deleted": 1, "data": None},
            pk=("kind", "id"),
        )

    def held_versions(self) -> dict[Key, Held]:
        """Every object held, tombstones included (for tests and diagnostics)."""
        return {
            (kind, id_): Held(version, bool(deleted))
            for kind, id_, version, deleted in self.db.execute(
                "SELECT kind, id, version, deleted FROM objects"
            )
        }

    def playlist_name(self, playlist_id: str | None) -> str | None:
        if playlist_id is None:
            return None
        row = self.db.execute("SELECT name FROM playlists WHERE id = ?", [playlist_id]).fetchone()
        return row[0] if row else None

    def playlist_items(self, playlist_id: str | None) -> list[CachedItem]:
        """The items of a playlist whose asset is known, in order (all of them: windows are
        the schedule's business, see `player.schedule`)."""
        if playlist_id is None:
            return []
        rows = self.db.execute(
            """SELECT i.playlist_id, i.position, a.id, a.name, a.sha256, a.media_type,
                      i.duration_ms, a.url
               FROM playlist_items i
               JOIN assets a ON a.id = i.asset_id
               WHERE i.playlist_id = ?
               ORDER BY i.position""",
            [playlist_id],
        ).fetchall()
        return [CachedItem(*row) for row in rows]

    def entry_asset(self, playlist_id: str, position: int) -> str | None:
        """The asset id of one playlist entry, or None when it is not held (one lookup)."""
        row = self.db.execute(
            "SELECT asset_id FROM playlist_items WHERE playlist_id = ? AND position = ?",
            [playlist_id, position],
        ).fetchone()
        return row[0] if row else None

    def referenced_blobs(self, first_playlist_id: str | None = None) -> dict[str, int]:
        """sha256 -> announced size of every blob of every playlist held (the schedule may
        play any of them, offline), those of `first_playlist_id` first, in play order.
        Streams have no blob."""
        rows = self.db.execute(
            """SELECT a.sha256, MAX(a.size)
               FROM playlist_items i
               JOIN assets a ON a.id = i.asset_id
               WHERE a.media_type != 'stream'
               GROUP BY a.sha256
               ORDER BY MIN(CASE WHEN i.playlist_id = ? THEN i.position
                                 ELSE 4294967296 + i.position END), a.sha256""",
            [first_playlist_id],
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def device_record(self) -> DeviceRecord | None:
        """The device's own record as last synced; None before it came (or unreadable)."""
        row = self.db.execute(
            "SELECT data FROM objects WHERE kind = 'device' AND deleted = 0 AND data IS NOT NULL"
            " LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        try:
            return DeviceRecord.model_validate_json(row[0])
        except ValueError:
            return None

    def schedule_state(self) -> ScheduleState | None:
        """What `player.schedule.evaluate` reads, from what is held; None before the device's
        record arrived. Objects were validated when they entered; a stored one that no longer
        reads (a downgrade) is skipped rather than stopping the screen."""
        objects: dict[str, list[WireModel]] = {kind: [] for kind in JSON_KINDS}
        for kind, data in self.db.execute(
            "SELECT kind, data FROM objects WHERE deleted = 0 AND data IS NOT NULL"
            " AND kind IN ('device', 'group', 'schedule', 'interrupt') ORDER BY kind, id"
        ):
            try:
                objects[kind].append(JSON_KINDS[kind].model_validate_json(data))
            except ValueError:
                continue
        devices = objects[ChangeKind.DEVICE]
        device = devices[0] if devices else self._legacy_device()
        if not isinstance(device, DeviceRecord):
            return None
        groups = {g.id: g for g in objects[ChangeKind.GROUP] if isinstance(g, Group)}
        entries = [e for e in objects[ChangeKind.SCHEDULE] if isinstance(e, ScheduleEntry)]
        interrupts = [i for i in objects[ChangeKind.INTERRUPT] if isinstance(i, Interrupt)]
        wanted = {device.playlist_id, *(g.playlist_id for g in groups.values())}
        wanted |= {e.playlist_id for e in entries} | {i.playlist_id for i in interrupts}
        wanted.discard(None)
        return ScheduleState(
            device=device,
            groups=groups,
            entries=entries,
            interrupts=interrupts,
            playlists={p.id: p for p in map(self._playlist, sorted(wanted)) if p is not None},  # type: ignore[arg-type]
        )

    def _legacy_device(self) -> DeviceRecord | None:
        """The record stored before records were kept whole (migration 003), if any."""
        row = self.db.execute(
            "SELECT id, name, tenant_id, playlist_id FROM device LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return DeviceRecord.model_construct(
            id=row[0], name=row[1], tenant_id=row[2], playlist_id=row[3], group_ids=[],
            timezone="UTC", on_switch="cut",
        )  # fmt: skip

    def _playlist(self, playlist_id: str) -> Playlist | None:
        row = self.db.execute("SELECT name FROM playlists WHERE id = ?", [playlist_id]).fetchone()
        if row is None:
            return None
        items: list[PlaylistItem] = []
        for asset_id, position, duration_ms, valid_from, valid_until in self.db.execute(
            "SELECT asset_id, position, duration_ms, valid_from, valid_until FROM playlist_items"
            " WHERE playlist_id = ? ORDER BY position",
            [playlist_id],
        ):
            if valid_from is None and valid_until is None:  # most items: no validation needed
                items.append(
                    PlaylistItem.model_construct(
                        asset_id=asset_id,
                        position=position,
                        duration_ms=duration_ms,
                        valid_from=None,
                        valid_until=None,
                    )
                )
            else:
                items.append(
                    PlaylistItem.model_validate(
                        {
                            "asset_id": asset_id,
                            "position": position,
                            "duration_ms": duration_ms,
                            "valid_from": valid_from,
                            "valid_until": valid_until,
                        }
                    )
                )
        return Playlist.model_construct(id=playlist_id, name=row[0], items=items)

    # --- play log -------------------------------------------------------------------------

    def record_play_event(
        self,
        event: str,
        *,
        item_key: str,
        name: str,
        sha256: str,
        at: datetime,
        played_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        with self.transaction("write the play log") as db:
            self.log_play_event(
                db, event, item_key=item_key, name=name, sha256=sha256, at=at,
                played_ms=played_ms, detail=detail,
            )  # fmt: skip

    @staticmethod
    def log_play_event(
        db: sqlite_utils.Database,
        event: str,
        *,
        item_key: str,
        name: str,
        sha256: str,
        at: datetime,
        played_ms: int | None = None,
        detail: str | None = None,
    ) -> None:
        """`record_play_event` inside the caller's transaction."""
        db["play_events"].insert(
            {
                "event": event,
                "item_key": item_key,
                "name": name,
                "sha256": sha256,
                "at": at.isoformat(timespec="milliseconds"),
                "played_ms": played_ms,
                "detail": detail,
            }
        )
        db.execute(
            "DELETE FROM play_events WHERE id <= (SELECT MAX(id) FROM play_events) - ?",
            [PLAY_EVENTS_KEPT],
        )
        if event == "started":
            now_playing = {"name": name, "sha256": sha256, "since": at.isoformat()}
            Store.set_within(db, {Meta.NOW_PLAYING: json.dumps(now_playing)})

    def last_play_at(self) -> datetime | None:
        """When the newest event of the play log happened (on the cloud's clock), if any."""
        row = self.db.execute("SELECT at FROM play_events ORDER BY id DESC LIMIT 1").fetchone()
        try:
            return datetime.fromisoformat(row[0]) if row and row[0] else None
        except ValueError:
            return None

    def play_events(self, limit: int = 1000) -> list[dict[str, Any]]:
        return list(self.db["play_events"].rows_where(order_by="id", limit=limit))

    # --- commands (agent.commands) ---------------------------------------------------------

    def commands(self) -> list[Command]:
        """Every command held, oldest first (the cloud deletes one once it has its result).
        One stored that no longer reads (a downgrade) is skipped."""
        found = []
        for (data,) in self.db.execute(
            "SELECT data FROM objects WHERE kind = ? AND deleted = 0 AND data IS NOT NULL",
            [ChangeKind.COMMAND.value],
        ):
            try:
                found.append(Command.model_validate_json(data))
            except ValueError:
                continue
        return sorted(found, key=lambda command: (command.created_at, command.id))

    def command_runs(self) -> dict[str, CommandRun]:
        """Every command this device has answered or is answering, by command id."""
        return {
            row[0]: CommandRun(*row)
            for row in self.db.execute(
                "SELECT command_id, kind, state, received_at, started_at, finished_at, detail"
                " FROM command_runs"
            )
        }

    def prune_command_runs(self, finished_before: datetime) -> int:
        """Forget runs that finished before `finished_before` and whose command the store no
        longer holds (the cloud has its result and took it out of this device's view): the
        table stays bounded by the commands of the last weeks. Returns how many went."""
        cutoff = finished_before.isoformat(timespec="milliseconds")
        with self.transaction("forget old command runs") as db:
            cursor = db.execute(
                "DELETE FROM command_runs WHERE finished_at IS NOT NULL AND finished_at < ?"
                " AND command_id NOT IN (SELECT id FROM objects WHERE kind = ? AND deleted = 0)",
                [cutoff, ChangeKind.COMMAND.value],
            )
        return cursor.rowcount

    @staticmethod
    def record_command_run(
        db: sqlite_utils.Database,
        command_id: str,
        *,
        kind: str,
        state: str,
        at: datetime,
        detail: str | None = None,
    ) -> None:
        """Record the first state of a command, inside the caller's transaction: `started`
        before it is carried out, or its final state when it is answered without running.
        A command already recorded makes the transaction fail: none is run twice."""
        when = at.isoformat(timespec="milliseconds")
        db.execute(
            "INSERT INTO command_runs (command_id, kind, state, received_at, started_at,"
            " finished_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [command_id, kind, state, when, when if state == "started" else None,
             None if state == "started" else when, detail],
        )  # fmt: skip

    @staticmethod
    def finish_command_run(
        db: sqlite_utils.Database,
        command_id: str,
        *,
        state: str,
        at: datetime,
        detail: str | None = None,
    ) -> None:
        """Record the final state of a started command, inside the caller's transaction;
        raises `StoreError` (rolling it back) when the command is not started."""
        cursor = db.execute(
            "UPDATE command_runs SET state = ?, finished_at = ?, detail = ?"
            " WHERE command_id = ? AND state = 'started'",
            [state, at.isoformat(timespec="milliseconds"), detail, command_id],
        )
        if cursor.rowcount != 1:
            raise StoreError(f"cannot finish command {command_id!r}: it is not started")


__all__ = [
    "DB_FILE_NAME",
    "MIGRATIONS",
    "CachedItem",
    "CommandRun",
    "Meta",
    "PageResult",
    "Store",
    "json_or_none",
]
