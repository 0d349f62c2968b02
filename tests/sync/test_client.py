"""The device client against the real reference cloud on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError, CloudUnreachable, Unauthorized
from sync.identity import DeviceKey
from sync.models import DeviceRecord, OAuthError, Playlist
from tests.cloud.screen import PNG_1X1
from tests.support.cloud import RunningCloud, running_cloud
from tests.support.device import assign_playlist, enroll, tokens_of, upload


class Statuses:
    """Records the status of every answer the test's httpx client receives (observes only)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def __call__(self, response: httpx.Response) -> None:
        self.seen.append((response.request.url.path.rsplit("/", 1)[-1], response.status_code))

    def take(self) -> list[tuple[str, int]]:
        seen, self.seen = self.seen, []
        return seen


async def test_enroll_then_state_is_fetched_once_per_change(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        grant = await client.authorize()
        assert len(grant.user_code.replace("-", "")) == 8
        pending = await client.poll_token(grant.device_code)
        assert isinstance(pending, OAuthError) and pending.error == "authorization_pending"
        assert client.tokens is None

        client = await enroll(cloud, http)
        listing = await client.get_state(None)
        assert listing is not None and listing.full and not listing.more
        [device] = [c.object for c in listing.changes]  # a full listing: the device alone
        assert isinstance(device, DeviceRecord) and device.playlist_id is None
        assert device.id == tokens_of(client).device_id
        assert await client.get_state(listing.cursor) is None  # nothing changed: 204

        asset = upload(cloud, "a.png", PNG_1X1, "image/png")
        assign_playlist(cloud, device.id, [{"asset_id": asset, "duration_s": 3}])
        changed = await client.get_state(listing.cursor)
        assert changed is not None and changed.cursor != listing.cursor and not changed.full
        playlists = [c.object for c in changed.changes if isinstance(c.object, Playlist)]
        assert [(i.asset_id, i.duration_ms) for i in playlists[0].items] == [(asset, 3000)]
        assert {c.kind for c in changed.changes} == {"device", "playlist", "asset"}


async def test_the_first_proof_is_retried_once_with_the_nonce_the_cloud_hands_out(
    cloud: RunningCloud,
) -> None:
    statuses = Statuses()
    async with httpx.AsyncClient(event_hooks={"response": [statuses]}) as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        await client.authorize()
        assert statuses.take() == [("authorize", 400), ("authorize", 200)]
        await client.authorize()
        assert statuses.take() == [("authorize", 200)]  # the nonce is kept


async def test_enrollment_and_refresh_hand_the_new_tokens_to_on_tokens(tmp_path: Path) -> None:
    saved: list[DeviceTokens | None] = []
    with running_cloud(tmp_path / "cloud", access_token_ttl=1) as cloud:
        async with httpx.AsyncClient() as http:
            client = await enroll(cloud, http, on_tokens=saved.append)
            first = tokens_of(client)
            assert saved == [first]
            await asyncio.sleep(2.1)  # the access token has expired
            assert await client.get_state(None) is not None
    assert len(saved) == 2
    refreshed = saved[1]
    assert refreshed is not None and refreshed == client.tokens
    assert refreshed.access_token != first.access_token
    assert refreshed.refresh_token != first.refresh_token
    assert refreshed.device_id == first.device_id


async def test_requests_refused_together_share_one_refresh(tmp_path: Path) -> None:
    saved: list[DeviceTokens | None] = []
    statuses = Statuses()
    with running_cloud(tmp_path / "cloud", access_token_ttl=1) as cloud:
        async with httpx.AsyncClient(event_hooks={"response": [statuses]}) as http:
            client = await enroll(cloud, http, on_tokens=saved.append)
            await asyncio.sleep(2.1)  # the access token has expired
            statuses.take()
            states = await asyncio.gather(*(client.get_state(None) for _ in range(3)))
    assert all(state is not None for state in states)
    assert len(saved) == 2  # enrollment, then exactly one refresh
    assert statuses.take().count(("token", 200)) == 1


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
        with pytest.raises(Unauthorized, match="refresh token") as info:
            await client.get_state(None)
    assert info.value.device_removed is False


async def test_a_removed_device_learns_it_from_the_refused_refresh(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        with cloud.admin() as admin:
            removed = admin.delete(f"/api/v3/admin/devices/{tokens_of(client).device_id}")
            assert removed.status_code == 200, removed.text
        with pytest.raises(Unauthorized) as info:
            await client.get_state(None)
    assert info.value.device_removed is True
    assert "\n" not in str(info.value)


async def test_stolen_tokens_are_useless_without_the_device_key(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        victim = await enroll(cloud, http)
        thief = DeviceClient(
            http=http, base_url=cloud.url, key=DeviceKey.generate(), tokens=tokens_of(victim)
        )
        with pytest.raises(Unauthorized):
            await thief.get_state(None)
        assert await victim.get_state(None) is not None  # the real device is unaffected


async def test_forgotten_tokens_are_dropped_for_good_and_the_store_hears_it(
    cloud: RunningCloud,
) -> None:
    saved: list[DeviceTokens | None] = []
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http, on_tokens=saved.append)
        client.forget_tokens()
        assert client.tokens is None
        assert saved[-1] is None
        with pytest.raises(Unauthorized, match="holds no tokens"):
            await client.get_state(None)
    assert len(saved) == 2  # no refresh was attempted without tokens


def test_the_tokens_cannot_be_replaced_from_outside() -> None:
    client = DeviceClient(
        http=httpx.AsyncClient(), base_url="http://cloud.test", key=DeviceKey.generate()
    )
    with pytest.raises(AttributeError):
        client.tokens = None  # type: ignore[misc]


async def test_an_error_answer_counts_as_contact(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        assert client.last_contact_at is None
        before = time.time()
        with pytest.raises(Unauthorized):
            await client.get_state(None)  # no tokens: 401
        assert client.last_contact_at is not None and client.last_contact_at >= before


async def test_a_cloud_that_is_not_running_is_reported_as_unreachable(cloud: RunningCloud) -> None:
    cloud.stop()
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        with pytest.raises(CloudUnreachable, match=f"cannot reach the cloud at {cloud.url}"):
            await client.authorize()
        assert client.last_contact_at is None


async def test_a_malformed_state_body_is_a_clear_error() -> None:
    # Fault injection at the transport boundary: a cloud answering with a body of the wrong shape.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"cursor": 5, "assets": "nope"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        tokens = DeviceTokens(access_token="a", refresh_token="r", device_id="d", tenant_id="t")
        client = DeviceClient(
            http=http, base_url="http://cloud.test", key=DeviceKey.generate(), tokens=tokens
        )
        with pytest.raises(CloudResponseError, match="not a valid StatePage"):
            await client.get_state(None)


async def test_an_unreachable_cloud_is_described_in_words_an_installer_can_act_on() -> None:
    from sync.errors import CloudUnreachable
    from sync.identity import DeviceKey
    from tests.support.cloud import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=url, key=DeviceKey.generate())
        with pytest.raises(CloudUnreachable) as caught:
            await client.authorize()
    message = str(caught.value)
    assert url in message and "connection refused" in message
    assert "\n" not in message
