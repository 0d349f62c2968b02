from __future__ import annotations

import jwt
import pytest

from sync.dpop import access_token_hash, create_proof, normalize_htu, verify_proof
from sync.errors import DPoPError
from sync.identity import DeviceKey

URL = "http://127.0.0.1:8080/api/v3/device/state"


@pytest.fixture(scope="module")
def key() -> DeviceKey:
    return DeviceKey.generate()


def accept(nonce: str | None) -> bool:
    return nonce == "n-1"


def test_a_proof_verifies_and_names_the_signing_key(key: DeviceKey) -> None:
    proof = create_proof(key, "get", URL + "?cursor=7", access_token="tok", nonce="n-1")
    verified = verify_proof(proof, method="GET", url=URL, access_token="tok", nonce_is_valid=accept)
    assert verified.jkt == key.thumbprint
    assert verified.nonce == "n-1"


@pytest.mark.parametrize(
    ("method", "url", "token", "problem"),
    [
        ("POST", URL, "tok", "is for GET, not POST"),
        ("GET", "http://127.0.0.1:8080/api/v3/device/blobs/x", "tok", "is for http"),
        ("GET", URL, "another-token", "ath does not match"),
    ],
)
def test_a_proof_for_another_request_is_refused(key, method, url, token, problem) -> None:
    proof = create_proof(key, "GET", URL, access_token="tok", nonce="n-1")
    with pytest.raises(DPoPError, match=problem):
        verify_proof(proof, method=method, url=url, access_token=token, nonce_is_valid=accept)


def test_a_stale_nonce_is_refused(key: DeviceKey) -> None:
    proof = create_proof(key, "GET", URL, nonce="n-0")
    with pytest.raises(DPoPError, match="nonce"):
        verify_proof(proof, method="GET", url=URL, nonce_is_valid=accept)


def test_with_a_nonce_a_device_clock_years_off_still_authenticates(key: DeviceKey) -> None:
    proof = create_proof(key, "GET", URL, nonce="n-1", now=0)  # a Pi that booted in 1970
    assert verify_proof(proof, method="GET", url=URL, nonce_is_valid=accept).iat == 0


def test_without_a_nonce_iat_must_be_recent(key: DeviceKey) -> None:
    proof = create_proof(key, "GET", URL, now=1_000_000)
    with pytest.raises(DPoPError, match="iat"):
        verify_proof(proof, method="GET", url=URL, now=1_000_000 + 3600)
    assert verify_proof(proof, method="GET", url=URL, now=1_000_060).iat == 1_000_000


def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(key: DeviceKey) -> None:
    other = DeviceKey.generate()
    forged = jwt.encode(
        {"jti": "x", "htm": "GET", "htu": URL, "iat": 0, "nonce": "n-1"},
        other.private_key,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": key.public_jwk},
    )
    with pytest.raises(DPoPError, match="does not verify"):
        verify_proof(forged, method="GET", url=URL, nonce_is_valid=accept)


@pytest.mark.parametrize("header", [{"typ": "JWT"}, {"alg": "HS256"}])
def test_wrong_typ_or_alg_is_refused(key: DeviceKey, header: dict) -> None:
    if header.get("alg") == "HS256":
        proof = jwt.encode(
            {"jti": "x"},
            "secret-of-32-bytes-at-the-least!",
            algorithm="HS256",
            headers={"typ": "dpop+jwt", "jwk": key.public_jwk},
        )
    else:
        proof = jwt.encode(
            {"jti": "x"},
            key.private_key,
            algorithm="ES256",
            headers={"typ": "JWT", "jwk": key.public_jwk},
        )
    with pytest.raises(DPoPError):
        verify_proof(proof, method="GET", url=URL, nonce_is_valid=accept)


def test_garbage_is_refused() -> None:
    with pytest.raises(DPoPError, match="not a JWT"):
        verify_proof("garbage", method="GET", url=URL)


@pytest.mark.parametrize(
    ("url", "htu"),
    [
        ("HTTP://Example.COM:80/a/b?x=1#f", "http://example.com/a/b"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://127.0.0.1:8080/api?cursor=2", "http://127.0.0.1:8080/api"),
        ("http://[::1]:8080/api", "http://[::1]:8080/api"),
    ],
)
def test_htu_drops_query_fragment_and_default_port(url: str, htu: str) -> None:
    assert normalize_htu(url) == htu


def test_ath_is_the_rfc_9449_example_value() -> None:
    # RFC 9449 §7.1 example access token and its ath
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )
