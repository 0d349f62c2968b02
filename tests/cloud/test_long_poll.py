"""Long-poll on `GET /device/state`: held while nothing concerns the device, answered when
something does."""

from __future__ import annotations

import asyncio
import signal

import httpx

from sync.models import StatePage
from tests.cloud.screen import PNG_1X1, Screen, assign, create_playlist, upload
from tests.support.cloud import RunningCloud
from tests.support.device import enroll_and_sync, state_answer, tokens_of
from tests.support.device import upload as upload_bytes


def page_of(response: httpx.Response) -> StatePage:
    assert response.status_code == 200, (response.status_code, response.text)
    return StatePage.model_validate_json(response.content)


async def test_a_held_poll_answers_with_the_change_that_ends_it(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        device_id = tokens_of(client).device_id
        held = asyncio.create_task(state_answer(client, cursor, wait_s=30))
        await asyncio.sleep(0.3)  # let the request reach the cloud and be held
        # Writes that concern no device first, then one that concerns this one: the held
        # request ends with that one alone.
        asset = upload_bytes(cloud, "a.png", PNG_1X1 + b"new content", "image/png")
        with cloud.admin() as admin:
            playlist = create_playlist(admin, "New", [{"asset_id": asset}])
            assert assign(admin, device_id, playlist).status_code == 200
        page = page_of(await asyncio.wait_for(held, 25))
    assert not page.full and not page.more
    assert {(c.kind, c.id) for c in page.changes} == {
        ("device", device_id),
        ("playlist", playlist),
        ("asset", asset),
    }


async def test_a_held_poll_with_no_change_ends_as_not_modified(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        answer = await state_answer(client, cursor, wait_s=1)
    assert answer.status_code == 204
    assert answer.content == b""


async def test_another_tenants_change_does_not_wake_the_poll(cloud: RunningCloud) -> None:
    _, other_key = cloud.create_tenant("Other")
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(state_answer(client, cursor, wait_s=2))
        await asyncio.sleep(0.3)
        with httpx.Client(
            base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}
        ) as b:
            response = b.post(
                "/api/v3/admin/assets", params={"name": "b.png"}, content=PNG_1X1 + b"other tenant",
                headers={"Content-Type": "image/png"},
            )  # fmt: skip
            assert response.status_code == 200
        assert (await asyncio.wait_for(held, 20)).status_code == 204


def test_a_write_reaches_only_the_devices_it_concerns(cloud: RunningCloud) -> None:
    """Two screens on two playlists: renaming an asset of one answers that screen's held
    poll with the rename, while the other's poll, held all along, ends with 204."""
    with (
        cloud.admin() as admin,
        Screen(cloud.url) as lobby,
        Screen(cloud.url) as hall,
    ):
        lobby.enroll(cloud, name="Lobby")
        hall.enroll(cloud, name="Hall")
        ours = upload(admin, "ours.png", PNG_1X1, "image/png")["id"]
        theirs = upload(admin, "theirs.png", PNG_1X1 + b"x", "image/png")["id"]
        for screen, asset in ((lobby, ours), (hall, theirs)):
            playlist = create_playlist(admin, screen.device_id, [{"asset_id": asset}])
            assert assign(admin, screen.device_id, playlist).status_code == 200
        _, lobby_cursor = lobby.listing()
        _, hall_cursor = hall.listing()

        async def scenario() -> tuple[httpx.Response, httpx.Response]:
            hall_held = asyncio.create_task(asyncio.to_thread(hall.get_state, hall_cursor, wait=3))
            lobby_held = asyncio.create_task(
                asyncio.to_thread(lobby.get_state, lobby_cursor, wait=20)
            )
            await asyncio.sleep(0.3)
            renamed = await asyncio.to_thread(
                admin.patch, f"/api/v3/admin/assets/{ours}", json={"name": "Welcome"}
            )
            assert renamed.status_code == 200, renamed.text
            return await lobby_held, await hall_held

        lobby_answer, hall_answer = asyncio.run(scenario())
    assert hall_answer.status_code == 204
    page = page_of(lobby_answer)
    assert [(c.kind, c.id, c.data and c.data["name"]) for c in page.changes] == [
        ("asset", ours, "Welcome")
    ]


async def test_stopping_the_cloud_ends_held_polls_at_once(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(state_answer(client, cursor, wait_s=60))
        await asyncio.sleep(0.5)
        # SIGTERM; SIGKILL only after 5 s. uvicorn re-raises the SIGTERM after a clean stop.
        status = await asyncio.to_thread(cloud.stop)
        assert status == -signal.SIGTERM, cloud.log()  # not killed: it did not wait out the poll
        assert "signage-cloud stopped" in cloud.log()
        await asyncio.gather(held, return_exceptions=True)
