"""Who may call the admin API and how often they may fail: keys, roles, limits, lockout.

    request with `Authorization: Bearer <key>` from ADDRESS
      │
      ├─ key locked for ADDRESS? ──────────────── 429 + Retry-After (Lockout)
      ├─ unknown or revoked key ───────────────── 401; a failure for (ADDRESS, key)
      ├─ its role does not grant the route's ──── 403 naming the role needed
      └─ the call; an approval (or a code looked up on /activate) that fails (404/409/410)
         spends one of the key's and one of ADDRESS's failed approvals (TokenBuckets):
         none left: 429 + Retry-After

A failure is counted against the key a request names: the id inside a new-style key
(`sk_<id>_…`, `cloud.apikeys`) when that key exists, else against "an unknown key" for
that address, so guessing keys from one address locks that address out of guessing,
and guessing a real key's secret locks that key for that address only; its holder
elsewhere is not locked out. The lock lasts `lockout_s`, doubled by each next lock of the
same (address, key), up to `lockout_max_s`; a success forgets it.

`/device/authorize` is limited per address too (`authorize_per_minute`): every code it
hands out is a row in the database until it expires. A device's reports are limited per
device: batches of events (`event_batches_per_minute`) and attachment uploads
(`attachments_per_minute`), so one broken or hostile screen cannot keep the write lock busy
for every tenant.

The address is the TCP peer's, or the `X-Forwarded-For` a trusted proxy set (uvicorn
trusts 127.0.0.1, or `FORWARDED_ALLOW_IPS`). Limits live in memory (`cloud.ratelimit`):
a restart forgets them, and several cloud processes would each keep their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from cloud.apikeys import GRANTS, ApiKeys, key_id_in, roles_allowed
from cloud.enrollment import Enrollments, WaitingScreen
from cloud.errors import (
    AdminUnauthorized,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    OAuthTooManyRequests,
    TooManyRequests,
)
from cloud.ratelimit import Lockout, TokenBuckets, retry_after
from cloud.settings import Settings
from cloud.tenants import Tenant
from sync.models import ApprovedDevice, Role

log = logging.getLogger(__name__)

_T = TypeVar("_T")

UNKNOWN_KEY = "unknown key"
MINUTE_S = 60.0


@dataclass(frozen=True)
class Caller:
    """An authenticated request to the admin API."""

    tenant: Tenant
    key_id: str
    role: Role
    address: str


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's `X-Forwarded-For` already applied)."""
    return request.client.host if request.client else "unknown"


def _article(role: Role | str) -> str:
    return f"an {role}" if str(role)[0] in "aeiou" else f"a {role}"


class Guard:
    """The limits of one cloud, shared by every request (and every worker thread)."""

    def __init__(
        self,
        keys: ApiKeys,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        entries = settings.limiter_entries
        self.keys = keys
        self.lockout = Lockout(
            failures=settings.lockout_failures,
            base_s=settings.lockout_s,
            max_s=settings.lockout_max_s,
            max_entries=entries,
        )
        self.approvals_by_key = TokenBuckets(
            capacity=settings.approvals_per_minute, period_s=MINUTE_S, max_entries=entries
        )
        self.approvals_by_address = TokenBuckets(
            capacity=settings.approvals_per_minute, period_s=MINUTE_S, max_entries=entries
        )
        self.authorizations = TokenBuckets(
            capacity=settings.authorize_per_minute, period_s=MINUTE_S, max_entries=entries
        )
        self.event_batches = TokenBuckets(
            capacity=settings.event_batches_per_minute, period_s=MINUTE_S, max_entries=entries
        )
        self.attachments = TokenBuckets(
            capacity=settings.attachments_per_minute, period_s=MINUTE_S, max_entries=entries
        )
        self._clock = clock

    def authenticate(self, authorization: str | None, *, address: str) -> Caller:
        """The caller whose key is in an `Authorization: Bearer` header value."""
        if not authorization:
            raise AdminUnauthorized(
                "missing key: send `Authorization: Bearer <key>` (a tenant's first admin key "
                "is printed by `signage-cloud tenant create`, others by `signage-cloud key create`)"
            )
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AdminUnauthorized("the admin API takes `Authorization: Bearer <key>`")
        row = self.keys.find(secret)
        if row is not None:
            subject = row.id
        else:
            named = key_id_in(secret)
            subject = named if named is not None and self.keys.exists(named) else UNKNOWN_KEY
        now = self._clock()
        locked = self.lockout.locked_for((address, subject), now)
        if locked:
            raise TooManyRequests(
                f"too many failed attempts with this key from {address}: it is locked there "
                f"for {retry_after(locked)} s more; check the key before trying again",
                retry_after=retry_after(locked),
            )
        if row is None or row.revoked:
            period = self.lockout.failed((address, subject), now)
            if period:
                log.warning(
                    "locked %s for %s for %d s after %d failed authentications in a row",
                    subject,
                    address,
                    period,
                    self.lockout.failures,
                )
            if row is None:
                raise AdminUnauthorized(
                    "key not recognised: check --key or SIGNAGE_ADMIN_KEY (a tenant's first "
                    "admin key is printed once by `signage-cloud tenant create`)"
                )
            raise AdminUnauthorized(
                f"the key {row.id} was revoked: ask an admin of the tenant for a new one"
            )
        self.lockout.succeeded((address, subject))
        return Caller(
            tenant=Tenant(id=row.tenant_id, name=row.tenant_name),
            key_id=row.id,
            role=row.role,
            address=address,
        )

    @staticmethod
    def check_role(caller: Caller, needed: Role) -> None:
        """Forbidden unless the caller's role grants `needed`."""
        if needed in GRANTS[caller.role]:
            return
        allowed = " or ".join(str(role) for role in roles_allowed(needed) if role != needed)
        raise Forbidden(
            f"this call needs the {needed} role ({_article(needed)} key, or {allowed}); "
            f"{caller.key_id} is {_article(caller.role)} key: ask an admin of the tenant "
            f"for a key with `signage-cloud key create --role {needed}`"
        )

    def approve(
        self,
        caller: Caller,
        *,
        enrollments: Enrollments,
        typed_code: str,
        name: str,
        now: float,
    ) -> ApprovedDevice:
        """Approve a code, counting a failure against the key and the address."""
        return self._counted(
            caller,
            lambda: enrollments.approve(
                tenant_id=caller.tenant.id, typed_code=typed_code, name=name, now=now
            ),
        )

    def look_up(
        self, caller: Caller, *, enrollments: Enrollments, typed_code: str, now: float
    ) -> WaitingScreen:
        """The screen waiting with a code (`/activate` shows it before approving), a code
        that cannot be approved counted as a failed approval: no oracle of valid codes."""
        return self._counted(caller, lambda: enrollments.waiting(typed_code, now=now))

    def _counted(self, caller: Caller, attempt: Callable[[], _T]) -> _T:
        """Run an attempt on a code; a NotFound, Conflict or Gone spends one failed approval
        of the key and one of the address, none left: 429."""
        clock = self._clock()
        by_key = self.approvals_by_key.take(caller.key_id, clock)
        by_address = self.approvals_by_address.take(caller.address, clock)
        if by_key or by_address:
            if not by_key:
                self.approvals_by_key.give_back(caller.key_id)
            if not by_address:
                self.approvals_by_address.give_back(caller.address)
            wait = max(by_key, by_address)
            whose = "this key" if by_key else f"address {caller.address}"
            log.warning(
                "refused a code approval by %s from %s: too many wrong codes",
                caller.key_id,
                caller.address,
            )
            raise TooManyRequests(
                f"too many wrong codes from {whose}: at most {self.approvals_by_key.capacity} "
                f"failed approvals a minute; try again in {retry_after(wait)} s",
                retry_after=retry_after(wait),
            )
        try:
            outcome = attempt()
        except (NotFound, Conflict, Gone):
            raise  # a failed approval: the two events stay spent
        except BaseException:
            self._give_back_approval(caller)
            raise
        self._give_back_approval(caller)
        return outcome

    def _give_back_approval(self, caller: Caller) -> None:
        self.approvals_by_key.give_back(caller.key_id)
        self.approvals_by_address.give_back(caller.address)

    def allow_authorize(self, address: str) -> None:
        """Refuse `/device/authorize` with 429 when `address` asked too often."""
        wait = self.authorizations.take(address, self._clock())
        if wait:
            raise OAuthTooManyRequests(
                f"too many enrollment codes asked from {address}: "
                f"try again in {retry_after(wait)} s",
                retry_after=retry_after(wait),
            )

    def allow_events(self, tenant_id: str, device_id: str) -> None:
        """Refuse a device's batch of events with 429 when it sent too many this minute."""
        self._allow_report(self.event_batches, "batches of events", tenant_id, device_id)

    def allow_attachment(self, tenant_id: str, device_id: str) -> None:
        """Refuse a device's attachment upload with 429 when it sent too many this minute."""
        self._allow_report(self.attachments, "attachments", tenant_id, device_id)

    def _allow_report(
        self, buckets: TokenBuckets, what: str, tenant_id: str, device_id: str
    ) -> None:
        wait = buckets.take((tenant_id, device_id), self._clock())
        if wait:
            log.warning(
                "refused %s of device %s: above %d a minute", what, device_id, buckets.capacity
            )
            raise TooManyRequests(
                f"too many {what} from this device: at most {buckets.capacity} a minute; "
                f"try again in {retry_after(wait)} s",
                retry_after=retry_after(wait),
            )


__all__ = ["UNKNOWN_KEY", "Caller", "Guard", "client_address"]
