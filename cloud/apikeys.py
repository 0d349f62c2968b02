"""A tenant's keys to the admin API: each has one role, and only its SHA-256 is stored.

A key reads `sk_<16 hex>_<secret>`: the hex digits are its id (`key_<16 hex>`), so a
failed attempt with a real key's id and a wrong secret is counted against that key
(`cloud.access`), and a person can tell which key a copy is. The first key of a tenant
(from `signage-cloud tenant create`) is an admin key; keys made before roles existed
(`sk_<secret>`) keep working as the admin keys they were.

What each role may do is `GRANTS`: a route declares the role it needs, and a key may make
the call if its role grants that one. An admin grants every role; an editor grants viewer
too; an installer grants only itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from cloud.errors import Conflict, NotFound
from cloud.store import Database, Row, utc_now_iso
from sync.models import KeyCreated, KeySummary, Role

log = logging.getLogger(__name__)

KEY_PREFIX = "sk_"
_KEY = re.compile(r"^sk_([0-9a-f]{16})_[A-Za-z0-9_-]{20,}$")

GRANTS: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset(Role),
    Role.EDITOR: frozenset({Role.EDITOR, Role.VIEWER}),
    Role.INSTALLER: frozenset({Role.INSTALLER}),
    Role.VIEWER: frozenset({Role.VIEWER}),
}


def roles_allowed(needed: Role) -> list[Role]:
    """The roles whose keys may make a call that needs `needed`, in `Role` order."""
    return [role for role in Role if needed in GRANTS[role]]


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_in(secret: str) -> str | None:
    """The id a key names (`key_…`), or None for an old-style or malformed key."""
    match = _KEY.match(secret)
    return f"key_{match.group(1)}" if match else None


@dataclass(frozen=True)
class KeyRow:
    id: str
    tenant_id: str
    tenant_name: str
    role: Role
    revoked: bool


def _summary(row: Row) -> KeySummary:
    return KeySummary(
        id=row["id"],
        role=Role(row["role"]),
        name=row["name"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeys:
    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, *, tenant_id: str, role: Role, name: str) -> KeyCreated:
        """A new key; call inside the caller's write transaction. The only time it is clear."""
        hex_id = secrets.token_hex(8)
        secret = f"{KEY_PREFIX}{hex_id}_{secrets.token_urlsafe(32)}"
        row = {
            "id": f"key_{hex_id}",
            "tenant_id": tenant_id,
            "role": role.value,
            "name": name,
            "key_sha256": key_hash(secret),
            "created_at": utc_now_iso(),
            "revoked_at": None,
        }
        self._db.insert("api_keys", row)
        return KeyCreated(**_summary(row).model_dump(), key=secret)

    def create(self, *, tenant_id: str, role: Role, name: str) -> KeyCreated:
        with self._db.write():
            created = self.insert(tenant_id=tenant_id, role=role, name=name)
        log.info("created %s key %s (%r) of tenant %s", role, created.id, name, tenant_id)
        return created

    def find(self, secret: str) -> KeyRow | None:
        """The key whose secret this is, revoked or not."""
        row = self._db.one(
            "SELECT k.id, k.tenant_id, t.name AS tenant_name, k.role, k.revoked_at"
            " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_sha256 = ?",
            (key_hash(secret),),
        )
        if row is None:
            return None
        return KeyRow(
            id=row["id"],
            tenant_id=row["tenant_id"],
            tenant_name=row["tenant_name"],
            role=Role(row["role"]),
            revoked=row["revoked_at"] is not None,
        )

    def exists(self, key_id: str) -> bool:
        return self._db.one("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)) is not None

    def list(self, tenant_id: str) -> list[KeySummary]:
        rows = self._db.all(
            "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, rowid", (tenant_id,)
        )
        return [_summary(row) for row in rows]

    def revoke(self, *, tenant_id: str, key_id: str) -> KeySummary:
        """Revoke a key at once; the tenant's last admin key cannot be revoked."""
        with self._db.write():
            row = self._db.one(
                "SELECT * FROM api_keys WHERE tenant_id = ? AND id = ?", (tenant_id, key_id)
            )
            if row is None:
                raise NotFound(
                    f"no key {key_id} in this tenant: `signage-cloud key list` lists them"
                )
            if row["revoked_at"] is not None:
                return _summary(row)
            if row["role"] == Role.ADMIN:
                others = self._db.one(
                    "SELECT count(*) AS n FROM api_keys WHERE tenant_id = ? AND role = 'admin'"
                    " AND revoked_at IS NULL AND id != ?",
                    (tenant_id, key_id),
                )
                if others is None or others["n"] == 0:
                    raise Conflict(
                        f"{key_id} is the tenant's last admin key: create another admin key "
                        "first (`signage-cloud key create --role admin`), then revoke this one"
                    )
            revoked_at = utc_now_iso()
            self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE tenant_id = ? AND id = ?",
                (revoked_at, tenant_id, key_id),
            )
        log.info("revoked %s key %s of tenant %s", row["role"], key_id, tenant_id)
        return _summary({**row, "revoked_at": revoked_at})


__all__ = [
    "GRANTS",
    "KEY_PREFIX",
    "ApiKeys",
    "KeyRow",
    "key_hash",
    "key_id_in",
    "roles_allowed",
]
