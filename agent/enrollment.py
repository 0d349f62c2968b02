"""Enrollment: the device side of the OAuth 2.0 Device Authorization Grant (RFC 8628).

States and the transitions allowed between them::

    UNENROLLED ──▶ REQUESTING_CODE ──▶ AWAITING_APPROVAL ──▶ ENROLLED
                        ▲    │                 │                │
                        └────┘ (cloud down)    │                │
                        ▲                      │ code expired   │ device revoked
                        └──────────────────────┘                ▼
                                                            UNENROLLED

`decide()` is the pure part: given an answer of the token endpoint and the current polling
interval, it says what to do next. `Enrollment.run()` carries the decisions out against the
cloud, showing each new code through a callback, and returns the tokens once approved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from agent.backoff import backoff
from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError, CloudUnreachable
from sync.models import DeviceAuthorization, ErrorCode, OAuthError, TokenResponse

log = logging.getLogger(__name__)

SLOW_DOWN_STEP_S = 5  # RFC 8628 §3.5: on slow_down, poll at least 5 s less often


class EnrollmentState(StrEnum):
    UNENROLLED = "unenrolled"
    REQUESTING_CODE = "requesting_code"
    AWAITING_APPROVAL = "awaiting_approval"
    ENROLLED = "enrolled"


TRANSITIONS: dict[EnrollmentState, frozenset[EnrollmentState]] = {
    EnrollmentState.UNENROLLED: frozenset({EnrollmentState.REQUESTING_CODE}),
    EnrollmentState.REQUESTING_CODE: frozenset(
        {EnrollmentState.REQUESTING_CODE, EnrollmentState.AWAITING_APPROVAL}
    ),
    EnrollmentState.AWAITING_APPROVAL: frozenset(
        {
            EnrollmentState.AWAITING_APPROVAL,
            EnrollmentState.REQUESTING_CODE,
            EnrollmentState.ENROLLED,
        }
    ),
    EnrollmentState.ENROLLED: frozenset({EnrollmentState.UNENROLLED}),
}


class InvalidTransition(Exception):
    pass


class Action(StrEnum):
    POLL_AGAIN = "poll_again"  # wait `interval` seconds, poll again
    NEW_CODE = "new_code"  # the code is dead: ask for a new one and show it
    DONE = "done"  # approved: tokens are in hand


@dataclass(frozen=True)
class Decision:
    action: Action
    interval: float
    reason: str


def decide(answer: TokenResponse | OAuthError, interval: float) -> Decision:
    """What to do after one poll of the token endpoint (RFC 8628 §3.5)."""
    if isinstance(answer, TokenResponse):
        return Decision(Action.DONE, interval, "approved")
    match answer.error:
        case ErrorCode.AUTHORIZATION_PENDING:
            return Decision(Action.POLL_AGAIN, interval, "waiting for an admin to enter the code")
        case ErrorCode.SLOW_DOWN:
            return Decision(
                Action.POLL_AGAIN, interval + SLOW_DOWN_STEP_S, "the cloud asked to poll less often"
            )
        case ErrorCode.EXPIRED_TOKEN:
            return Decision(Action.NEW_CODE, interval, "the code expired before it was entered")
        case ErrorCode.ACCESS_DENIED:
            return Decision(Action.NEW_CODE, interval, "an admin denied the code")
        case _:
            return Decision(
                Action.NEW_CODE, interval, f"the cloud refused the code ({answer.error})"
            )


class Enrollment:
    """Drives one device through enrollment; `state` follows the diagram in the module doc."""

    def __init__(
        self,
        *,
        client: DeviceClient,
        show_code: Callable[[DeviceAuthorization], None],
        report: Callable[[Exception | None], None] = lambda _: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        description: str | None = None,
    ) -> None:
        """`report` hears of every attempt: None when the cloud answered, else the error.
        `description` names this device to the installer who approves its code."""
        self._client = client
        self._description = description
        self._show_code = show_code
        self._report = report
        self._sleep = sleep
        self.state = EnrollmentState.UNENROLLED

    def set_state(self, new: EnrollmentState) -> None:
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"enrollment cannot go from {self.state} to {new}")
        if new != self.state:
            log.debug("enrollment %s -> %s", self.state, new)
        self.state = new

    async def run(self, resume: DeviceAuthorization | None = None) -> DeviceTokens:
        """Enroll; `resume` is a code shown before a restart that may still be approved.

        Resuming it means an installer who typed the code while the agent restarted does not
        have to type a new one: the approval is still waiting at the token endpoint.
        """
        failures = 0
        self.set_state(EnrollmentState.REQUESTING_CODE)
        if resume is not None:
            self._show_code(resume)
            self.set_state(EnrollmentState.AWAITING_APPROVAL)
            tokens = await self._await_approval(resume)
            if tokens is not None:
                self.set_state(EnrollmentState.ENROLLED)
                return tokens
            self.set_state(EnrollmentState.REQUESTING_CODE)
        while True:
            try:
                grant = await self._client.authorize(self._description)
            except (CloudUnreachable, CloudResponseError) as exc:
                failures += 1
                self._report(exc)
                log.warning(
                    "cannot get an enrollment code: %s; retrying in %.0f s", exc, backoff(failures)
                )
                await self._sleep(backoff(failures))
                self.set_state(EnrollmentState.REQUESTING_CODE)
                continue
            failures = 0
            self._report(None)
            self._show_code(grant)
            self.set_state(EnrollmentState.AWAITING_APPROVAL)
            tokens = await self._await_approval(grant)
            if tokens is not None:
                self.set_state(EnrollmentState.ENROLLED)
                return tokens
            self.set_state(EnrollmentState.REQUESTING_CODE)

    async def _await_approval(self, grant: DeviceAuthorization) -> DeviceTokens | None:
        """Poll until approved (tokens) or the code is dead (None)."""
        interval = float(grant.interval)
        failures = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grant.expires_in
        while loop.time() < deadline:
            await self._sleep(interval)
            try:
                answer = await self._client.poll_token(grant.device_code)
            except (CloudUnreachable, CloudResponseError) as exc:
                failures += 1
                self._report(exc)
                wait = max(interval, backoff(failures))
                log.warning("cannot poll for approval: %s; retrying in %.0f s", exc, wait)
                await self._sleep(wait - interval)
                continue
            failures = 0
            self._report(None)
            decision = decide(answer, interval)
            interval = decision.interval
            if decision.action is Action.DONE:
                assert self._client.tokens is not None  # poll_token stored them
                log.info(
                    "enrolled as device %s of tenant %s",
                    self._client.tokens.device_id,
                    self._client.tokens.tenant_id,
                )
                return self._client.tokens
            if decision.action is Action.NEW_CODE:
                log.warning(
                    "enrollment code %s is no longer valid: %s; asking for a new one",
                    grant.user_code,
                    decision.reason,
                )
                return None
            if isinstance(answer, OAuthError) and answer.error == ErrorCode.SLOW_DOWN:
                log.info("%s: now polling every %.0f s", decision.reason, interval)
        log.warning("enrollment code %s expired; asking for a new one", grant.user_code)
        return None


__all__ = ["Action", "Decision", "Enrollment", "EnrollmentState", "decide"]
