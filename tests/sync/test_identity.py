from __future__ import annotations

import os
import stat

import pytest

from sync.errors import IdentityError
from sync.identity import KEY_FILE_NAME, DeviceKey, jwk_thumbprint, public_key_from_jwk

# RFC 9449 §4.1 and §6.1: the example proof's public key and the jkt of the token bound to it.
RFC9449_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def test_thumbprint_matches_the_rfc_9449_example() -> None:
    assert jwk_thumbprint(RFC9449_JWK) == RFC9449_JKT


def test_thumbprint_ignores_member_order_and_extra_members() -> None:
    shuffled = {
        "y": RFC9449_JWK["y"],
        "crv": "P-256",
        "x": RFC9449_JWK["x"],
        "kty": "EC",
        "use": "sig",
    }
    assert jwk_thumbprint(shuffled) == RFC9449_JKT


def test_key_is_created_once_with_mode_0600_and_reloaded(tmp_path) -> None:
    first = DeviceKey.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DeviceKey.load_or_create(tmp_path)
    assert again.thumbprint == first.thumbprint


def test_a_key_file_readable_by_others_is_narrowed_to_0600(tmp_path) -> None:
    DeviceKey.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE_NAME
    os.chmod(path, 0o644)
    DeviceKey.load_or_create(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_repr_and_public_jwk_never_carry_the_private_key(tmp_path) -> None:
    key = DeviceKey.load_or_create(tmp_path)
    private_d = key.private_key.private_numbers().private_value
    assert "d" not in key.public_jwk
    assert str(private_d) not in repr(key)
    assert key.thumbprint in repr(key)


def test_a_corrupt_key_file_is_a_clear_error(tmp_path) -> None:
    (tmp_path / KEY_FILE_NAME).write_bytes(b"not a key")
    os.chmod(tmp_path / KEY_FILE_NAME, 0o600)
    with pytest.raises(IdentityError, match="unreadable"):
        DeviceKey.load_or_create(tmp_path)


def test_jwk_with_private_member_is_refused() -> None:
    with pytest.raises(IdentityError, match="private"):
        public_key_from_jwk({**RFC9449_JWK, "d": "AAAA"})
