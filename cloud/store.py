"""The cloud's SQLite database: a connection per thread, WAL, short transactions, migrations.

Database work never runs on the server's event loop: endpoints run it in worker threads
(see docs/cloud.md), so one tenant's heavy request cannot stall every other tenant's.
SQLite connections must not be shared between threads mid-transaction, so each thread gets
its own connection on first use. With WAL, readers never wait for a writer; writers take
turns on one in-process lock (a thread waits on the lock instead of spinning in SQLite's
busy handler) and run in short `BEGIN IMMEDIATE` transactions, so that a second process
(`signage-cloud tenant create` on the same data dir) waits for SQLite's lock instead of
failing half-way.

Multi-tenancy starts at the schema: every row carries `tenant_id` (a tenant's own row is
keyed by it), every query filters on it, and foreign keys are composite
`(tenant_id, id)` pairs, so a row can never point at another tenant's row even if a query
forgot its filter. The one exception is a pending enrollment, whose `tenant_id` is NULL
until an admin of some tenant approves its code: until then nobody owns the screen.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.errors import ConfigError

log = logging.getLogger(__name__)

Row = dict[str, Any]
# Between two transactions of `Database.in_batches`: long enough for a waiting writer to
# take the lock first.
BATCH_PAUSE_S = 0.005

_SCHEMA_V1 = """
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    admin_key_sha256 TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE assets (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL CHECK (media_type IN ('video', 'image')),
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE INDEX assets_by_sha256 ON assets (tenant_id, sha256);
CREATE TABLE playlists (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE TABLE playlist_items (
    tenant_id TEXT NOT NULL,
    playlist_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    asset_id TEXT NOT NULL,
    duration_ms INTEGER,
    PRIMARY KEY (playlist_id, position),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id),
    FOREIGN KEY (tenant_id, asset_id) REFERENCES assets (tenant_id, id)
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    jkt TEXT NOT NULL,
    playlist_id TEXT,
    created_at TEXT NOT NULL,
    last_seen_at TEXT,
    revoked_at TEXT,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id)
);
-- tenant_id is NULL while the enrollment is pending: see the module docstring.
CREATE TABLE enrollments (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants(id),
    device_code_sha256 TEXT NOT NULL UNIQUE,
    user_code TEXT NOT NULL UNIQUE,
    jkt TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'consumed', 'denied')),
    interval_s INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    last_polled_at REAL,
    device_id TEXT,
    created_at TEXT NOT NULL,
    CHECK ((status = 'pending') = (tenant_id IS NULL)),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    replaced_by TEXT,
    rotated_at REAL,
    created_at TEXT NOT NULL,
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX refresh_tokens_by_device ON refresh_tokens (tenant_id, device_id);
"""


# Delta sync (see cloud.changelog): one row per (device, kind, object) that changed for the
# device, holding the tenant's change sequence number of the latest such change (so the log
# compacts itself in place); a device's horizon is the newest sequence number pruned from
# its log: a cursor older than it is answered 410. `tenants.revision` is the tenant's change
# sequence and `tenants.sync_epoch` tells its cursors from any other database's.
_SCHEMA_V2 = """
ALTER TABLE tenants ADD COLUMN sync_epoch TEXT NOT NULL DEFAULT '';
CREATE TABLE device_changes (
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    changed_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, device_id, kind, object_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX device_changes_by_seq ON device_changes (tenant_id, device_id, seq, kind, object_id);
CREATE INDEX device_changes_by_age ON device_changes (tenant_id, changed_at);
CREATE TABLE device_horizons (
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX playlist_items_by_asset ON playlist_items (tenant_id, asset_id, playlist_id);
CREATE INDEX playlist_items_by_playlist_asset
    ON playlist_items (tenant_id, playlist_id, asset_id);
CREATE INDEX devices_by_playlist ON devices (tenant_id, playlist_id);
"""


# Roles (see cloud.apikeys): a tenant has any number of keys, each with one role, stored as
# SHA-256. The first key of every existing tenant becomes an admin key; the old column
# `tenants.admin_key_sha256` is no longer read (SQLite cannot drop a UNIQUE column without
# rebuilding the table every other table points at), and holds `moved:<key id>` instead
# of the hash. Also: a device's tokens can be revoked without removing it (refresh-token
# reuse), and expired pending enrollments are found by an index to be deleted.
_SCHEMA_V3 = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'installer', 'viewer')),
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    UNIQUE (tenant_id, id)
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
ALTER TABLE devices ADD COLUMN tokens_revoked_at REAL;
CREATE INDEX enrollments_pending_by_expiry ON enrollments (expires_at) WHERE status = 'pending'
"""

FIRST_KEY_NAME = "first admin key"


def _run_script(db: Database, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _schema_v1(db: Database) -> None:
    _run_script(db, _SCHEMA_V1)


def _delta_sync(db: Database) -> None:
    _run_script(db, _SCHEMA_V2)
    for row in db.all("SELECT id FROM tenants"):
        db.execute("UPDATE tenants SET sync_epoch = ? WHERE id = ?", (new_sync_epoch(), row["id"]))


def _roles(db: Database) -> None:
    _run_script(db, _SCHEMA_V3)
    for row in db.all("SELECT id, admin_key_sha256, created_at FROM tenants"):
        key_id = new_id("key")
        db.insert(
            "api_keys",
            {
                "id": key_id,
                "tenant_id": row["id"],
                "role": "admin",
                "name": FIRST_KEY_NAME,
                "key_sha256": row["admin_key_sha256"],
                "created_at": row["created_at"],
                "revoked_at": None,
            },
        )
        db.execute(
            "UPDATE tenants SET admin_key_sha256 = ? WHERE id = ?", (f"moved:{key_id}", row["id"])
        )


# What a device says of itself at /authorize ("lobby-pi · Raspberry Pi 4 · agent 0.1.0"),
# shown on /activate next to its code; NULL for devices that do not say.
def _enrollment_description(db: Database) -> None:
    db.execute("ALTER TABLE enrollments ADD COLUMN description TEXT")


# Scheduling (see cloud.views): groups of devices (a device joins several; `joined_seq`, the
# tenant's change sequence number when it joined, orders its `group_ids`), schedule entries
# and interrupts of a device or of a group (exactly one of the two), a screen's time zone and
# switching setting, and the window of a playlist item. Instants are stored as ISO text in
# UTC with microseconds (`cloud.views.instant_text`), so that text order is time order.
_SCHEMA_V5 = """
CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    playlist_id TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id)
);
CREATE INDEX groups_by_playlist ON groups (tenant_id, playlist_id);
CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    joined_seq INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, group_id, device_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX group_members_by_device ON group_members (tenant_id, device_id, joined_seq);
CREATE TABLE schedule_entries (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT,
    group_id TEXT,
    playlist_id TEXT NOT NULL,
    days TEXT NOT NULL,
    from_time TEXT,
    to_time TEXT,
    start_date TEXT,
    end_date TEXT,
    priority INTEGER NOT NULL,
    timezone TEXT,
    on_switch TEXT CHECK (on_switch IN ('cut', 'finish')),
    created_at TEXT NOT NULL,
    UNIQUE (tenant_id, id),
    CHECK ((device_id IS NULL) <> (group_id IS NULL)),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id)
);
CREATE INDEX schedule_entries_by_device ON schedule_entries (tenant_id, device_id);
CREATE INDEX schedule_entries_by_group ON schedule_entries (tenant_id, group_id);
CREATE INDEX schedule_entries_by_playlist ON schedule_entries (tenant_id, playlist_id);
CREATE TABLE interrupts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    device_id TEXT,
    group_id TEXT,
    playlist_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    until TEXT,
    UNIQUE (tenant_id, id),
    CHECK ((device_id IS NULL) <> (group_id IS NULL)),
    CHECK (until IS NULL OR until > starts_at),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id),
    FOREIGN KEY (tenant_id, playlist_id) REFERENCES playlists (tenant_id, id)
);
CREATE UNIQUE INDEX interrupts_by_device ON interrupts (tenant_id, device_id)
    WHERE device_id IS NOT NULL;
CREATE UNIQUE INDEX interrupts_by_group ON interrupts (tenant_id, group_id)
    WHERE group_id IS NOT NULL;
CREATE INDEX interrupts_by_playlist ON interrupts (tenant_id, playlist_id);
CREATE INDEX interrupts_by_until ON interrupts (tenant_id, until);
ALTER TABLE devices ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE devices ADD COLUMN on_switch TEXT NOT NULL DEFAULT 'cut'
    CHECK (on_switch IN ('cut', 'finish'));
ALTER TABLE playlist_items ADD COLUMN valid_from TEXT;
ALTER TABLE playlist_items ADD COLUMN valid_until TEXT
"""


def _scheduling(db: Database) -> None:
    _run_script(db, _SCHEMA_V5)


# Reports and commands (see cloud.events, cloud.commands, cloud.reports):
# - `device_events`: the id of every event a device reported, of any type: what makes a batch
#   sent twice stored once. Heartbeats' ids are kept a day (`cloud.events`), the others for
#   good, beside their rows.
# - `play_events`: proof of play, as the device reported it. `asset_id` and `playlist_id` are
#   what the device held, not foreign keys: a report outlives the asset it names.
# - `device_status`: each device's latest heartbeat (by its `at`), the status as JSON.
# - `dropped_events`: what a device's full outbox had to drop.
# - `commands`: what an admin sent to a device or to a group. `group_id` names the group it was
#   sent to and has no foreign key: deleting the group keeps the commands it received.
#   `expiry_told` is 1 once the devices that still held it at its expiry were told (tombstones).
# - `command_targets`: one row per (command, device) it was sent to (a group's members when it
#   was sent), holding that device's result: pending until the device reports.
# - `command_attachments`: what a device uploaded for a command (a PNG, log lines), as a BLOB.
_SCHEMA_V6 = """
CREATE TABLE device_events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX device_events_heartbeats ON device_events (received_at) WHERE type = 'heartbeat';
CREATE TABLE play_events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    asset_id TEXT,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    playlist_id TEXT,
    schedule_reason TEXT,
    schedule_source TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('completed', 'cut', 'interrupted', 'skipped', 'failed')),
    detail TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, id) REFERENCES device_events (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX play_events_by_start ON play_events (tenant_id, started_at, id);
CREATE INDEX play_events_by_device ON play_events (tenant_id, device_id, started_at, id);
CREATE INDEX play_events_by_asset ON play_events (tenant_id, asset_id, started_at, id);
CREATE TABLE device_status (
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, device_id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE TABLE dropped_events (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at TEXT NOT NULL,
    what TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    received_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, id) REFERENCES device_events (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX dropped_events_by_device ON dropped_events (tenant_id, device_id);
CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    device_id TEXT,
    group_id TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expiry_told INTEGER NOT NULL DEFAULT 0 CHECK (expiry_told IN (0, 1)),
    UNIQUE (tenant_id, id),
    CHECK ((device_id IS NULL) <> (group_id IS NULL)),
    CHECK (expires_at > created_at),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
);
CREATE INDEX commands_by_creation ON commands (tenant_id, created_at, id);
CREATE INDEX commands_to_expire ON commands (expires_at) WHERE expiry_told = 0;
CREATE TABLE command_targets (
    tenant_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (
        state IN ('pending', 'started', 'done', 'failed', 'expired', 'unsupported')
    ),
    detail TEXT,
    at TEXT,
    event_id TEXT,
    received_at TEXT,
    PRIMARY KEY (tenant_id, command_id, device_id),
    FOREIGN KEY (tenant_id, command_id) REFERENCES commands (tenant_id, id),
    FOREIGN KEY (tenant_id, device_id) REFERENCES devices (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX command_targets_open_by_device ON command_targets (tenant_id, device_id, command_id)
    WHERE state IN ('pending', 'started');
CREATE TABLE command_attachments (
    tenant_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/png', 'text/plain')),
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, command_id, device_id),
    FOREIGN KEY (tenant_id, command_id, device_id)
        REFERENCES command_targets (tenant_id, command_id, device_id)
)
"""


def _reports_and_commands(db: Database) -> None:
    _run_script(db, _SCHEMA_V6)


# Commands' life after they are sent, and retention (see cloud.commands, cloud.events):
# - `commands.offered_until`: until when the command stays in the view of its devices that
#   have not answered it: its expiry plus the notice (SIGNAGE_CLOUD_COMMAND_NOTICE_S) it was
#   sent with, so that a screen offline at its expiry still hears of it and answers
#   `expired`. Commands sent before this migration keep their expiry. `expiry_told` turns 1
#   once the devices that still held the command then were told (tombstones).
# - `command_targets.cancelled_at`: when an admin cancelled the command for a device that had
#   not started it (a cloud-side mark: the device only ever gets a tombstone). `state` stays
#   what the device reported, so the late answer of a device that ran it before it heard of
#   the cancel is still kept; a view's open targets leave cancelled ones out.
# - indexes for `command list` by device and by group, and for deleting what is kept past
#   SIGNAGE_CLOUD_COMMAND_RETENTION_S: told commands by expiry, the ids of command results.
_SCHEMA_V7 = """
ALTER TABLE commands ADD COLUMN offered_until TEXT NOT NULL DEFAULT '';
UPDATE commands SET offered_until = expires_at;
DROP INDEX commands_to_expire;
CREATE INDEX commands_to_tell ON commands (offered_until) WHERE expiry_told = 0;
CREATE INDEX commands_told_by_expiry ON commands (expires_at) WHERE expiry_told = 1;
CREATE INDEX commands_by_group ON commands (tenant_id, group_id, created_at, id)
    WHERE group_id IS NOT NULL;
ALTER TABLE command_targets ADD COLUMN cancelled_at TEXT;
DROP INDEX command_targets_open_by_device;
CREATE INDEX command_targets_open_by_device ON command_targets (tenant_id, device_id, command_id)
    WHERE state IN ('pending', 'started') AND cancelled_at IS NULL;
CREATE INDEX command_targets_by_device ON command_targets (tenant_id, device_id, command_id);
CREATE INDEX device_events_results ON device_events (received_at) WHERE type = 'command_result'
"""


def _command_lifecycle(db: Database) -> None:
    _run_script(db, _SCHEMA_V7)


# Streams (see cloud.content): an asset of media type `stream` is played from its `url` and
# has no blob (its sha256 that of the URL, its size 0, no Content-Type). SQLite cannot
# change a CHECK constraint in place, so `assets` is rebuilt. `playlist_items` points at it
# with an immediate foreign key, so dropping the old table would fail while items name it
# (and a deferred check would still fail at commit: renaming the new table does not undo
# the violation the drop counted): the items wait in a temporary table meanwhile.
_ASSETS_V8 = """
CREATE TABLE assets_v8 (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL CHECK (media_type IN ('video', 'image', 'stream')),
    content_type TEXT,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    url TEXT,
    UNIQUE (tenant_id, id),
    CHECK ((media_type = 'stream') = (url IS NOT NULL)),
    CHECK (url IS NOT NULL OR content_type IS NOT NULL)
);
INSERT INTO assets_v8 (id, tenant_id, name, sha256, media_type, content_type, size, created_at)
    SELECT id, tenant_id, name, sha256, media_type, content_type, size, created_at FROM assets;
CREATE TEMP TABLE items_v8 AS SELECT * FROM playlist_items;
DELETE FROM playlist_items;
DROP TABLE assets;
ALTER TABLE assets_v8 RENAME TO assets;
CREATE INDEX assets_by_sha256 ON assets (tenant_id, sha256);
INSERT INTO playlist_items SELECT * FROM temp.items_v8;
DROP TABLE temp.items_v8
"""


def _streams(db: Database) -> None:
    _run_script(db, _ASSETS_V8)


# A device's screen settings: how it is turned and its volume; NULL leaves each to the
# screen's own configuration.
_SCREEN_SETTINGS_V9 = """
ALTER TABLE devices ADD COLUMN rotation INTEGER CHECK (rotation IN (0, 90, 180, 270));
ALTER TABLE devices ADD COLUMN volume INTEGER CHECK (volume BETWEEN 0 AND 100)
"""


def _screen_settings(db: Database) -> None:
    _run_script(db, _SCREEN_SETTINGS_V9)


# Append only: a migration that shipped is never edited, a new one is added after it.
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial_schema", _schema_v1),
    ("0002_delta_sync", _delta_sync),
    ("0003_roles", _roles),
    ("0004_enrollment_description", _enrollment_description),
    ("0005_scheduling", _scheduling),
    ("0006_reports_and_commands", _reports_and_commands),
    ("0007_command_lifecycle", _command_lifecycle),
    ("0008_streams", _streams),
    ("0009_screen_settings", _screen_settings),
]


def new_sync_epoch() -> str:
    """A random tag in a tenant's cursors: a cursor of another database is refused (410)."""
    return secrets.token_hex(4)


def new_id(prefix: str) -> str:
    """A random id that says what it names: `dev_…`, `ast_…`, `pl_…`, `ten_…`."""
    return f"{prefix}_{secrets.token_hex(8)}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """The cloud's SQLite database: one connection per thread, one writer at a time."""

    def __init__(self, path: Path) -> None:
        try:
            make_private_dir(path.parent)
            make_private_file(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot use the data dir {path.parent}: {exc.strerror or exc}: "
                "pick another with --data or SIGNAGE_CLOUD_DATA"
            ) from exc
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        # Called with the (tenant, device) pairs a committed transaction changed something
        # for (long-poll), in the thread that committed.
        self.on_change: Callable[[set[tuple[str, str]]], None] | None = None
        self.migrate()

    def _connect(self) -> sqlite_utils.Database:
        try:
            # Autocommit at the driver level: transactions are opened explicitly below.
            # check_same_thread=False only so that close() can close every thread's one.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the database {self.path}: {exc}") from exc
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._connections_lock:
            self._connections.append(conn)
        return sqlite_utils.Database(conn, execute_plugins=False)

    @property
    def sqlite(self) -> sqlite_utils.Database:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise RuntimeError(f"the database {self.path} is closed")
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    @property
    def _changed(self) -> set[tuple[str, str]]:
        """(tenant, device) pairs this thread's open transaction changed something for."""
        changed: set[tuple[str, str]] | None = getattr(self._local, "changed", None)
        if changed is None:
            changed = self._local.changed = set()
        return changed

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any error."""
        conn = self.sqlite.conn
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._changed.clear()
                if conn.in_transaction:  # some SQLite errors have rolled back already
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        changed = set(self._changed)
        self._changed.clear()
        if changed and self.on_change is not None:
            self.on_change(changed)

    @contextmanager
    def read(self) -> Iterator[Database]:
        """A read transaction: every query inside sees the same snapshot."""
        conn = self.sqlite.conn
        conn.execute("BEGIN")
        try:
            yield self
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        return self.sqlite.execute(sql, params).rowcount

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> Row | None:
        return next(iter(self.sqlite.query(sql, params)), None)

    def all(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[Row]:
        return list(self.sqlite.query(sql, params))

    def insert(self, table: str, row: Row) -> None:
        self.sqlite.table(table).insert(row)

    def insert_many(
        self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert many rows in one statement run (a 10,000-item playlist in milliseconds)."""
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        self.sqlite.conn.executemany(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - our own names
            rows,
        )

    def next_seq(self, tenant_id: str) -> int:
        """The tenant's next change sequence number; call once per write transaction."""
        rows = self.all(  # all(): a RETURNING statement must run to its end before COMMIT
            "UPDATE tenants SET revision = revision + 1 WHERE id = ? RETURNING revision",
            (tenant_id,),
        )
        if not rows:
            raise LookupError(f"no tenant {tenant_id}")
        return int(rows[0]["revision"])

    def in_batches(self, batch: Callable[[], int], *, pause_s: float = BATCH_PAUSE_S) -> int:
        """Run `batch` in a write transaction of its own, again and again, until it changes
        nothing (returns 0) or the database is closed; the rows it changed in all.

        For deletes of any size (retention): each transaction holds the write lock for one
        small batch only, and the pause between them lets waiting writers in first (the
        lock is not fair: without it, this thread could take it again at once)."""
        total = 0
        while not self._closed:
            with self.write():
                changed = batch()
            if not changed:
                break
            total += changed
            time.sleep(pause_s)
        return total

    def wake(self, tenant_id: str, device_ids: Iterable[str]) -> None:
        """Wake these devices' long-polls once the open transaction commits (or those who
        wait for these commands' results: `cloud.changes`)."""
        self._changed.update((tenant_id, device_id) for device_id in device_ids)

    def migrate(self) -> None:
        """Apply the migrations not yet recorded, each in the transaction that records it."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        for name, apply in MIGRATIONS:
            with self.write():
                if self.one("SELECT name FROM _migrations WHERE name = ?", (name,)):
                    continue
                apply(self)
                self.insert("_migrations", {"name": name, "applied_at": utc_now_iso()})
            log.info("applied database migration %s to %s", name, self.path)

    def close(self) -> None:
        """Close every thread's connection; safe to call twice."""
        self._closed = True
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


def make_private_dir(path: Path) -> None:
    """Create `path` (and its parents) if missing; make it 0700: only the cloud reads it.

    The data dir holds the signing key, hashes of keys and tokens, and every tenant's files.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
        log.info("made the data dir %s private (0700)", path)


def make_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing, and make it 0600 if it is not.

    SQLite creates its `-wal` and `-shm` files with the database file's mode, so creating
    the database file first is enough for all three.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def now() -> float:
    """Seconds since the epoch, by the server's clock (expiries are stored this way)."""
    return time.time()


__all__ = [
    "FIRST_KEY_NAME",
    "MIGRATIONS",
    "Database",
    "Row",
    "make_private_dir",
    "make_private_file",
    "new_id",
    "new_sync_epoch",
    "now",
    "utc_now_iso",
]
