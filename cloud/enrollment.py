"""Enrollment of a screen: the OAuth 2.0 Device Authorization Grant (RFC 8628) with DPoP.

    device                         cloud                          installer / admin
    POST /authorize  (DPoP) ──▶   grant: pending, bound to jkt
                     ◀── device_code, user_code KXRT-9MBD, interval
    POST /token      (DPoP) ──▶   authorization_pending
                                                       ◀── approve KXRT-9MBD (admin key)
                                  grant: approved, device row in the admin's tenant
    POST /token      (DPoP) ──▶   grant: consumed
                     ◀── access token (cnf.jkt) + refresh token

A grant moves pending → approved → consumed (or pending → denied); a pending grant past
its `expires_at` answers `expired_token` until the cloud deletes it (`purge_expired`, run
every `purge_every_s(code_ttl)` by `cloud.app`), after which it is unknown. While pending,
its `tenant_id` is NULL: the code is not tied to any tenant until an admin of some tenant
approves it. Only the device code's SHA-256 is stored; the user code is stored without its
dash, and logged only as `loggable_code` (two characters and a hash): a log reader must not
be able to approve a screen that is waiting.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import sqlite3
from dataclasses import dataclass

from cloud.devices import Devices
from cloud.errors import Conflict, Gone, NotFound, OAuthFailure
from cloud.sessions import DeviceSessions
from cloud.settings import POLL_TOLERANCE, SLOW_DOWN_STEP_S, Settings
from cloud.store import Database, Row, new_id, utc_now_iso
from sync.client import MAX_DEVICE_DESCRIPTION_CHARS
from sync.models import ApprovedDevice, DeviceAuthorization, ErrorCode, TokenResponse

log = logging.getLogger(__name__)

# RFC 8628 §6.1: no vowels (no words), no look-alike digits.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def normalize_user_code(typed: str) -> str:
    """What an installer typed, as stored: upper case, without dashes or spaces."""
    return re.sub(r"[\s\-]", "", typed).upper()


def display_user_code(code: str) -> str:
    """`KXRT9MBD` shown as `KXRT-9MBD`."""
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}" if len(code) == USER_CODE_LENGTH else code


def loggable_code(code: str) -> str:
    """`KXRT-9MBD` as `KX…#1a2b3c4d`: enough to match log lines, not to approve the code."""
    normalized = normalize_user_code(code)
    return f"{normalized[:2]}…#{_sha256(normalized)[:8]}"


def purge_every_s(code_ttl_s: int) -> float:
    """How often expired codes are deleted: a tenth of their lifetime, between 1 s and a minute."""
    return min(60.0, max(1.0, code_ttl_s / 10))


def clean_description(text: str | None) -> str | None:
    """A device's description on one line, without control characters, at most
    `MAX_DEVICE_DESCRIPTION_CHARS` long; None when nothing printable is left."""
    if text is None:
        return None
    printable = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(printable.split())[:MAX_DEVICE_DESCRIPTION_CHARS] or None


@dataclass(frozen=True)
class WaitingScreen:
    """A code waiting for approval, as the installer sees it on `/activate`."""

    user_code: str  # as shown, KXRT-9MBD
    description: str | None  # e.g. "lobby-pi · Raspberry Pi 4 Model B · agent 0.1.0"
    expires_in_s: int


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Enrollments:
    def __init__(
        self, db: Database, *, devices: Devices, sessions: DeviceSessions, settings: Settings
    ) -> None:
        self._db = db
        self._devices = devices
        self._sessions = sessions
        self._settings = settings

    def authorize(
        self, *, jkt: str, now: float, description: str | None = None
    ) -> DeviceAuthorization:
        """Start a grant bound to the key `jkt` (RFC 8628 §3.1, §3.2). `description` is what
        the device says it is; it is untrusted, kept on one line and cut to a bound."""
        description = clean_description(description)
        device_code = secrets.token_urlsafe(32)
        for _attempt in range(5):
            user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
            try:
                with self._db.write():
                    self._db.insert(
                        "enrollments",
                        {
                            "id": new_id("enr"),
                            "tenant_id": None,
                            "device_code_sha256": _sha256(device_code),
                            "user_code": user_code,
                            "jkt": jkt,
                            "status": "pending",
                            "interval_s": self._settings.poll_interval_s,
                            "expires_at": now + self._settings.code_ttl_s,
                            "last_polled_at": None,
                            "device_id": None,
                            "created_at": utc_now_iso(),
                            "description": description,
                        },
                    )
                break
            except sqlite3.IntegrityError:
                continue  # the user code is taken (1 in 25 billion): draw another
        else:
            raise RuntimeError("could not draw a free user code in 5 attempts")
        shown = display_user_code(user_code)
        verification_uri = f"{self._settings.public_url}/activate"
        log.info("new enrollment code %s for key %s", loggable_code(user_code), jkt)
        return DeviceAuthorization(
            device_code=device_code,
            user_code=shown,
            verification_uri=verification_uri,
            verification_uri_complete=f"{verification_uri}?user_code={shown}",
            expires_in=self._settings.code_ttl_s,
            interval=self._settings.poll_interval_s,
        )

    def poll(self, device_code: str, *, jkt: str, now: float) -> TokenResponse:
        """Answer a token request for `device_code` (RFC 8628 §3.4, §3.5)."""
        with self._db.write():
            outcome = self._poll(device_code, jkt=jkt, now=now)
        if isinstance(outcome, OAuthFailure):
            # Raised after the commit, so that last_polled_at and interval are kept.
            raise outcome
        return outcome

    def _poll(self, device_code: str, *, jkt: str, now: float) -> TokenResponse | OAuthFailure:
        row = self._db.one(
            "SELECT * FROM enrollments WHERE device_code_sha256 = ?", (_sha256(device_code),)
        )
        if row is None:
            return OAuthFailure(ErrorCode.INVALID_GRANT, "unknown device_code: ask for a new code")
        if row["jkt"] != jkt:
            return OAuthFailure(
                ErrorCode.INVALID_DPOP_PROOF, "the proof is signed by another key than at authorize"
            )
        status = row["status"]
        if status == "consumed":
            return OAuthFailure(ErrorCode.INVALID_GRANT, "this device_code was already used")
        if status == "denied":
            return OAuthFailure(ErrorCode.ACCESS_DENIED, "the enrollment was denied")
        if status == "approved":
            self._db.execute(
                "UPDATE enrollments SET status = 'consumed' WHERE id = ?", (row["id"],)
            )
            log.info("device %s collected its tokens", row["device_id"])
            return self._sessions.start(
                tenant_id=row["tenant_id"], device_id=row["device_id"], jkt=jkt, now=now
            )
        if now > row["expires_at"]:
            return OAuthFailure(ErrorCode.EXPIRED_TOKEN, "the code expired: ask for a new one")
        last, interval = row["last_polled_at"], row["interval_s"]
        if last is not None and now - last < interval * (1 - POLL_TOLERANCE):
            interval += SLOW_DOWN_STEP_S
            self._db.execute(
                "UPDATE enrollments SET last_polled_at = ?, interval_s = ? WHERE id = ?",
                (now, interval, row["id"]),
            )
            return OAuthFailure(ErrorCode.SLOW_DOWN, f"poll at most every {interval} seconds")
        self._db.execute("UPDATE enrollments SET last_polled_at = ? WHERE id = ?", (now, row["id"]))
        return OAuthFailure(
            ErrorCode.AUTHORIZATION_PENDING, "waiting for an admin to approve the code"
        )

    def waiting(self, typed_code: str, *, now: float) -> WaitingScreen:
        """The pending enrollment of a typed code, for the installer to check before approving.

        Raises what `approve` would for that code (NotFound, Conflict, Gone), so a code that
        cannot be approved is refused before the installer names the screen."""
        code = normalize_user_code(typed_code)
        row = self._pending(code, now=now)
        return WaitingScreen(
            user_code=display_user_code(code),
            description=row["description"],
            expires_in_s=max(0, int(row["expires_at"] - now)),
        )

    def _pending(self, code: str, *, now: float) -> Row:
        """The row of a normalized code that can be approved, else NotFound, Conflict, Gone."""
        shown = display_user_code(code)
        row = self._db.one("SELECT * FROM enrollments WHERE user_code = ?", (code,))
        if row is None:
            raise NotFound(f"no pending enrollment with code {shown}: check the code on the screen")
        if row["status"] in ("approved", "consumed"):
            raise Conflict(f"the code {shown} was already approved: the screen is enrolled")
        if row["status"] != "pending":
            raise Conflict(f"the code {shown} was denied: the screen must ask for a new one")
        if now > row["expires_at"]:
            raise Gone(
                f"the code {shown} expired: the screen shows a new code by now, type that one"
            )
        return row

    def purge_expired(self, now: float) -> int:
        """Delete the pending grants that expired; how many. A device polling a deleted
        grant is told its code is unknown, and asks for a new one as after `expired_token`."""
        with self._db.write():
            deleted = self._db.execute(
                "DELETE FROM enrollments WHERE status = 'pending' AND expires_at < ?", (now,)
            )
        if deleted:
            log.info("deleted %d expired enrollment codes nobody approved", deleted)
        return deleted

    def approve(self, *, tenant_id: str, typed_code: str, name: str, now: float) -> ApprovedDevice:
        """Approve a pending code into the admin's tenant, creating the device."""
        code = normalize_user_code(typed_code)
        with self._db.write():
            row = self._pending(code, now=now)
            device_id = self._devices.create(tenant_id=tenant_id, name=name, jkt=row["jkt"])
            self._db.execute(
                "UPDATE enrollments SET status = 'approved', tenant_id = ?, device_id = ?"
                " WHERE id = ?",
                (tenant_id, device_id, row["id"]),
            )
        log.info(
            "code %s approved as device %s (%r) of tenant %s",
            loggable_code(code),
            device_id,
            name,
            tenant_id,
        )
        return ApprovedDevice(device_id=device_id, name=name)


__all__ = [
    "Enrollments",
    "WaitingScreen",
    "clean_description",
    "display_user_code",
    "loggable_code",
    "normalize_user_code",
    "purge_every_s",
]
