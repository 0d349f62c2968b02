"""Resource requests need a DPoP-bound token plus a fresh proof by the bound key (RFC 9449)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sync.dpop import create_proof
from sync.identity import DeviceKey
from sync.models import DEVICE_PREFIX
from tests.cloud.screen import Screen, challenge, oauth_error
from tests.support.cloud import RunningCloud, clean_environ, running_cloud

STATE = f"{DEVICE_PREFIX}/state"


@pytest.fixture(scope="module")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One cloud for the forgery cases below: each of them enrolls its own screen."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_environ(monkeypatch)
        with running_cloud(tmp_path_factory.mktemp("cloud")) as cloud:
            yield cloud


@pytest.fixture
def screen(shared_cloud: RunningCloud) -> Iterator[Screen]:
    with Screen(shared_cloud.url) as enrolled:
        enrolled.enroll(shared_cloud)
        yield enrolled


def forged_token(screen: Screen) -> str:
    """A token with the right claims and cnf, signed by a key that is not the cloud's."""
    claims = jwt.decode(screen.access_token, options={"verify_signature": False})
    claims["jti"] = uuid.uuid4().hex
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


Forgery = Callable[[Screen], dict[str, str]]

FORGERIES: dict[str, tuple[Forgery, str]] = {
    "no DPoP header": (
        lambda s: {"Authorization": f"DPoP {s.access_token}"},
        "invalid_dpop_proof",
    ),
    "no Authorization header": (
        lambda s: {"DPoP": s.proof("GET", STATE, access_token=s.access_token)},
        "invalid_token",
    ),
    "Bearer instead of DPoP": (
        lambda s: {
            "Authorization": f"Bearer {s.access_token}",
            "DPoP": s.proof("GET", STATE, access_token=s.access_token),
        },
        "invalid_token",
    ),
    "proof by another key than cnf.jkt": (
        lambda s: {
            "Authorization": f"DPoP {s.access_token}",
            "DPoP": s.proof("GET", STATE, access_token=s.access_token, key=DeviceKey.generate()),
        },
        "invalid_token",
    ),
    "ath of another token": (
        lambda s: {
            "Authorization": f"DPoP {s.access_token}",
            "DPoP": s.proof("GET", STATE, access_token=s.access_token + "x"),
        },
        "invalid_dpop_proof",
    ),
    "proof without ath": (
        lambda s: {"Authorization": f"DPoP {s.access_token}", "DPoP": s.proof("GET", STATE)},
        "invalid_dpop_proof",
    ),
    "htu of another endpoint": (
        lambda s: {
            "Authorization": f"DPoP {s.access_token}",
            "DPoP": s.proof(
                "GET", f"{DEVICE_PREFIX}/blobs/" + "0" * 64, access_token=s.access_token
            ),
        },
        "invalid_dpop_proof",
    ),
    "htm POST for a GET": (
        lambda s: {
            "Authorization": f"DPoP {s.access_token}",
            "DPoP": s.proof("POST", STATE, access_token=s.access_token),
        },
        "invalid_dpop_proof",
    ),
    "token that is not a JWT": (
        lambda s: {
            "Authorization": "DPoP not-a-token",
            "DPoP": s.proof("GET", STATE, access_token="not-a-token"),
        },
        "invalid_token",
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES), ids=list(FORGERIES))
def test_a_forged_request_is_refused_with_a_dpop_challenge(screen: Screen, forgery: str) -> None:
    build, error = FORGERIES[forgery]
    response = screen.raw("GET", STATE, headers=build(screen))
    assert response.status_code == 401, response.text
    assert oauth_error(response) == error
    assert challenge(response).startswith(f'DPoP error="{error}"')
    assert response.headers["DPoP-Nonce"]
    # The same screen, doing it right, is served: only the forgery was refused.
    assert screen.get_state().status_code == 200


def test_a_token_signed_by_another_key_is_refused_even_with_a_matching_proof(
    screen: Screen,
) -> None:
    token = forged_token(screen)
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": screen.proof("GET", STATE, access_token=token),
    }
    response = screen.raw("GET", STATE, headers=headers)
    assert (response.status_code, oauth_error(response)) == (401, "invalid_token")
    assert "not valid" in response.json()["error_description"]


def test_a_replayed_proof_is_refused(screen: Screen) -> None:
    headers = {
        "Authorization": f"DPoP {screen.access_token}",
        "DPoP": screen.proof("GET", STATE, access_token=screen.access_token),
    }
    assert screen.raw("GET", STATE, headers=headers).status_code == 200
    replayed = screen.raw("GET", STATE, headers=headers)
    assert (replayed.status_code, oauth_error(replayed)) == (401, "invalid_dpop_proof")
    assert "already used" in replayed.json()["error_description"]


@pytest.mark.parametrize("nonce", [None, "forged-nonce", "AAAAAGsGoI42JLfLTiRJSgoT31CGRkGd"])
def test_a_proof_without_the_servers_nonce_gets_the_nonce_to_use(
    screen: Screen, nonce: str | None
) -> None:
    proof = create_proof(
        screen.key, "GET", screen.base_url + STATE, access_token=screen.access_token, nonce=nonce
    )
    response = screen.raw(
        "GET", STATE, headers={"Authorization": f"DPoP {screen.access_token}", "DPoP": proof}
    )
    assert response.status_code == 401
    assert oauth_error(response) == "use_dpop_nonce"
    assert challenge(response).startswith('DPoP error="use_dpop_nonce"')
    fresh = response.headers["DPoP-Nonce"]
    retried = screen.raw(
        "GET",
        STATE,
        headers={
            "Authorization": f"DPoP {screen.access_token}",
            "DPoP": screen.proof("GET", STATE, access_token=screen.access_token, nonce=fresh),
        },
    )
    assert retried.status_code == 200


def test_an_expired_access_token_is_refused_as_expired(tmp_path: Path) -> None:
    with running_cloud(tmp_path / "cloud", access_token_ttl=1) as cloud, Screen(cloud.url) as s:
        tokens = s.enroll(cloud)
        assert tokens.expires_in == 1
        time.sleep(2.1)
        response = s.get_state()
        assert (response.status_code, oauth_error(response)) == (401, "invalid_token")
        assert "expired" in response.json()["error_description"]
        assert 'error="invalid_token"' in challenge(response)
