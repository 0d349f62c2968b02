"""Tenants and their admin keys.

A tenant is one customer: its screens, content and playlists are invisible to every other
tenant. Each tenant has one admin key, shown once when the tenant is created and stored only
as its SHA-256, so a copy of the database does not hand out admin access.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from cloud.errors import AdminUnauthorized
from cloud.settings import DB_FILE_NAME
from cloud.store import Database, new_id, new_sync_epoch, utc_now_iso
from sync.models import CONTROL_CHARACTERS, MAX_NAME_CHARS

log = logging.getLogger(__name__)

ADMIN_KEY_PREFIX = "sk_"


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str


def create_tenant(db: Database, name: str) -> tuple[Tenant, str]:
    """A new tenant and its admin key (the only time the key exists in clear)."""
    name = name.strip()
    if not name:
        raise ValueError("a tenant needs a non-empty name")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a tenant's name has at most {MAX_NAME_CHARS} characters")
    if CONTROL_CHARACTERS.search(name):
        raise ValueError("a tenant's name must not contain control characters (newlines, tabs)")
    tenant = Tenant(id=new_id("ten"), name=name)
    admin_key = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
    with db.write():
        db.insert(
            "tenants",
            {
                "id": tenant.id,
                "name": tenant.name,
                "admin_key_sha256": key_hash(admin_key),
                "revision": 0,
                "sync_epoch": new_sync_epoch(),
                "created_at": utc_now_iso(),
            },
        )
    log.info("created tenant %s (%s)", tenant.id, tenant.name)
    return tenant, admin_key


def create_tenant_in(data_dir: Path, name: str) -> tuple[Tenant, str]:
    """`create_tenant` on the database of a data dir, whether or not a server runs on it."""
    db = Database(data_dir / DB_FILE_NAME)
    try:
        return create_tenant(db, name)
    finally:
        db.close()


def tenant_for_admin_key(db: Database, authorization: str | None) -> Tenant:
    """The tenant whose admin key is in an `Authorization: Bearer` header value."""
    if not authorization:
        raise AdminUnauthorized(
            "missing admin key: send `Authorization: Bearer <admin key>` "
            "(the key printed by `signage-cloud tenant create`)"
        )
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AdminUnauthorized("the admin API takes `Authorization: Bearer <admin key>`")
    row = db.one(
        "SELECT id, name FROM tenants WHERE admin_key_sha256 = ?", (key_hash(secret.strip()),)
    )
    if row is None:
        raise AdminUnauthorized(
            "admin key not recognised: check --key or SIGNAGE_ADMIN_KEY "
            "(it is printed once by `signage-cloud tenant create`)"
        )
    return Tenant(id=row["id"], name=row["name"])


__all__ = ["Tenant", "create_tenant", "create_tenant_in", "key_hash", "tenant_for_admin_key"]
