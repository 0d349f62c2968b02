"""Roles: every admin route declares one, and each role's key gets exactly what it should."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from cloud import admin_api, store
from cloud.apikeys import ApiKeys, key_hash
from cloud.store import Database
from sync.models import ADMIN_PREFIX, Role
from tests.cloud.screen import Screen
from tests.cloud.test_cli import ok, signage_cloud
from tests.support.cloud import RunningCloud

# What each admin route needs. A route missing here fails the matrix test: a new route
# must be given a role, and this table must say which.
NEEDS: dict[tuple[str, str], Role] = {
    ("POST", "/enrollments/{user_code}/approve"): Role.INSTALLER,
    ("POST", "/assets"): Role.EDITOR,
    ("POST", "/assets/streams"): Role.EDITOR,
    ("GET", "/assets"): Role.VIEWER,
    ("PATCH", "/assets/{asset_id}"): Role.EDITOR,
    ("DELETE", "/assets/{asset_id}"): Role.EDITOR,
    ("POST", "/playlists"): Role.EDITOR,
    ("GET", "/playlists"): Role.VIEWER,
    ("GET", "/playlists/{playlist_id}"): Role.VIEWER,
    ("PUT", "/playlists/{playlist_id}/items"): Role.EDITOR,
    ("PATCH", "/playlists/{playlist_id}"): Role.EDITOR,
    ("DELETE", "/playlists/{playlist_id}"): Role.EDITOR,
    ("PUT", "/devices/{device_id}/playlist"): Role.EDITOR,
    ("PATCH", "/devices/{device_id}"): Role.EDITOR,
    ("DELETE", "/devices/{device_id}"): Role.ADMIN,
    ("GET", "/devices"): Role.VIEWER,
    ("GET", "/devices/{device_id}"): Role.VIEWER,
    ("PATCH", "/devices/{device_id}/settings"): Role.EDITOR,
    ("POST", "/groups"): Role.EDITOR,
    ("GET", "/groups"): Role.VIEWER,
    ("PATCH", "/groups/{group_id}/devices"): Role.EDITOR,
    ("PUT", "/groups/{group_id}/playlist"): Role.EDITOR,
    ("DELETE", "/groups/{group_id}"): Role.EDITOR,
    ("POST", "/schedules"): Role.EDITOR,
    ("GET", "/schedules"): Role.VIEWER,
    ("DELETE", "/schedules/{entry_id}"): Role.EDITOR,
    ("PUT", "/devices/{device_id}/interrupt"): Role.EDITOR,
    ("DELETE", "/devices/{device_id}/interrupt"): Role.EDITOR,
    ("PUT", "/groups/{group_id}/interrupt"): Role.EDITOR,
    ("DELETE", "/groups/{group_id}/interrupt"): Role.EDITOR,
    ("GET", "/interrupts"): Role.VIEWER,
    ("POST", "/commands"): Role.EDITOR,
    ("GET", "/commands"): Role.VIEWER,
    ("POST", "/commands/{command_id}/cancel"): Role.EDITOR,
    ("GET", "/commands/{command_id}"): Role.VIEWER,
    ("GET", "/commands/{command_id}/devices/{device_id}/attachment"): Role.VIEWER,
    ("GET", "/reports/plays"): Role.VIEWER,
    ("GET", "/reports/plays/summary"): Role.VIEWER,
    ("POST", "/keys"): Role.ADMIN,
    ("GET", "/keys"): Role.ADMIN,
    ("DELETE", "/keys/{key_id}"): Role.ADMIN,
}

# Which roles may make a call that needs the role on the left: written out, not computed
# from cloud.apikeys.GRANTS, so that a change there has to change this too.
MAY: dict[Role, set[Role]] = {
    Role.ADMIN: {Role.ADMIN},
    Role.EDITOR: {Role.ADMIN, Role.EDITOR},
    Role.INSTALLER: {Role.ADMIN, Role.INSTALLER},
    Role.VIEWER: {Role.ADMIN, Role.EDITOR, Role.VIEWER},
}


def test_every_admin_route_declares_one_role() -> None:
    for route in admin_api.router.routes:
        assert isinstance(route, APIRoute)
        assert admin_api.required_role(route) is not None, f"{route.path} declares no role"


def test_each_role_gets_exactly_what_it_should_on_every_route(cloud: RunningCloud) -> None:
    keys = {Role.ADMIN: cloud.admin_key}
    for role in (Role.EDITOR, Role.INSTALLER, Role.VIEWER):
        keys[role] = cloud.create_key(role, f"{role} of the test")[1]
    openapi = httpx.get(f"{cloud.url}/openapi.json").json()
    walked = set()
    with httpx.Client(base_url=cloud.url) as client:
        for path, operations in openapi["paths"].items():
            if not path.startswith(ADMIN_PREFIX + "/"):
                continue
            for method in operations:
                route = (method.upper(), path.removeprefix(ADMIN_PREFIX))
                assert route in NEEDS, f"{route} is not in the role matrix of this test"
                walked.add(route)
                needed = NEEDS[route]
                # Ids that do not exist: a call that gets through answers 404 or 422.
                url = path.format(
                    user_code="BCDF-GHJK",
                    asset_id="ast_0",
                    playlist_id="pl_0",
                    device_id="dev_0",
                    key_id="key_0",
                    group_id="grp_0",
                    entry_id="sch_0",
                    command_id="cmd_0",
                )
                for role, key in keys.items():
                    answer = client.request(
                        method, url, json={}, headers={"Authorization": f"Bearer {key}"}
                    )
                    if role in MAY[needed]:
                        assert answer.status_code not in (401, 403, 429), (route, role, answer)
                        assert answer.status_code < 500, (route, role, answer.text)
                    else:
                        assert answer.status_code == 403, (route, role, answer.text)
                        detail = answer.json()["detail"]
                        assert f"needs the {needed} role" in detail, detail
                        assert f"is {'an' if role[0] in 'aeiou' else 'a'} {role} key" in detail
    assert walked == set(NEEDS), "a route of the matrix is not in the OpenAPI document"


def test_an_installer_key_approves_a_code_and_does_nothing_else(cloud: RunningCloud) -> None:
    key_id, installer = cloud.create_key("installer", "Team North")
    assert key_id.startswith("key_") and installer.startswith(f"sk_{key_id[4:]}_")
    with Screen(cloud.url) as screen, httpx.Client(base_url=cloud.url) as client:
        client.headers["Authorization"] = f"Bearer {installer}"
        grant = screen.authorize()
        approved = client.post(
            f"/api/v3/admin/enrollments/{grant.user_code}/approve", json={"name": "Hall"}
        )
        assert approved.status_code == 200, approved.text
        assert client.get("/api/v3/admin/devices").status_code == 403
    with cloud.admin() as admin:
        assert [d["name"] for d in admin.get("/api/v3/admin/devices").json()] == ["Hall"]


def test_keys_are_created_listed_and_revoked_from_the_command_line(cloud: RunningCloud) -> None:
    env = {"SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key}
    created = ok(signage_cloud("key", "create", "--role", "viewer", "--name", "Wall", env=env))
    *said, key = created.splitlines()
    assert key.startswith("sk_") and key not in "\n".join(said)
    listed = json.loads(ok(signage_cloud("key", "list", "--json", env=env)))
    assert [(k["role"], k["name"], k["revoked_at"]) for k in listed] == [
        ("admin", "first admin key", None),
        ("viewer", "Wall", None),
    ]
    assert "key" not in listed[1]
    viewer_id = listed[1]["id"]
    viewer = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{cloud.url}/api/v3/admin/devices", headers=viewer).status_code == 200
    assert viewer_id in ok(signage_cloud("key", "revoke", viewer_id, env=env))
    refused = httpx.get(f"{cloud.url}/api/v3/admin/devices", headers=viewer)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    table = ok(signage_cloud("key", "list", env=env))
    assert viewer_id in table and "Wall" in table

    # The last admin key cannot go: the tenant would have nobody to make keys.
    first_id = listed[0]["id"]
    last = signage_cloud("key", "revoke", first_id, env=env)
    assert last.returncode == 1 and "last admin key" in last.stderr
    # A viewer key cannot make keys.
    as_viewer = {**env, "SIGNAGE_ADMIN_KEY": cloud.create_key("viewer")[1]}
    refused_cli = signage_cloud("key", "create", "--role", "admin", env=as_viewer)
    assert refused_cli.returncode == 1 and "needs the admin role" in refused_cli.stderr


def test_a_tenant_key_from_before_roles_becomes_its_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cloud.db"
    old_key = "sk_an-old-style-key-without-an-id-0123456789"
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:2])
    db = Database(path)
    with db.write():
        db.execute(
            "INSERT INTO tenants (id, name, admin_key_sha256, revision, created_at)"
            " VALUES ('ten_old', 'Old', ?, 0, '2024-01-01T00:00:00+00:00')",
            (key_hash(old_key),),
        )
    db.close()
    monkeypatch.undo()
    db = Database(path)  # applies 0003_roles
    try:
        row = ApiKeys(db).find(old_key)
        assert row is not None and (row.tenant_id, row.role) == ("ten_old", Role.ADMIN)
    finally:
        db.close()
    with closing(sqlite3.connect(path)) as raw:
        column = raw.execute("SELECT admin_key_sha256 FROM tenants").fetchone()[0]
    assert column == f"moved:{row.id}"  # the hash is in one place only
