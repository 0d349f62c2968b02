"""DPoP proofs (RFC 9449): made by the device for every request, checked by the cloud.

A proof is a JWT signed with the device key, carrying the public JWK in its header and
binding the HTTP method (`htm`), the URL without query (`htu`), a unique id (`jti`), the
server's nonce and, with an access token, its hash (`ath`). A token stolen off the wire is
useless without the key.

A Pi has no real-time clock, so freshness comes from the server's `DPoP-Nonce` rather than
from `iat`: where the verifier checks a nonce, `iat` is not compared with its clock, and a
device whose clock is years off still authenticates.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from sync.errors import DPoPError, IdentityError
from sync.identity import DeviceKey, b64url, jwk_thumbprint, public_key_from_jwk

PROOF_TYPE = "dpop+jwt"
ALGORITHM = "ES256"
# Without a nonce, a proof must have been made within this many seconds (RFC 9449 §11.1).
DEFAULT_IAT_WINDOW_S = 300


def normalize_htu(url: str) -> str:
    """The `htu` of a URL: scheme, host, port and path; no query, no fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        netloc = f"[{host}]" if port in (None, default_port) else f"[{host}]:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def access_token_hash(access_token: str) -> str:
    """The `ath` claim: base64url of the SHA-256 of the access token's ASCII bytes."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def create_proof(
    key: DeviceKey,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
    nonce: str | None = None,
    now: float | None = None,
) -> str:
    claims: dict[str, Any] = {
        "jti": uuid.uuid4().hex,
        "htm": method.upper(),
        "htu": normalize_htu(url),
        "iat": int(time.time() if now is None else now),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    headers = {"typ": PROOF_TYPE, "alg": ALGORITHM, "jwk": key.public_jwk}
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers=headers)


@dataclass(frozen=True)
class VerifiedProof:
    jkt: str  # RFC 7638 thumbprint of the key that signed the proof
    jti: str
    iat: int
    nonce: str | None


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None = None,
    nonce_is_valid: Callable[[str | None], bool] | None = None,
    now: float | None = None,
    iat_window_s: int = DEFAULT_IAT_WINDOW_S,
) -> VerifiedProof:
    """Check a DPoP proof for a request; raise `DPoPError` naming the first problem found.

    With `nonce_is_valid`, freshness is the nonce's job and `iat` is not compared with the
    verifier's clock. Replay of `jti` is the caller's to check, since only it keeps state.
    """
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as exc:
        raise DPoPError(f"DPoP proof is not a JWT: {exc}") from exc
    if header.get("typ") != PROOF_TYPE:
        raise DPoPError(f"DPoP proof has typ {header.get('typ')!r}, expected {PROOF_TYPE!r}")
    if header.get("alg") != ALGORITHM:
        raise DPoPError(f"DPoP proof has alg {header.get('alg')!r}, expected {ALGORITHM!r}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise DPoPError("DPoP proof header lacks its public jwk")
    try:
        public_key = public_key_from_jwk(jwk)
    except IdentityError as exc:
        raise DPoPError(f"DPoP proof jwk: {exc}") from exc
    try:
        claims = jwt.decode(
            proof,
            public_key,
            algorithms=[ALGORITHM],
            options={
                "verify_iat": False,
                "verify_exp": False,
                "verify_aud": False,
                "verify_nbf": False,
                "require": ["jti", "htm", "htu", "iat"],
            },
        )
    except jwt.PyJWTError as exc:
        raise DPoPError(f"DPoP proof does not verify: {exc}") from exc

    if claims["htm"] != method.upper():
        raise DPoPError(f"DPoP proof is for {claims['htm']}, not {method.upper()}")
    if claims["htu"] != normalize_htu(url):
        raise DPoPError(f"DPoP proof is for {claims['htu']}, not {normalize_htu(url)}")
    if not isinstance(claims["iat"], int | float):
        raise DPoPError("DPoP proof iat is not a number")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise DPoPError("DPoP proof ath does not match the access token")
    nonce = claims.get("nonce")
    if nonce_is_valid is not None:
        if not nonce_is_valid(nonce):
            raise DPoPError("DPoP proof nonce is missing or stale")
    else:
        current = time.time() if now is None else now
        if abs(current - claims["iat"]) > iat_window_s:
            raise DPoPError("DPoP proof iat is outside the accepted window")
    return VerifiedProof(
        jkt=jwk_thumbprint(jwk), jti=str(claims["jti"]), iat=int(claims["iat"]), nonce=nonce
    )
