"""A device (real key, real DPoP client) enrolled in a test cloud, for sync-level tests."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from sync.client import DeviceClient, DeviceTokens
from sync.identity import DeviceKey
from sync.models import TokenResponse
from tests.support.cloud import RunningCloud


def approve(cloud: RunningCloud, user_code: str, name: str = "Test screen") -> str:
    """Approve a code as the test tenant's admin; the new device's id."""
    with cloud.admin() as admin:
        response = admin.post(f"/api/v3/admin/enrollments/{user_code}/approve", json={"name": name})
        assert response.status_code == 200, response.text
        return response.json()["device_id"]


def create_playlist(cloud: RunningCloud, items: list[dict], name: str = "Test list") -> str:
    with cloud.admin() as admin:
        response = admin.post("/api/v3/admin/playlists", json={"name": name, "items": items})
        assert response.status_code == 200, response.text
        return response.json()["id"]


def assign(cloud: RunningCloud, device_id: str, playlist_id: str) -> None:
    with cloud.admin() as admin:
        response = admin.put(
            f"/api/v3/admin/devices/{device_id}/playlist", json={"playlist_id": playlist_id}
        )
        assert response.status_code == 200, response.text


async def enroll(
    cloud: RunningCloud,
    http: httpx.AsyncClient,
    *,
    name: str = "Test screen",
    key: DeviceKey | None = None,
    on_tokens: Callable[[DeviceTokens | None], None] | None = None,
) -> DeviceClient:
    """Enroll a fresh device key through the real RFC 8628 flow, approved by the test's admin."""
    client = DeviceClient(
        http=http, base_url=cloud.url, key=key or DeviceKey.generate(), on_tokens=on_tokens
    )
    grant = await client.authorize()
    approve(cloud, grant.user_code, name)
    answer = await client.poll_token(grant.device_code)
    assert isinstance(answer, TokenResponse), answer
    return client


async def enroll_and_sync(cloud: RunningCloud, http: httpx.AsyncClient) -> tuple[DeviceClient, str]:
    """An enrolled device that has fetched its state once, and the cursor it holds."""
    client = await enroll(cloud, http)
    state = await client.get_state(None)
    assert state is not None
    return client, state.cursor


def assign_playlist(cloud: RunningCloud, device_id: str, items: list[dict]) -> str:
    """Make a playlist of `items` and assign it to `device_id`; the playlist's id."""
    playlist_id = create_playlist(cloud, items)
    assign(cloud, device_id, playlist_id)
    return playlist_id


def upload(cloud: RunningCloud, name: str, data: bytes, content_type: str) -> str:
    with cloud.admin() as admin:
        response = admin.post(
            "/api/v3/admin/assets",
            params={"name": name},
            content=data,
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 200, response.text
        return response.json()["id"]


def tokens_of(client: DeviceClient) -> DeviceTokens:
    assert client.tokens is not None
    return client.tokens
