"""Enrollment with a code (RFC 8628) over DPoP, against the real cloud process."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from sync.dpop import create_proof
from sync.identity import DeviceKey
from sync.models import CLIENT_ID, DEVICE_PREFIX, DeviceRecord, TokenResponse
from tests.cloud.screen import Screen, oauth_error
from tests.support.cloud import RunningCloud, running_cloud

USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
AUTHORIZE = f"{DEVICE_PREFIX}/authorize"


def test_a_screen_enrolls_with_a_code_an_admin_approves(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen:
        # Without the server's nonce the proof is refused, and the nonce comes with the refusal.
        first = screen.raw(
            "POST",
            AUTHORIZE,
            data={"client_id": CLIENT_ID},
            headers={"DPoP": create_proof(screen.key, "POST", cloud.url + AUTHORIZE)},
        )
        assert first.status_code == 400
        assert oauth_error(first) == "use_dpop_nonce"
        assert first.headers["DPoP-Nonce"]

        grant = screen.authorize()
        assert USER_CODE.match(grant.user_code), grant.user_code
        assert grant.verification_uri == f"{cloud.url}/activate"
        assert (
            grant.verification_uri_complete == f"{cloud.url}/activate?user_code={grant.user_code}"
        )
        assert grant.interval == 1
        assert grant.expires_in == 900

        pending = screen.poll(grant.device_code)
        assert (pending.status_code, oauth_error(pending)) == (400, "authorization_pending")
        too_fast = screen.poll(grant.device_code)
        assert (too_fast.status_code, oauth_error(too_fast)) == (400, "slow_down")
        assert "6 seconds" in too_fast.json()["error_description"]  # 1 s + 5 s

        # The installer types the code in lower case, without its dash.
        typed = grant.user_code.replace("-", "").lower()
        with cloud.admin() as admin:
            approved = admin.post(
                f"/api/v3/admin/enrollments/{typed}/approve", json={"name": "Lobby"}
            )
        assert approved.status_code == 200, approved.text
        device_id = approved.json()["device_id"]
        assert approved.json()["name"] == "Lobby"

        collected = screen.poll(grant.device_code)
        assert collected.status_code == 200, collected.text
        assert collected.headers["Cache-Control"] == "no-store"
        tokens = TokenResponse.model_validate(collected.json())
        assert tokens.token_type == "DPoP"
        assert (tokens.device_id, tokens.tenant_id) == (device_id, cloud.tenant_id)
        assert tokens.expires_in == 3600

        screen.tokens = tokens
        held, _ = screen.listing()
        assert list(held) == [("device", device_id)]
        record = DeviceRecord.model_validate(held["device", device_id].data)
        assert (record.name, record.tenant_id, record.playlist_id) == (
            "Lobby",
            cloud.tenant_id,
            None,
        )

        # The device code is spent.
        again = screen.poll(grant.device_code)
        assert (again.status_code, oauth_error(again)) == (400, "invalid_grant")


def test_tokens_are_only_handed_to_the_key_that_asked_for_the_code(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen, Screen(cloud.url) as thief:
        grant = screen.authorize()
        with cloud.admin() as admin:
            approved = admin.post(
                f"/api/v3/admin/enrollments/{grant.user_code}/approve", json={"name": "Hall"}
            )
        assert approved.status_code == 200
        stolen = thief.poll(grant.device_code)
        assert (stolen.status_code, oauth_error(stolen)) == (400, "invalid_dpop_proof")
        # The rightful screen still collects its tokens afterwards.
        assert screen.poll(grant.device_code).status_code == 200


def test_authorize_refuses_requests_without_a_proof_or_from_another_client(
    cloud: RunningCloud,
) -> None:
    with Screen(cloud.url) as screen, httpx.Client(base_url=cloud.url) as http:
        no_proof = http.post(AUTHORIZE, data={"client_id": CLIENT_ID})
        assert (no_proof.status_code, oauth_error(no_proof)) == (400, "invalid_dpop_proof")
        assert no_proof.headers["DPoP-Nonce"]

        other_client = screen.send("POST", AUTHORIZE, data={"client_id": "someone-else"})
        assert (other_client.status_code, oauth_error(other_client)) == (400, "invalid_client")

        unknown = screen.poll("not-a-device-code")
        assert (unknown.status_code, oauth_error(unknown)) == (400, "invalid_grant")

        json_body = screen.send("POST", AUTHORIZE, headers={"Content-Type": "application/json"})
        assert (json_body.status_code, oauth_error(json_body)) == (400, "invalid_request")


def test_approving_an_unknown_or_used_code_says_what_to_do(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen, cloud.admin() as admin:
        unknown = admin.post("/api/v3/admin/enrollments/BCDF-GHJK/approve", json={"name": "X"})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == (
            "no pending enrollment with code BCDF-GHJK: check the code on the screen"
        )
        grant = screen.authorize()
        url = f"/api/v3/admin/enrollments/{grant.user_code}/approve"
        assert admin.post(url, json={"name": "Once"}).status_code == 200
        twice = admin.post(url, json={"name": "Twice"})
        assert twice.status_code == 409
        assert "already approved" in twice.json()["detail"]
        names = [device["name"] for device in admin.get("/api/v3/admin/devices").json()]
        assert names == ["Once"]


def test_an_expired_code_can_neither_be_approved_nor_redeemed(tmp_path: Path) -> None:
    with running_cloud(tmp_path / "cloud", code_ttl=1) as cloud, Screen(cloud.url) as screen:
        grant = screen.authorize()
        assert grant.expires_in == 1
        time.sleep(1.2)
        with cloud.admin() as admin:
            late = admin.post(
                f"/api/v3/admin/enrollments/{grant.user_code}/approve", json={"name": "Late"}
            )
            assert late.status_code == 410
            assert "expired" in late.json()["detail"]
            assert admin.get("/api/v3/admin/devices").json() == []
        expired = screen.poll(grant.device_code)
        assert (expired.status_code, oauth_error(expired)) == (400, "expired_token")


def test_a_second_key_gets_its_own_code(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as one, Screen(cloud.url, DeviceKey.generate()) as two:
        first, second = one.authorize(), two.authorize()
        assert first.user_code != second.user_code
        assert first.device_code != second.device_code
