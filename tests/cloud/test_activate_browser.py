"""`/activate` in a real browser (headless chromium): the installer's whole visit.

Run as a module to remake the screenshot in docs/installing.md:
`.venv/bin/python -m tests.cloud.test_activate_browser docs/img/activate.png`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

from cloud.activate import NEXT_STEP
from sync.client import DeviceClient
from sync.identity import DeviceKey
from sync.models import DeviceAuthorization
from tests.support.browser import chromium
from tests.support.cloud import RunningCloud, running_cloud

DESCRIPTION = "lobby-pi · Raspberry Pi 4 Model B Rev 1.5 · agent 0.1.0"


async def _authorize(url: str) -> DeviceAuthorization:
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=url, key=DeviceKey.generate())
        return await client.authorize(DESCRIPTION)


def walk_through(cloud: RunningCloud, screenshot: Path | None = None) -> None:
    """A wrong key, then the installer key; confirm; activated. Asserts every step."""
    from selenium.webdriver.common.by import By

    grant = asyncio.run(_authorize(cloud.url))
    _, installer_key = cloud.create_key("installer", "Team North")
    with chromium() as browser:
        browser.get(grant.verification_uri_complete)
        code = browser.find_element(By.ID, "user_code")
        assert code.get_attribute("value") == grant.user_code  # from the QR code's link

        browser.find_element(By.ID, "key").send_keys("sk_not_a_real_key")
        browser.find_element(By.ID, "continue").click()
        error = browser.find_element(By.ID, "error").text
        assert error.startswith("This key is not recognised"), error
        assert "--key" not in browser.page_source

        browser.find_element(By.ID, "key").send_keys(installer_key)
        browser.find_element(By.ID, "continue").click()
        assert browser.find_element(By.ID, "confirm_code").text == grant.user_code
        assert browser.find_element(By.ID, "device").text == DESCRIPTION
        cookies = {cookie["name"]: cookie for cookie in browser.get_cookies()}
        assert cookies["activate_session"]["httpOnly"]
        assert cookies["activate_session"]["sameSite"] == "Strict"
        assert installer_key not in str(cookies)
        browser.find_element(By.ID, "name").send_keys("Lobby")
        if screenshot is not None:
            browser.save_screenshot(str(screenshot))

        browser.find_element(By.ID, "activate").click()
        done = browser.find_element(By.ID, "done").text
        assert done == "Screen Lobby is activated.", done
        assert NEXT_STEP in browser.find_element(By.TAG_NAME, "body").text

    with cloud.admin() as admin:
        devices = admin.get("/api/v3/admin/devices").json()
    assert [device["name"] for device in devices] == ["Lobby"]


def test_an_installer_activates_a_screen_in_a_browser(cloud: RunningCloud, tmp_path: Path) -> None:
    shot = tmp_path / "activate.png"
    walk_through(cloud, shot)
    assert shot.read_bytes().startswith(b"\x89PNG")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/activate.png")
    with tempfile.TemporaryDirectory() as data, running_cloud(Path(data) / "cloud") as cloud:
        walk_through(cloud, target)
    print(f"wrote {target}")
