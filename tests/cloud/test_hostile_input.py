"""Hostile or careless input gets a 4xx with a JSON reason, never a 500 or a traceback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sync.identity import DeviceKey
from sync.models import ADMIN_PREFIX, DEVICE_PREFIX, MAX_NAME_CHARS, MAX_PLAYLIST_ITEMS
from tests.cloud.screen import PNG_1X1, Screen, upload
from tests.support.cloud import RunningCloud


def reason(response: httpx.Response) -> str:
    """The one-line reason of a refusal: `detail`, or an OAuth `error_description`."""
    body = response.json()
    text = body.get("detail") or body.get("error_description") or body.get("error")
    assert isinstance(text, str) and text, body
    assert "\n" not in text
    return text


def assert_refused(response: httpx.Response, status: int | None = None) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if status is not None:
        assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    return reason(response)


def assert_no_traceback(cloud: RunningCloud) -> None:
    log = cloud.log()
    assert "Traceback" not in log
    assert '" 500' not in log  # uvicorn's access line of a 500


@pytest.fixture
def asset_id(cloud: RunningCloud) -> str:
    with cloud.admin() as admin:
        return str(upload(admin, "a.png", PNG_1X1, "image/png")["id"])


# JSON texts as a careless script or an attacker would send them; Python's json module
# reads 1e999 as infinity and accepts NaN and Infinity.
BAD_DURATIONS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1e9", "0", "-5", "1" * 400]


@pytest.mark.parametrize("duration", BAD_DURATIONS)
def test_a_duration_that_is_not_a_sane_number_is_refused(
    cloud: RunningCloud, asset_id: str, duration: str
) -> None:
    body = f'{{"name": "Loop", "items": [{{"asset_id": "{asset_id}", "duration_s": {duration}}}]}}'
    with cloud.admin() as admin:
        response = admin.post(
            f"{ADMIN_PREFIX}/playlists",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert "duration_s" in assert_refused(response, 422)
    assert_no_traceback(cloud)


def test_the_longest_duration_allowed_is_one_day(cloud: RunningCloud, asset_id: str) -> None:
    with cloud.admin() as admin:
        day = {"name": "Slow", "items": [{"asset_id": asset_id, "duration_s": 86_400}]}
        assert admin.post(f"{ADMIN_PREFIX}/playlists", json=day).status_code == 200
        day["items"][0]["duration_s"] = 86_400.5  # type: ignore[index]
        assert_refused(admin.post(f"{ADMIN_PREFIX}/playlists", json=day), 422)


@pytest.mark.parametrize(
    "name",
    ["", "two\nlines", "nul\x00", "tab\there", "sep\u2028arator", "x" * (MAX_NAME_CHARS + 1)],
)
def test_a_name_that_is_empty_too_long_or_has_control_characters_is_refused(
    cloud: RunningCloud, asset_id: str, name: str
) -> None:
    with cloud.admin() as admin:
        playlist = admin.post(
            f"{ADMIN_PREFIX}/playlists", json={"name": name, "items": [{"asset_id": asset_id}]}
        )
        assert "name" in assert_refused(playlist, 422)
        asset = admin.post(
            f"{ADMIN_PREFIX}/assets",
            params={"name": name},
            content=PNG_1X1,
            headers={"Content-Type": "image/png"},
        )
        assert "name" in assert_refused(asset, 422)
    with Screen(cloud.url) as screen, cloud.admin() as admin:
        grant = screen.authorize()
        approved = admin.post(
            f"{ADMIN_PREFIX}/enrollments/{grant.user_code}/approve", json={"name": name}
        )
        assert "name" in assert_refused(approved, 422)
    assert_no_traceback(cloud)


def test_a_unicode_name_within_bounds_is_kept(cloud: RunningCloud, asset_id: str) -> None:
    name = "Café ☕ " + "é" * (MAX_NAME_CHARS - 7)
    with cloud.admin() as admin:
        response = admin.post(
            f"{ADMIN_PREFIX}/playlists", json={"name": name, "items": [{"asset_id": asset_id}]}
        )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        '{"name": 5, "items": []}',
        '{"name": "x", "items": "all"}',
        '{"name": "x", "items": [{"asset_id": 7}]}',
        '{"name": "x", "items": [{"asset_id": "' + "a" * 10_000 + '"}]}',
        '{"name": "x", "items": [{"asset_id": "ast\\u0000"}]}',
        '{"name": "x", "items": [{"asset_id": "ast", "duration_s": "soon"}]}',
        '{"name": "x", "items": [{"asset_id": "ast", "duration_s": true}]}',
        '{"name": "\\ud800", "items": [{"asset_id": "ast"}]}',  # a lone surrogate
        "{" * 100_000,
    ],
)
def test_a_malformed_playlist_body_is_refused(cloud: RunningCloud, body: str) -> None:
    with cloud.admin() as admin:
        response = admin.post(
            f"{ADMIN_PREFIX}/playlists",
            content=body.encode("utf-8", "surrogatepass"),
            headers={"Content-Type": "application/json"},
        )
    assert_refused(response, 422)
    assert_no_traceback(cloud)


def test_a_playlist_above_the_item_limit_is_refused_by_name(
    cloud: RunningCloud, asset_id: str
) -> None:
    items = [{"asset_id": asset_id}] * (MAX_PLAYLIST_ITEMS + 1)
    with cloud.admin() as admin:
        response = admin.post(f"{ADMIN_PREFIX}/playlists", json={"name": "Big", "items": items})
    detail = assert_refused(response, 422)
    assert "items" in detail
    assert str(MAX_PLAYLIST_ITEMS) in detail


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/devices/dev_x/playlist", {"playlist_id": 5}),
        ("/devices/dev_x/playlist", {"playlist_id": ["a"]}),
        ("/devices/dev_x/playlist", {}),
    ],
)
def test_a_malformed_assignment_is_refused(
    cloud: RunningCloud, path: str, body: dict[str, Any]
) -> None:
    with cloud.admin() as admin:
        assert_refused(admin.put(f"{ADMIN_PREFIX}{path}", json=body), 422)


def test_a_non_ascii_authorization_is_refused(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen:
        screen.enroll(cloud)
        proof = screen.proof("GET", f"{DEVICE_PREFIX}/state", access_token=screen.access_token)
        foreign = b"DPoP " + "tökén€".encode()
        for headers in (
            {b"Authorization": foreign, b"DPoP": proof.encode()},
            {b"Authorization": f"DPoP {screen.access_token}".encode(), b"DPoP": "ä€".encode()},
            {b"Authorization": b"DPoP \xff\xfe", b"DPoP": b"\xff"},
        ):
            response = screen.http.get(f"{DEVICE_PREFIX}/state", headers=headers)
            assert_refused(response, 401)
        admin_key = "Bearer sk_ä€".encode()
        devices = screen.http.get(f"{ADMIN_PREFIX}/devices", headers={b"Authorization": admin_key})
        assert_refused(devices, 401)
        token = screen.http.post(
            f"{DEVICE_PREFIX}/token",
            content=b"grant_type=refresh_token&refresh_token=x",
            headers={
                b"Content-Type": b"application/x-www-form-urlencoded",
                b"DPoP": "é".encode(),
            },
        )
        assert_refused(token, 400)
    assert_no_traceback(cloud)


@pytest.mark.parametrize(
    "query",
    ["wait=1e999", "wait=NaN", "wait=-1", "wait=61", "wait=" + "9" * 400, "cursor=%00%ff"],
)
def test_a_hostile_state_query_is_refused_or_answered(cloud: RunningCloud, query: str) -> None:
    with Screen(cloud.url) as screen:
        screen.enroll(cloud)
        path = f"{DEVICE_PREFIX}/state?{query}"
        response = screen.send("GET", path, access_token=screen.access_token)
    # A cursor the cloud did not make is Gone (the device then asks for a full listing).
    assert response.status_code in (200, 401, 410, 422), response.text
    if response.status_code != 200:
        reason(response)
    assert_no_traceback(cloud)


@pytest.mark.parametrize(
    "body",
    [b"client_id=%ff%fe", b"\xff\xfe\xfd", b"client_id=signage-agent&client_id=x", b"=&&=="],
)
def test_a_hostile_form_body_is_refused(cloud: RunningCloud, body: bytes) -> None:
    with Screen(cloud.url) as screen:
        response = screen.raw(
            "POST",
            f"{DEVICE_PREFIX}/authorize",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_refused(response, 400)
    assert_no_traceback(cloud)


@pytest.mark.parametrize("typ", ["t" * 2000, "dpop+jwt\n\u2028forged"])
def test_a_proof_whose_header_is_echoed_in_the_error_is_refused_not_a_500(
    cloud: RunningCloud, typ: str
) -> None:
    import jwt

    key = DeviceKey.generate()
    proof = jwt.encode(
        {"jti": "j" * 16, "htm": "POST", "htu": f"{cloud.url}{DEVICE_PREFIX}/authorize",
         "iat": 0},
        key.private_key,
        algorithm="ES256",
        headers={"typ": typ, "alg": "ES256", "jwk": key.public_jwk},
    )  # fmt: skip
    response = httpx.post(
        f"{cloud.url}{DEVICE_PREFIX}/authorize",
        data={"client_id": "signage-agent"},
        headers={"DPoP": proof},
    )
    assert len(assert_refused(response)) <= 1000
    assert_no_traceback(cloud)
