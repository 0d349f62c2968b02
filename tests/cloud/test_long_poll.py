"""Long-poll on `GET /device/state`: held while nothing changes, answered when something does."""

from __future__ import annotations

import asyncio
import signal

import httpx

from tests.support.cloud import RunningCloud
from tests.support.device import enroll_and_sync, tokens_of, upload


async def test_a_held_poll_answers_with_the_change_that_ends_it(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(client.get_state(cursor, wait_s=30))
        await asyncio.sleep(0.5)
        assert not held.done()  # nothing changed: the cloud holds the request

        asset = upload(cloud, "a.png", b"new content", "image/png")  # moves the cursor
        after_upload = await asyncio.wait_for(held, 25)
        assert after_upload is not None and after_upload.cursor != cursor

        held = asyncio.create_task(client.get_state(after_upload.cursor, wait_s=30))
        await asyncio.sleep(0.3)
        assert not held.done()
        with cloud.admin() as admin:
            playlist = admin.post(
                "/api/v3/admin/playlists", json={"name": "New", "items": [{"asset_id": asset}]}
            ).json()["id"]
            device_id = tokens_of(client).device_id
            admin.put(f"/api/v3/admin/devices/{device_id}/playlist", json={"playlist_id": playlist})
        assigned = await asyncio.wait_for(held, 25)
        if assigned is not None and assigned.playlist is None:  # woken by the playlist's creation
            assigned = await client.get_state(assigned.cursor, wait_s=30)
    assert assigned is not None and assigned.playlist is not None
    assert assigned.playlist.name == "New"


async def test_a_held_poll_with_no_change_ends_as_not_modified(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        assert await client.get_state(cursor, wait_s=1) is None


async def test_another_tenants_change_does_not_wake_the_poll(cloud: RunningCloud) -> None:
    _, other_key = cloud.create_tenant("Other")
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(client.get_state(cursor, wait_s=2))
        await asyncio.sleep(0.3)
        with httpx.Client(
            base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}
        ) as b:
            response = b.post(
                "/api/v3/admin/assets", params={"name": "b.png"}, content=b"other tenant",
                headers={"Content-Type": "image/png"},
            )  # fmt: skip
            assert response.status_code == 200
        assert await asyncio.wait_for(held, 20) is None


async def test_stopping_the_cloud_ends_held_polls_at_once(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(client.get_state(cursor, wait_s=60))
        await asyncio.sleep(0.5)
        # SIGTERM; SIGKILL only after 5 s. uvicorn re-raises the SIGTERM after a clean stop.
        status = await asyncio.to_thread(cloud.stop)
        assert status == -signal.SIGTERM, cloud.log()  # not killed: it did not wait out the poll
        assert "signage-cloud stopped" in cloud.log()
        await asyncio.gather(held, return_exceptions=True)
