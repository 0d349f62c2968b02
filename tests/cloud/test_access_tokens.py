"""Device access tokens (cloud.keys.AccessTokens): a token lives at least its lifetime,
whatever fraction of a second it was issued at (JWT times are whole seconds)."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from cloud.keys import AccessTokens, SigningKey


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.5, 0.999])
def test_a_token_lives_at_least_its_lifetime(tmp_path: Path, fraction: float) -> None:
    """Rounded down, a 1 s token issued at x.999 expired a millisecond later (seen on CI:
    three requests refused together, refreshed once, then refused again)."""
    tokens = AccessTokens(SigningKey.load_or_create(tmp_path / "key.pem"), ttl_s=1)
    now = 1_800_000_000 + fraction
    token = tokens.issue(device_id="dev_1", tenant_id="ten_1", jkt="j" * 43, now=now)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert now + 1 <= claims["exp"] < now + 2
    assert claims["iat"] <= now
