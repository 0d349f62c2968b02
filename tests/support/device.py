"""A device (real key, real DPoP client) enrolled in a test cloud, for sync-level tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from sync.client import DeviceClient, DeviceTokens
from sync.identity import DeviceKey
from sync.models import DEFAULT_MAX_STATE_BYTES, StatePage, TokenResponse
from tests.support.cloud import RunningCloud

# A held request is given this much longer than the hold.
WAIT_MARGIN_S = 15


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


async def state_answer(
    client: DeviceClient,
    cursor: str | None = None,
    *,
    wait_s: int = 0,
    limit: int | None = None,
) -> httpx.Response:
    """`GET /state` through the client's own signed request (DPoP, nonce retry, refresh),
    whatever its `get_state` makes of the answer; the body is read."""
    params: dict[str, Any] = {}
    if cursor is not None:
        params["cursor"] = cursor
    if wait_s:
        params["wait"] = wait_s
    if limit is not None:
        params["limit"] = limit
    timeout = httpx.Timeout(wait_s + WAIT_MARGIN_S, connect=5.0)
    return await client._json(  # the low-level request, on purpose
        "GET",
        "/state",
        limit=DEFAULT_MAX_STATE_BYTES,
        params=params or None,
        http_timeout=timeout,
    )


async def full_listing(client: DeviceClient) -> list[StatePage]:
    """Every page of a full listing; the last one's cursor is the delta cursor to hold."""
    pages: list[StatePage] = []
    cursor: str | None = None
    while True:
        response = await state_answer(client, cursor)
        assert response.status_code == 200, response.text
        page = StatePage.model_validate_json(response.content)
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return pages


async def enroll_and_sync(cloud: RunningCloud, http: httpx.AsyncClient) -> tuple[DeviceClient, str]:
    """An enrolled device that has read a full listing, and the cursor it holds."""
    client = await enroll(cloud, http)
    pages = await full_listing(client)
    return client, pages[-1].cursor


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
