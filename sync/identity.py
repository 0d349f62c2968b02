"""The device's own key pair (ES256 / P-256) and its public JWK and thumbprint.

The key is generated on first start and kept in the state folder with mode 0600. The private
key never leaves the device and is never logged: the cloud only ever sees the public JWK
inside DPoP proofs (RFC 9449), and access tokens are bound to its thumbprint (RFC 7638).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sync.errors import IdentityError
from sync.files import atomic_write_bytes

log = logging.getLogger(__name__)

KEY_FILE_NAME = "device-key.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK (RFC 7517) of a P-256 key, with exactly the members RFC 7638 hashes."""
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise IdentityError(f"device keys must be P-256, not {public_key.curve.name}")
    numbers = public_key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC public JWK: the value of `cnf.jkt` (RFC 9449)."""
    try:
        canonical = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    except KeyError as exc:
        raise IdentityError(f"EC JWK lacks the member {exc.args[0]!r}") from exc
    encoded = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(encoded).digest())


def public_key_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise IdentityError("only EC P-256 JWKs are accepted")
    if "d" in jwk:
        raise IdentityError("a JWK that carries a private key is never accepted")
    try:
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise IdentityError(f"invalid EC JWK: {exc}") from exc


def load_or_create_p256_key(path: Path, *, what: str) -> tuple[ec.EllipticCurvePrivateKey, bool]:
    """The P-256 private key in `path` and whether it was just created.

    A new key is written with mode 0600 from its first byte; an existing file readable by
    others is narrowed to 0600. Raises `IdentityError` naming `what` when the file is unusable.
    """
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write_bytes(path, pem, mode=0o600)
        return key, True
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        log.warning("%s %s had mode %o; narrowing it to 0600", what, path, mode)
        os.chmod(path, 0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"{what} {path} is unreadable ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise IdentityError(f"{what} {path} is not a P-256 EC key")
    return key, False


@dataclass(frozen=True)
class DeviceKey:
    """The device's signing key. `repr` never shows the private part."""

    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DeviceKey:
        """Load the key from `state_dir`, creating it (mode 0600) on first start."""
        path = state_dir / KEY_FILE_NAME
        try:
            private_key, created = load_or_create_p256_key(path, what="device key")
        except IdentityError as exc:
            raise IdentityError(f"{exc}; move it away to enroll afresh") from exc
        key = cls(private_key)
        if created:
            log.info("created a new device key %s (thumbprint %s)", path, key.thumbprint)
        return key

    @property
    def public_jwk(self) -> dict[str, str]:
        return public_jwk(self.private_key.public_key())

    @property
    def thumbprint(self) -> str:
        return jwk_thumbprint(self.public_jwk)

    def __repr__(self) -> str:
        return f"DeviceKey(thumbprint={self.thumbprint!r})"
