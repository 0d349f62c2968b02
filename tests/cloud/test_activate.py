"""`/activate` over HTTP: sessions, CSRF, the device's description, web-worded errors.

The same flow in a real browser is in `test_activate_browser.py`."""

from __future__ import annotations

import re

import httpx

from cloud.activate import CSRF_COOKIE, NEXT_STEP, SESSION_COOKIE
from sync.client import DeviceClient
from sync.identity import DeviceKey
from sync.models import DeviceAuthorization
from tests.support.cloud import RunningCloud

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def waiting_screen(cloud: RunningCloud, description: str | None) -> DeviceAuthorization:
    """A code of a real device client, pending approval."""
    async with httpx.AsyncClient() as http:
        client = DeviceClient(http=http, base_url=cloud.url, key=DeviceKey.generate())
        return await client.authorize(description)


def csrf_of(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def device_names(cloud: RunningCloud) -> list[str]:
    with cloud.admin() as admin:
        response = admin.get("/api/v3/admin/devices")
        assert response.status_code == 200, response.text
        body = response.json()
        devices = body["devices"] if isinstance(body, dict) else body
        return [device["name"] for device in devices]


async def test_an_installer_signs_in_once_checks_the_device_and_activates_it(
    cloud: RunningCloud,
) -> None:
    _, installer_key = cloud.create_key("installer", "Team North")
    first = await waiting_screen(cloud, "lobby-pi\n· Raspberry Pi 4\x1b[2J · agent 0.1.0")
    second = await waiting_screen(cloud, None)
    with httpx.Client(base_url=cloud.url) as browser:
        page = browser.get("/activate", params={"user_code": first.user_code})
        assert page.status_code == 200
        assert f'value="{first.user_code}"' in page.text  # filled in from the QR code's link
        assert 'id="key"' in page.text
        confirm = browser.post(
            "/activate",
            data={
                "step": "check",
                "csrf": csrf_of(page),
                "user_code": first.user_code,
                "key": installer_key,
            },
        )
        assert confirm.status_code == 200, confirm.text
        # what the device sent, on one line and without its control characters
        assert "lobby-pi · Raspberry Pi 4 [2J · agent 0.1.0" in confirm.text
        session = confirm.headers["set-cookie"]
        assert session.startswith(f"{SESSION_COOKIE}=")
        assert installer_key not in session
        assert "httponly" in session.lower() and "samesite=strict" in session.lower()
        assert "secure" not in session.lower()  # plain http on loopback
        assert device_names(cloud) == []  # nothing approved before the confirm step

        done = browser.post(
            "/activate",
            data={
                "step": "approve",
                "csrf": csrf_of(confirm),
                "user_code": first.user_code,
                "name": "Lobby",
            },
        )
        assert done.status_code == 200, done.text
        assert "Screen <b>Lobby</b> is activated" in done.text
        assert NEXT_STEP in done.text
        assert device_names(cloud) == ["Lobby"]

        # the key is remembered: the next screen needs the code alone
        again = browser.get("/activate", params={"user_code": second.user_code})
        assert 'id="key"' not in again.text
        confirm = browser.post(
            "/activate",
            data={"step": "check", "csrf": csrf_of(again), "user_code": second.user_code},
        )
        assert "(the screen did not say)" in confirm.text
        done = browser.post(
            "/activate",
            data={
                "step": "approve",
                "csrf": csrf_of(confirm),
                "user_code": second.user_code,
                "name": "Hall",
            },
        )
        assert "is activated" in done.text
    assert sorted(device_names(cloud)) == ["Hall", "Lobby"]


async def test_a_form_without_its_csrf_token_approves_nothing(cloud: RunningCloud) -> None:
    _, installer_key = cloud.create_key("installer")
    grant = await waiting_screen(cloud, "pi")
    with httpx.Client(base_url=cloud.url) as browser:
        page = browser.get("/activate")
        assert browser.cookies.get(CSRF_COOKIE) == csrf_of(page)
        forged = browser.post(
            "/activate",
            data={
                "step": "check",
                "csrf": "not-the-token",
                "user_code": grant.user_code,
                "key": installer_key,
            },
        )
        assert forged.status_code == 403
        assert "Enter the code again" in forged.text
        assert SESSION_COOKIE not in browser.cookies
        confirm = browser.post(
            "/activate",
            data={
                "step": "check",
                "csrf": csrf_of(forged),
                "user_code": grant.user_code,
                "key": installer_key,
            },
        )
        assert confirm.status_code == 200
        # signed in now: the token is the session's, the double-submit one no longer counts
        forged = browser.post(
            "/activate",
            data={
                "step": "approve",
                "csrf": browser.cookies[CSRF_COOKIE],
                "user_code": grant.user_code,
                "name": "Lobby",
            },
        )
        assert forged.status_code == 403
    assert device_names(cloud) == []


async def test_refusals_are_worded_for_a_web_user(cloud: RunningCloud) -> None:
    _, editor_key = cloud.create_key("editor")
    installer_id, installer_key = cloud.create_key("installer")
    grant = await waiting_screen(cloud, "pi")
    with httpx.Client(base_url=cloud.url) as browser:

        def check(code: str, key: str | None = None) -> httpx.Response:
            page = browser.get("/activate")
            data = {"step": "check", "csrf": csrf_of(page), "user_code": code}
            return browser.post("/activate", data=data | ({"key": key} if key else {}))

        wrong = check(grant.user_code, "sk_wrong")
        assert wrong.status_code == 401
        assert "This key is not recognised" in wrong.text
        assert "--key" not in wrong.text and "SIGNAGE_" not in wrong.text
        editor = check(grant.user_code, editor_key)
        assert editor.status_code == 403
        assert "cannot activate screens: it is an editor key" in editor.text
        assert "key create" not in editor.text
        unknown = check("BBBB-BBBB", installer_key)
        assert unknown.status_code == 404
        assert "No screen is waiting with the code BBBB-BBBB" in unknown.text
        with cloud.admin() as admin:
            assert admin.delete(f"/api/v3/admin/keys/{installer_id}").status_code in (200, 204)
        revoked = check(grant.user_code)  # the session's key, revoked since
        assert revoked.status_code == 401
        assert "This key was revoked" in revoked.text
        assert 'id="key"' in revoked.text  # signed out: the key is asked again


async def test_looking_codes_up_counts_against_the_limit_of_wrong_codes(
    cloud: RunningCloud,
) -> None:
    _, installer_key = cloud.create_key("installer")
    with httpx.Client(base_url=cloud.url) as browser:
        page = browser.get("/activate")
        data = {
            "step": "check",
            "csrf": csrf_of(page),
            "user_code": "BBBB-BBBB",
            "key": installer_key,
        }
        statuses = []
        for _ in range(6):
            response = browser.post("/activate", data=data)
            statuses.append(response.status_code)
            data = {"step": "check", "csrf": csrf_of(response), "user_code": "BBBB-BBBB"}
    assert statuses == [404] * 5 + [429]
    assert "Too many failed attempts. Wait" in response.text
    assert response.headers["Retry-After"].isdigit()
