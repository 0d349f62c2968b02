"""The device client against the real reference cloud on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError, CloudUnreachable, Unauthorized
from sync.identity import DeviceKey
from sync.models import OAuthError
from tests.support.cloud import RunningCloud, running_cloud
from tests.support.device import assign_playlist, enroll, tokens_of, upload


async def test_enroll_then_state_is_fetched_once_per_change(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        grant = await client.authorize()
        assert len(grant.user_code.replace("-", "")) == 8
        pending = await client.poll_token(grant.device_code)
        assert isinstance(pending, OAuthError) and pending.error == "authorization_pending"

        client = await enroll(cloud, http)
        state = await client.get_state(None)
        assert state is not None and state.playlist is None
        assert state.device.id == tokens_of(client).device_id
        assert await client.get_state(state.cursor) is None  # nothing changed: 204

        asset = upload(cloud, "a.png", b"\x89PNG fake but hashed", "image/png")
        assign_playlist(cloud, state.device.id, [{"asset_id": asset, "duration_s": 3}])
        changed = await client.get_state(state.cursor)
        assert changed is not None and changed.cursor != state.cursor
        assert changed.playlist is not None
        assert [(i.asset_id, i.duration_ms) for i in changed.playlist.items] == [(asset, 3000)]


async def test_an_expired_access_token_is_refreshed_and_the_new_tokens_are_kept(
    tmp_path: Path,
) -> None:
    saved: list[DeviceTokens] = []
    with running_cloud(tmp_path / "cloud", access_token_ttl=1) as cloud:
        async with httpx.AsyncClient() as http:
            client = await enroll(cloud, http)
            client._on_tokens = saved.append
            first = tokens_of(client)
            await asyncio.sleep(2.1)  # the access token has expired
            assert await client.get_state(None) is not None
    assert len(saved) == 1
    assert saved[0].access_token != first.access_token
    assert saved[0].refresh_token != first.refresh_token
    assert saved[0].device_id == first.device_id


async def test_tokens_the_cloud_does_not_know_raise_unauthorized(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        enrolled = await enroll(cloud, http)
        forged = DeviceTokens(
            access_token="not.a.jwt",
            refresh_token="nope",
            device_id=tokens_of(enrolled).device_id,
            tenant_id=cloud.tenant_id,
        )
        client = DeviceClient(
            http=http, base_url=cloud.url, key=DeviceKey.generate(), tokens=forged
        )
        with pytest.raises(Unauthorized, match="refresh token"):
            await client.get_state(None)


async def test_stolen_tokens_are_useless_without_the_device_key(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        victim = await enroll(cloud, http)
        thief = DeviceClient(
            http=http, base_url=cloud.url, key=DeviceKey.generate(), tokens=tokens_of(victim)
        )
        with pytest.raises(Unauthorized):
            await thief.get_state(None)
        assert await victim.get_state(None) is not None  # the real device is unaffected


async def test_a_cloud_that_is_not_running_is_reported_as_unreachable(cloud: RunningCloud) -> None:
    cloud.stop()
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        with pytest.raises(CloudUnreachable, match=f"cannot reach the cloud at {cloud.url}"):
            await client.authorize()


async def test_a_malformed_state_body_is_a_clear_error() -> None:
    # Fault injection at the transport boundary: a cloud answering with a body of the wrong shape.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"cursor": 5, "assets": "nope"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tokens = DeviceTokens(access_token="a", refresh_token="r", device_id="d", tenant_id="t")
        client = DeviceClient(
            http=http, base_url="http://cloud.test", key=DeviceKey.generate(), tokens=tokens
        )
        with pytest.raises(CloudResponseError, match="not a StateSnapshot"):
            await client.get_state(None)


@pytest.mark.parametrize(
    ("header", "received_at", "offset"),
    [
        ("Wed, 25 Nov 2026 10:15:43 GMT", 1795601743.0, 0.5),  # same clock (mid-second)
        ("Wed, 25 Nov 2026 10:15:43 GMT", 1795601743.0 - 86400, 86400.5),  # device a day behind
        (None, 0.0, None),
        ("yesterday", 0.0, None),
        ("Wed, 25 Nov 2026 10:15:43", 0.0, None),  # no zone: unusable
    ],
)
def test_the_cloud_clock_offset_comes_from_the_date_header(header, received_at, offset) -> None:
    from sync.client import clock_offset_s

    assert clock_offset_s(header, received_at) == offset
