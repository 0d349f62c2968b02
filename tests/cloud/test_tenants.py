"""Tenant isolation: an admin key reaches its own tenant's rows and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.cloud.screen import PNG_1X1, VIDEO_BYTES, Screen, assign, create_playlist, upload
from tests.support.cloud import RunningCloud


@dataclass
class Tenant:
    id: str
    admin: httpx.Client
    screen: Screen
    asset: dict[str, str]
    playlist_id: str


@pytest.fixture
def tenants(cloud: RunningCloud) -> Iterator[tuple[Tenant, Tenant]]:
    """Tenants A and B, each with an enrolled screen, an asset and a playlist of it."""
    b_id, b_key = cloud.create_tenant("Tenant B")
    made = []
    for tenant_id, key, data in (
        (cloud.tenant_id, cloud.admin_key, VIDEO_BYTES),
        (b_id, b_key, PNG_1X1),
    ):
        admin = httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {key}"})
        screen = Screen(cloud.url)
        screen.enroll(cloud, admin_key=key, name=f"Screen of {tenant_id}")
        content_type = "video/mp4" if data is VIDEO_BYTES else "image/png"
        asset = upload(admin, f"asset-of-{tenant_id}", data, content_type)
        playlist_id = create_playlist(admin, "Mine", [{"asset_id": asset["id"]}])
        made.append(Tenant(tenant_id, admin, screen, asset, playlist_id))
    try:
        yield made[0], made[1]
    finally:
        for tenant in made:
            tenant.admin.close()
            tenant.screen.http.close()


def test_each_admin_lists_only_its_own_devices(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    a_devices = [d["id"] for d in a.admin.get("/api/v3/admin/devices").json()]
    b_devices = [d["id"] for d in b.admin.get("/api/v3/admin/devices").json()]
    assert a_devices == [a.screen.device_id]
    assert b_devices == [b.screen.device_id]
    assert a.screen.tokens is not None and a.screen.tokens.tenant_id == a.id
    assert b.screen.tokens is not None and b.screen.tokens.tenant_id == b.id


def test_an_admin_cannot_assign_another_tenants_device_or_playlist(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    foreign_device = assign(b.admin, a.screen.device_id, b.playlist_id)
    assert foreign_device.status_code == 404
    assert f"no device {a.screen.device_id} in this tenant" in foreign_device.json()["detail"]
    foreign_playlist = assign(b.admin, b.screen.device_id, a.playlist_id)
    assert foreign_playlist.status_code == 404
    assert f"no playlist {a.playlist_id} in this tenant" in foreign_playlist.json()["detail"]
    # A's screen still plays nothing: the refused assignment did not land.
    held, _ = a.screen.listing()
    assert list(held) == [("device", a.screen.device_id)]
    assert held["device", a.screen.device_id].data["playlist_id"] is None


def test_an_admin_cannot_put_another_tenants_asset_in_a_playlist(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    response = b.admin.post(
        "/api/v3/admin/playlists",
        json={
            "name": "Stolen",
            "items": [{"asset_id": b.asset["id"]}, {"asset_id": a.asset["id"]}],
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"no asset {a.asset['id']} in this tenant")


def test_a_device_cannot_download_another_tenants_blob(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    assert b.screen.get_blob(b.asset["sha256"]).status_code == 200
    foreign = b.screen.get_blob(a.asset["sha256"])
    assert foreign.status_code == 404
    assert foreign.content != VIDEO_BYTES
    assert a.screen.get_blob(a.asset["sha256"]).content == VIDEO_BYTES


def test_a_device_sees_only_its_own_tenants_playlist_and_assets(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    _, a_cursor = a.screen.listing()
    assert assign(b.admin, b.screen.device_id, b.playlist_id).status_code == 200
    held, _ = b.screen.listing()
    assert held["device", b.screen.device_id].data["tenant_id"] == b.id
    assert sorted(held) == [
        ("asset", b.asset["id"]),
        ("device", b.screen.device_id),
        ("playlist", b.playlist_id),
    ]
    assert list(a.screen.listing()[0]) == [("device", a.screen.device_id)]
    assert a.screen.get_state(a_cursor).status_code == 204
    # A cursor of one tenant means nothing in another: refused, never answered.
    assert b.screen.get_state(a_cursor).status_code == 410


def test_the_admin_api_wants_a_known_key(cloud: RunningCloud) -> None:
    with httpx.Client(base_url=cloud.url) as anonymous:
        missing = anonymous.get("/api/v3/admin/devices")
        assert missing.status_code == 401
        assert missing.json()["detail"].startswith("missing key")
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = anonymous.get(
            "/api/v3/admin/devices", headers={"Authorization": "Bearer sk_not-a-key"}
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"].startswith("key not recognised")
        upload = anonymous.post("/api/v3/admin/assets", params={"name": "a.png"}, content=PNG_1X1)
        assert upload.status_code == 401
