"""An admin removes a device: its tokens stop working, and it is told it was removed."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from sync.client import DeviceClient, DeviceTokens
from sync.errors import Unauthorized
from sync.identity import DeviceKey
from tests.support.cloud import RunningCloud
from tests.support.device import enroll, enroll_and_sync, state_answer, tokens_of


def remove(cloud: RunningCloud, device_id: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or cloud.admin_key}"}
    with httpx.Client(base_url=cloud.url, headers=headers) as admin:
        return admin.delete(f"/api/v3/admin/devices/{device_id}")


async def test_a_removed_device_is_refused_and_told_it_was_removed(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        device_id = tokens_of(client).device_id
        assert (await state_answer(client)).status_code == 200
        response = remove(cloud, device_id)
        assert response.status_code == 200, response.text
        with pytest.raises(Unauthorized) as info:
            await state_answer(client)
    assert info.value.device_removed is True
    with cloud.admin() as admin:
        assert device_id not in [d["id"] for d in admin.get("/api/v3/admin/devices").json()]


async def test_a_held_poll_ends_when_the_device_is_removed(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        held = asyncio.create_task(state_answer(client, cursor, wait_s=30))
        await asyncio.sleep(0.3)
        assert remove(cloud, tokens_of(client).device_id).status_code == 200
        with pytest.raises(Unauthorized) as info:
            await asyncio.wait_for(held, 20)
    assert info.value.device_removed is True


async def test_revoked_tokens_are_not_a_removal(cloud: RunningCloud) -> None:
    # A refresh token the cloud does not know is refused without `device_removed`:
    # the screen enrolls again but keeps its content.
    async with httpx.AsyncClient() as http:
        key = DeviceKey.generate()
        enrolled = await enroll(cloud, http, key=key)
        unknown = DeviceTokens(
            access_token="garbage", refresh_token="rt_unknown.x",
            device_id=tokens_of(enrolled).device_id, tenant_id=cloud.tenant_id,
        )  # fmt: skip
        client = DeviceClient(http=http, base_url=cloud.url, key=key, tokens=unknown)
        with pytest.raises(Unauthorized) as info:
            await state_answer(client)
    assert info.value.device_removed is False


async def test_another_tenant_cannot_remove_a_device(cloud: RunningCloud) -> None:
    _, other_key = cloud.create_tenant("Other")
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http)
        response = remove(cloud, tokens_of(client).device_id, key=other_key)
        assert response.status_code == 404
        assert (await state_answer(client)).status_code == 200  # still working


async def test_the_cli_removes_a_device(cloud: RunningCloud) -> None:
    async with httpx.AsyncClient() as http:
        client = await enroll(cloud, http, name="Lobby")
    device_id = tokens_of(client).device_id
    env = {"SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key, "PATH": ""}
    command = [sys.executable, "-m", "cloud", "device", "remove", device_id]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"removed device {device_id} (Lobby)" in result.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 1
    assert f"no device {device_id} in this tenant" in again.stderr
