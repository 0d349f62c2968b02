"""The cloud's own key (ES256 / P-256) and the access tokens it signs.

The key is created on first start as `signing-key.pem` in the data dir, mode 0600, and never
leaves it. It signs the access tokens, and the secrets for DPoP nonces and refresh tokens
are derived from it with HKDF, so there is one file to guard and to back up.

An access token is a JWT (RFC 9068 shape) bound to the device key by `cnf.jkt`
(RFC 9449 §6): without the device's private key it is useless.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloud.errors import ConfigError, TokenRejected
from sync.errors import IdentityError
from sync.identity import jwk_thumbprint, load_or_create_p256_key, public_jwk

log = logging.getLogger(__name__)

ISSUER = "signage-cloud"
AUDIENCE = "signage-device-api"
ALGORITHM = "ES256"


class SigningKey:
    """The cloud's private key; `repr` shows only its thumbprint."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.kid = jwk_thumbprint(public_jwk(self.public_key))

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        try:
            key, created = load_or_create_p256_key(path, what="the signing key")
        except IdentityError as exc:
            raise ConfigError(
                f"{exc}: restore it from a backup, "
                "or move it away to start afresh (every device will have to enroll again)"
            ) from exc
        signing_key = cls(key)
        if created:
            log.info("created the cloud signing key %s (kid %s)", path, signing_key.kid)
        return signing_key

    def derive_secret(self, purpose: str) -> bytes:
        """A 32-byte secret for `purpose`, stable for as long as the key is."""
        scalar = self.private_key.private_numbers().private_value.to_bytes(32, "big")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(scalar)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


@dataclass(frozen=True)
class AccessClaims:
    device_id: str
    tenant_id: str
    jkt: str
    expires_at: int


class AccessTokens:
    """Issues and checks the device access tokens."""

    def __init__(self, key: SigningKey, *, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, *, device_id: str, tenant_id: str, jkt: str, now: float) -> str:
        issued_at = int(now)
        # JWT times are whole seconds: the expiry is rounded up, so that a token lives at
        # least its ttl (rounded down with a 1 s ttl, one expired within milliseconds).
        expires_at = math.ceil(now) + self.ttl_s
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": device_id,
            "tid": tenant_id,
            "cnf": {"jkt": jkt},
            "iat": issued_at,
            "exp": expires_at,
            "jti": uuid.uuid4().hex,
        }
        headers = {"typ": "at+jwt", "kid": self._key.kid}
        return jwt.encode(claims, self._key.private_key, algorithm=ALGORITHM, headers=headers)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a token this cloud signed and that has not expired."""
        try:
            claims = jwt.decode(
                token,
                self._key.public_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "tid", "cnf", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("the access token expired: refresh it") from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"the access token is not valid: {exc}") from exc
        cnf = claims["cnf"]
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if not isinstance(jkt, str):
            raise TokenRejected("the access token is not bound to a key (no cnf.jkt)")
        return AccessClaims(
            device_id=str(claims["sub"]),
            tenant_id=str(claims["tid"]),
            jkt=jkt,
            expires_at=int(claims["exp"]),
        )


__all__ = ["ALGORITHM", "AUDIENCE", "ISSUER", "AccessClaims", "AccessTokens", "SigningKey"]
