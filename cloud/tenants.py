"""Tenants, and their first key.

A tenant is one customer: its screens, content and playlists are invisible to every other
tenant. A tenant is created with one admin key, shown once and stored only as its SHA-256
(`cloud.apikeys`), so a copy of the database does not hand out admin access; that key
makes the tenant's other keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cloud.apikeys import ApiKeys
from cloud.settings import DB_FILE_NAME
from cloud.store import FIRST_KEY_NAME, Database, new_id, new_sync_epoch, utc_now_iso
from sync.models import CONTROL_CHARACTERS, MAX_NAME_CHARS, Role

log = logging.getLogger(__name__)


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
    with db.write():
        db.insert(
            "tenants",
            {
                "id": tenant.id,
                "name": tenant.name,
                "admin_key_sha256": f"unused:{tenant.id}",  # keys are in api_keys (0003)
                "revision": 0,
                "sync_epoch": new_sync_epoch(),
                "created_at": utc_now_iso(),
            },
        )
        first = ApiKeys(db).insert(tenant_id=tenant.id, role=Role.ADMIN, name=FIRST_KEY_NAME)
    log.info("created tenant %s (%s) with admin key %s", tenant.id, tenant.name, first.id)
    return tenant, first.key


def create_tenant_in(data_dir: Path, name: str) -> tuple[Tenant, str]:
    """`create_tenant` on the database of a data dir, whether or not a server runs on it."""
    db = Database(data_dir / DB_FILE_NAME)
    try:
        return create_tenant(db, name)
    finally:
        db.close()


__all__ = ["Tenant", "create_tenant", "create_tenant_in"]
