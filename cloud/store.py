"""The cloud's SQLite database: one connection, WAL, short transactions, named migrations.

The server owns a single connection and uses it only from the event loop: every query is
a few index lookups, so running them inline is faster than handing them to threads and
needs no lock. Writes run in `BEGIN IMMEDIATE` transactions so that a second process
(`signage-cloud tenant create` on the same data dir) waits for the lock instead of failing
half-way.

Multi-tenancy starts at the schema: every row carries `tenant_id` (a tenant's own row is
keyed by it), every query filters on it, and foreign keys are composite
`(tenant_id, id)` pairs, so a row can never point at another tenant's row even if a query
forgot its filter. The one exception is a pending enrollment, whose `tenant_id` is NULL
until an admin of some tenant approves its code: until then nobody owns the screen.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.errors import ConfigError

log = logging.getLogger(__name__)

Row = dict[str, Any]

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


def _schema_v1(db: Database) -> None:
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


# Append only: a migration that shipped is never edited, a new one is added after it.
MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("0001_initial_schema", _schema_v1),
]


def new_id(prefix: str) -> str:
    """A random id that says what it names: `dev_…`, `ast_…`, `pl_…`, `ten_…`."""
    return f"{prefix}_{secrets.token_hex(8)}"


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Database:
    """The single owner of the cloud's SQLite connection."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit at the driver level: transactions are opened explicitly below.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the database {path}: {exc}") from exc
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA synchronous=NORMAL")
        self.path = path
        self._db: sqlite_utils.Database | None = sqlite_utils.Database(conn, execute_plugins=False)
        # Called with each tenant whose revision a committed transaction moved (long-poll).
        self.on_revision: Callable[[str], None] | None = None
        self._bumped: set[str] = set()
        self.migrate()

    @property
    def sqlite(self) -> sqlite_utils.Database:
        if self._db is None:
            raise RuntimeError(f"the database {self.path} is closed")
        return self._db

    @contextmanager
    def write(self) -> Iterator[Database]:
        """A `BEGIN IMMEDIATE` transaction: committed on success, rolled back on any error."""
        conn = self.sqlite.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._bumped.clear()
            if conn.in_transaction:  # some SQLite errors have rolled back already
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        bumped, self._bumped = self._bumped, set()
        if self.on_revision is not None:
            for tenant_id in bumped:
                self.on_revision(tenant_id)

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

    def bump_revision(self, tenant_id: str) -> None:
        """Note that what the tenant's devices see may have changed (their cursor moves)."""
        self.execute("UPDATE tenants SET revision = revision + 1 WHERE id = ?", (tenant_id,))
        self._bumped.add(tenant_id)

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
        """Close the connection; safe to call twice."""
        if self._db is not None:
            self._db.close()
            self._db = None


def now() -> float:
    """Seconds since the epoch, by the server's clock (expiries are stored this way)."""
    return time.time()


__all__ = ["MIGRATIONS", "Database", "Row", "new_id", "now", "utc_now_iso"]
