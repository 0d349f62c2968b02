"""Refresh tokens rotate on use; a lost answer is forgiven once, reuse revokes the family."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sync.identity import DeviceKey
from sync.models import TokenResponse
from tests.cloud.screen import Screen, oauth_error
from tests.support.cloud import RunningCloud, running_cloud


def refreshed(screen: Screen, refresh_token: str) -> TokenResponse:
    response = screen.refresh(refresh_token)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return TokenResponse.model_validate(response.json())


def test_refresh_rotates_both_tokens_and_the_new_access_token_works(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen:
        first = screen.enroll(cloud)
        second = refreshed(screen, first.refresh_token)
        assert second.refresh_token != first.refresh_token
        assert second.access_token != first.access_token
        assert (second.device_id, second.tenant_id) == (first.device_id, first.tenant_id)
        screen.tokens = second
        assert screen.get_state().status_code == 200


def test_a_lost_answer_does_not_strand_the_screen(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen:
        first = screen.enroll(cloud)
        lost = refreshed(screen, first.refresh_token)  # the screen never sees this answer
        retry = refreshed(screen, first.refresh_token)  # so it retries with the token it had
        assert retry.refresh_token == lost.refresh_token
        # The refresh token it now holds is the current one: it keeps working.
        third = refreshed(screen, retry.refresh_token)
        screen.tokens = third
        assert screen.get_state().status_code == 200


def test_reuse_of_an_older_token_revokes_every_token_of_the_device(
    cloud: RunningCloud,
) -> None:
    with Screen(cloud.url) as screen:
        first = screen.enroll(cloud)
        second = refreshed(screen, first.refresh_token)
        third = refreshed(screen, second.refresh_token)
        screen.tokens = third
        assert screen.get_state().status_code == 200  # the access token works...
        # `first` is two rotations old: someone else holds a copy of the family.
        reused = screen.refresh(first.refresh_token)
        assert (reused.status_code, oauth_error(reused)) == (400, "invalid_grant")
        assert "reuse" in reused.json()["error_description"]
        current = screen.refresh(third.refresh_token)
        assert (current.status_code, oauth_error(current)) == (400, "invalid_grant")
        # ...and stops working at once, long before it expires.
        refused = screen.get_state()
        assert (refused.status_code, oauth_error(refused)) == (401, "invalid_token")
        assert "revoked" in refused.json()["error_description"]
        assert "device_removed" not in refused.json()  # not removed: it enrolls again


def test_the_grace_for_the_previous_token_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNAGE_CLOUD_REFRESH_GRACE", "1")
    with running_cloud(tmp_path / "cloud") as cloud, Screen(cloud.url) as screen:
        first = screen.enroll(cloud)
        second = refreshed(screen, first.refresh_token)
        time.sleep(1.5)
        late = screen.refresh(first.refresh_token)
        assert (late.status_code, oauth_error(late)) == (400, "invalid_grant")
        revoked = screen.refresh(second.refresh_token)
        assert (revoked.status_code, oauth_error(revoked)) == (400, "invalid_grant")


def test_a_refresh_token_is_useless_without_the_device_key(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen, Screen(cloud.url, DeviceKey.generate()) as thief:
        tokens = screen.enroll(cloud)
        stolen = thief.refresh(tokens.refresh_token)
        assert (stolen.status_code, oauth_error(stolen)) == (400, "invalid_dpop_proof")
        # The attempt changed nothing for the rightful screen.
        assert refreshed(screen, tokens.refresh_token).device_id == tokens.device_id


def test_an_unknown_refresh_token_or_grant_type_is_refused(cloud: RunningCloud) -> None:
    with Screen(cloud.url) as screen:
        unknown = screen.refresh("rt_0123.abcd")
        assert (unknown.status_code, oauth_error(unknown)) == (400, "invalid_grant")
        other = screen.send(
            "POST", "/api/v3/device/token", data={"grant_type": "client_credentials"}
        )
        assert (other.status_code, oauth_error(other)) == (400, "unsupported_grant_type")
