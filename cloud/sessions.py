"""Device sessions: the token pair a device gets at enrollment, and refresh-token rotation.

Every refresh replaces the refresh token (RFC 9700 §4.14.2). A screen whose answer got lost
on the way comes back with the token it just used: for `refresh_grace_s` seconds after a
rotation, that immediately preceding token gets the same new refresh token again (with a
fresh access token), so a lost response never strands a screen. Any other reuse of an old
token means two parties hold the family: every refresh token of the device is revoked, so
are its access tokens (`devices.tokens_revoked_at`, checked on every request), and the
device has to enroll again.

To hand out "the same new refresh token" without storing it in clear, a refresh token is
`rt_<id>.<HMAC(secret, id)>`: the database keeps only its SHA-256, and the server can
recompute the value from the id and its secret (derived from the signing key).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from cloud.errors import OAuthFailure
from cloud.keys import AccessTokens
from cloud.store import Database, Row, utc_now_iso
from sync.identity import b64url
from sync.models import ErrorCode, TokenResponse

log = logging.getLogger(__name__)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Refused:
    error: str
    description: str
    device_removed: bool = False


class DeviceSessions:
    def __init__(
        self, db: Database, access_tokens: AccessTokens, *, secret: bytes, grace_s: int
    ) -> None:
        self._db = db
        self._access_tokens = access_tokens
        self._secret = secret
        self._grace_s = grace_s

    def _token_value(self, token_id: str) -> str:
        mac = hmac.new(self._secret, token_id.encode(), hashlib.sha256).digest()
        return f"rt_{token_id}.{b64url(mac)}"

    def _new_refresh_token(self, *, tenant_id: str, device_id: str) -> tuple[str, str]:
        """Insert a new active refresh token; return (its id, its value)."""
        token_id = secrets.token_hex(16)
        value = self._token_value(token_id)
        self._db.insert(
            "refresh_tokens",
            {
                "id": token_id,
                "tenant_id": tenant_id,
                "device_id": device_id,
                "token_sha256": _sha256(value),
                "status": "active",
                "replaced_by": None,
                "rotated_at": None,
                "created_at": utc_now_iso(),
            },
        )
        return token_id, value

    def _response(
        self, *, refresh_token: str, tenant_id: str, device_id: str, jkt: str, now: float
    ) -> TokenResponse:
        access_token = self._access_tokens.issue(
            device_id=device_id, tenant_id=tenant_id, jkt=jkt, now=now
        )
        return TokenResponse(
            access_token=access_token,
            token_type="DPoP",  # noqa: S106 - the token type, not a secret
            expires_in=self._access_tokens.ttl_s,
            refresh_token=refresh_token,
            device_id=device_id,
            tenant_id=tenant_id,
        )

    def start(self, *, tenant_id: str, device_id: str, jkt: str, now: float) -> TokenResponse:
        """The first token pair of a device; call inside the caller's write transaction."""
        _, refresh_token = self._new_refresh_token(tenant_id=tenant_id, device_id=device_id)
        return self._response(
            refresh_token=refresh_token, tenant_id=tenant_id, device_id=device_id, jkt=jkt, now=now
        )

    def refresh(self, refresh_token: str, *, jkt: str, now: float) -> TokenResponse:
        """A new token pair for `refresh_token` presented with a proof by key `jkt`."""
        with self._db.write():
            outcome = self._refresh(refresh_token, jkt=jkt, now=now)
        if isinstance(outcome, _Refused):
            raise OAuthFailure(
                outcome.error, outcome.description, device_removed=outcome.device_removed
            )
        return outcome

    def _refresh(self, refresh_token: str, *, jkt: str, now: float) -> TokenResponse | _Refused:
        # A refusal is returned rather than raised so that a revocation still commits.
        row = self._db.one(
            "SELECT * FROM refresh_tokens WHERE token_sha256 = ?", (_sha256(refresh_token),)
        )
        if row is None:
            return _Refused(ErrorCode.INVALID_GRANT, "unknown refresh token: enroll again")
        tenant_id, device_id = row["tenant_id"], row["device_id"]
        device = self._db.one(
            "SELECT jkt, revoked_at FROM devices WHERE tenant_id = ? AND id = ?",
            (tenant_id, device_id),
        )
        if device is None or device["revoked_at"] is not None:
            return _Refused(
                ErrorCode.INVALID_GRANT,
                "this device was removed from the cloud: enroll again",
                device_removed=True,
            )
        if device["jkt"] != jkt:
            return _Refused(
                ErrorCode.INVALID_DPOP_PROOF,
                "the refresh token is bound to another key than the proof's",
            )
        if row["status"] == "active":
            new_id, new_value = self._new_refresh_token(tenant_id=tenant_id, device_id=device_id)
            self._db.execute(
                "UPDATE refresh_tokens SET status = 'rotated', rotated_at = ?, replaced_by = ?"
                " WHERE id = ?",
                (now, new_id, row["id"]),
            )
            return self._response(
                refresh_token=new_value, tenant_id=tenant_id, device_id=device_id, jkt=jkt, now=now
            )
        if row["status"] == "rotated" and self._within_grace(row, now):
            log.info(
                "device %s presented its previous refresh token within the %d s grace: "
                "answering with the current one again (a response was probably lost)",
                device_id,
                self._grace_s,
            )
            return self._response(
                refresh_token=self._token_value(row["replaced_by"]),
                tenant_id=tenant_id,
                device_id=device_id,
                jkt=jkt,
                now=now,
            )
        if row["status"] == "revoked":
            return _Refused(ErrorCode.INVALID_GRANT, "this refresh token was revoked: enroll again")
        revoked = self._db.execute(
            "UPDATE refresh_tokens SET status = 'revoked' WHERE tenant_id = ? AND device_id = ?"
            " AND status != 'revoked'",
            (tenant_id, device_id),
        )
        # Its access tokens too: every device request checks this (cloud.device_api).
        self._db.execute(
            "UPDATE devices SET tokens_revoked_at = ? WHERE tenant_id = ? AND id = ?",
            (now, tenant_id, device_id),
        )
        log.warning(
            "device %s (tenant %s) reused an old refresh token: revoked its %d refresh tokens "
            "and its access tokens; the screen will show a new enrollment code",
            device_id,
            tenant_id,
            revoked,
        )
        return _Refused(
            ErrorCode.INVALID_GRANT,
            "refresh token reuse detected: the device's tokens were revoked",
        )

    def _within_grace(self, row: Row, now: float) -> bool:
        """Is `row` the immediately preceding token, rotated less than the grace ago?"""
        successor = self._db.one(
            "SELECT status FROM refresh_tokens WHERE tenant_id = ? AND id = ?",
            (row["tenant_id"], row["replaced_by"]),
        )
        return (
            successor is not None
            and successor["status"] == "active"
            and now - float(row["rotated_at"]) <= self._grace_s
        )


__all__ = ["DeviceSessions"]
