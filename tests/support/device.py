"""A device (real key, real DPoP client) enrolled in a test cloud, for sync-level tests."""

from __future__ import annotations

import httpx

from sync.client import DeviceClient, DeviceTokens
from sync.identity import DeviceKey
from sync.models import TokenResponse
from tests.support.cloud import RunningCloud


async def enroll(
    cloud: RunningCloud,
    http: httpx.AsyncClient,
    *,
    name: str = "Test screen",
    key: DeviceKey | None = None,
) -> DeviceClient:
    """Enroll a fresh device key through the real RFC 8628 flow, approved by the test's admin."""
    client = DeviceClient(http=http, base_url=cloud.url, key=key or DeviceKey.generate())
    grant = await client.authorize()
    with cloud.admin() as admin:
        response = admin.post(
            f"/api/v3/admin/enrollments/{grant.user_code}/approve", json={"name": name}
        )
        assert response.status_code == 200, response.text
    answer = await client.poll_token(grant.device_code)
    assert isinstance(answer, TokenResponse), answer
    return client


def assign_playlist(cloud: RunningCloud, device_id: str, items: list[dict]) -> str:
    with cloud.admin() as admin:
        response = admin.post("/api/v3/admin/playlists", json={"name": "Test list", "items": items})
        assert response.status_code == 200, response.text
        playlist_id = response.json()["id"]
        response = admin.put(
            f"/api/v3/admin/devices/{device_id}/playlist", json={"playlist_id": playlist_id}
        )
        assert response.status_code == 200, response.text
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
