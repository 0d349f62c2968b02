"""The device's HTTP client for the cloud's device API (v3): its endpoints and their answers.

Every request goes out with `DPoPAuth` (sync/auth.py), which signs it, retries once when
the cloud asks for a fresh nonce and once after refreshing a refused access token. This
module says what to ask and reads the answers: each body is capped while it streams and
validated whole against its wire model before anyone uses it (sync/answers.py).

The client owns the device's tokens (read with `tokens`, dropped with `forget_tokens`; the
`on_tokens` callback hears every change so a store can keep them) and the estimate of the
cloud's clock (`clock_offset_s`, from each answer's `Signage-Time`; sync/clock.py).

The client does no retrying on network errors and no sleeping: the caller (the daemon)
owns backoff, so this module stays a thin, testable translation of HTTP into results.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx

from sync.answers import (
    REQUEST_HEADERS,
    describe,
    oauth_error,
    parse,
    read_capped,
    unexpected,
)
from sync.auth import PROOF_ONLY, DeviceTokens, DPoPAuth
from sync.clock import ClockOffsetEstimator, date_value, time_value
from sync.errors import CloudUnreachable, CursorExpired, Unauthorized
from sync.identity import DeviceKey
from sync.models import (
    CLIENT_ID,
    DEFAULT_MAX_STATE_BYTES,
    DEVICE_CODE_GRANT,
    DEVICE_PREFIX,
    MAX_ATTACHMENT_BYTES,
    MAX_EVENTS_BATCH_BYTES,
    SERVER_TIME_HEADER,
    DeviceAuthorization,
    ErrorCode,
    EventsReceipt,
    OAuthError,
    StatePage,
    TokenResponse,
)

log = logging.getLogger(__name__)

# A held request is given this much longer than the hold before the client gives up on it.
LONG_POLL_MARGIN_S = 15
# The longest device description sent at /authorize (the cloud cuts longer ones too).
MAX_DEVICE_DESCRIPTION_CHARS = 100
# The query parameter that asks the cloud to hold a request (long-poll).
WAIT_PARAM = "wait"

# The largest receipt read: every event of a full batch refused with the longest reason.
MAX_RECEIPT_BYTES = 1024 * 1024
ATTACHMENT_TYPES = frozenset({"image/png", "text/plain"})

# RFC 8628 §3.5 answers that mean "keep polling" rather than failure.
PENDING_ERRORS = frozenset({ErrorCode.AUTHORIZATION_PENDING, ErrorCode.SLOW_DOWN})


_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused (nothing listens at that address and port)",
    errno.ENETUNREACH: "the network is unreachable (no network connection?)",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ECONNRESET: "the connection was reset",
    errno.ETIMEDOUT: "the connection timed out",
}


def describe_transport_error(exc: httpx.TransportError) -> str:
    """What went wrong on the network, in words an installer can act on."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:  # the root cause is the most telling
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "the host name does not resolve (check the address and the DNS)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"its TLS certificate is not trusted ({cause.verify_message})"
        if isinstance(cause, OSError) and cause.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[cause.errno]
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}"


class DeviceClient:
    """Talks to `base_url` as the device holding `key` (and, once enrolled, `tokens`)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        key: DeviceKey,
        tokens: DeviceTokens | None = None,
        on_tokens: Callable[[DeviceTokens | None], None] | None = None,
        max_state_bytes: int = DEFAULT_MAX_STATE_BYTES,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._max_state_bytes = max_state_bytes
        self._clock = ClockOffsetEstimator()
        self._last_contact_at: float | None = None
        self._auth = DPoPAuth(
            key=key,
            token_url=self.url("/token"),
            tokens=tokens,
            on_tokens=on_tokens,
            on_answer=self._on_answer,
            timeout=http.timeout,
        )

    def url(self, path: str) -> str:
        return f"{self._base_url}{DEVICE_PREFIX}{path}"

    @property
    def tokens(self) -> DeviceTokens | None:
        """The tokens the device holds, or None before enrollment and after `forget_tokens`."""
        return self._auth.tokens

    def forget_tokens(self) -> None:
        """Drop the tokens (the device must enroll again); `on_tokens` hears None."""
        self._auth.set_tokens(None)

    @property
    def clock_offset_s(self) -> float | None:
        """The cloud's clock minus ours, in seconds; None until the cloud has answered.

        A Pi has no real-time clock, so its own may be years off. Estimated from the
        `Signage-Time` header of every answer, to within the round trip (sync/clock.py).
        """
        return self._clock.offset_s

    @property
    def last_contact_at(self) -> float | None:
        """Our `time.time()` when the cloud last answered anything, even an error status."""
        return self._last_contact_at

    # --- transport --------------------------------------------------------------------

    def _on_answer(self, response: httpx.Response, sent: float, received: float) -> None:
        self._last_contact_at = received
        stamp = time_value(response.headers.get(SERVER_TIME_HEADER))
        if stamp is not None:  # stamped as the answer started, held or not
            self._clock.add_precise(stamp, sent=sent, received=received)
            return
        if WAIT_PARAM in response.request.url.params:
            return  # held: its Date was stamped when it arrived, up to `wait` s ago
        date = date_value(response.headers.get("Date"))
        if date is not None:
            self._clock.add(date, sent=sent, received=received)

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        *,
        proof_only: bool = False,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        content: bytes | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request through `DPoPAuth`; the answer's headers are in, its body is not."""
        request = self._http.build_request(
            method,
            self.url(path),
            headers={**REQUEST_HEADERS, **(headers or {})},
            params=params,
            data=data,
            content=content,
            timeout=http_timeout or self._http.timeout,
            extensions={PROOF_ONLY: True} if proof_only else None,
        )
        try:
            response = await self._http.send(request, auth=self._auth, stream=True)
            try:
                if response.status_code == 401 and not proof_only:
                    await read_capped(response)
                    raise self._refused(response)
                yield response
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise CloudUnreachable(
                f"cannot reach the cloud at {self._base_url}: {describe_transport_error(exc)}"
            ) from exc

    def _refused(self, response: httpx.Response) -> Unauthorized:
        error = oauth_error(response)
        removed = bool(error is not None and error.device_removed)
        if self.tokens is None:
            reason = "the device holds no tokens: it must enroll"
        else:
            reason = "the cloud refused the device's token"
        return Unauthorized(
            f"{reason} ({response.request.url.path}: {describe(response)})",
            401,
            device_removed=removed,
        )

    async def _json(
        self, method: str, path: str, *, limit: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send a request and read its answer's body, capped (`limit`, else 64 KiB)."""
        async with self._send(method, path, **kwargs) as response:
            if limit is None:
                await read_capped(response)
            else:
                await read_capped(response, limit)
            return response

    # --- enrollment (RFC 8628) ----------------------------------------------------------

    async def authorize(self, description: str | None = None) -> DeviceAuthorization:
        """Ask for a user code to show on screen; the grant is bound to this device's key.

        `description` (e.g. "lobby-pi · Raspberry Pi 4 Model B · agent 0.1.0") is shown to
        the installer next to the code, so they approve the screen in front of them; it is
        sent on one line, without control characters, at most `MAX_DEVICE_DESCRIPTION_CHARS` long.
        """
        data = {"client_id": CLIENT_ID}
        if description is not None:
            printable = "".join(c if c.isprintable() else " " for c in description)
            line = " ".join(printable.split())[:MAX_DEVICE_DESCRIPTION_CHARS]
            if line:
                data["description"] = line
        response = await self._json("POST", "/authorize", proof_only=True, data=data)
        if response.status_code != 200:
            raise unexpected(response)
        return parse(DeviceAuthorization, response)

    async def poll_token(self, device_code: str) -> TokenResponse | OAuthError:
        """One poll of the token endpoint: tokens once approved, else the RFC 8628 error.

        On approval the client keeps the tokens (and `on_tokens` hears them).
        """
        response = await self._json(
            "POST",
            "/token",
            proof_only=True,
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": device_code,
                "client_id": CLIENT_ID,
            },
        )
        if response.status_code == 200:
            token = parse(TokenResponse, response)
            self._auth.set_tokens(DeviceTokens.from_response(token))
            return token
        if response.status_code == 400:
            return parse(OAuthError, response)
        raise unexpected(response)

    # --- device state -------------------------------------------------------------------

    async def get_state(
        self, cursor: str | None, *, wait_s: int = 0, limit: int | None = None
    ) -> StatePage | None:
        """The next page of changes since `cursor`, or None when there are none (204).

        Without a cursor the cloud starts a full listing. With `wait_s`, the cloud holds the
        request while nothing changed, for up to that many seconds, and answers as soon as
        something does (long-poll). The answer is read up to `max_state_bytes` and
        validated whole: an invalid one raises `CloudResponseError` and nothing of it is
        returned. A cursor the cloud no longer knows raises `CursorExpired` (410).
        """
        params: dict[str, Any] = {"cursor": cursor} if cursor else {}
        if limit is not None:
            params["limit"] = limit
        held_timeout = None
        if wait_s and cursor:
            params[WAIT_PARAM] = wait_s
            read_s = wait_s + LONG_POLL_MARGIN_S
            held_timeout = httpx.Timeout(read_s, connect=self._http.timeout.connect)
        response = await self._json(
            "GET",
            "/state",
            limit=self._max_state_bytes,
            params=params or None,
            http_timeout=held_timeout,
        )
        if response.status_code == 204:
            return None
        if response.status_code == 410:
            raise CursorExpired(
                f"the cloud no longer knows cursor {cursor!r:.60} ({describe(response)})", 410
            )
        if response.status_code != 200:
            raise unexpected(response)
        return parse(StatePage, response)

    @asynccontextmanager
    async def stream_blob(
        self, sha256: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Open the blob `sha256` for streaming (200 or 206); other answers raise.

        Another status raises `CloudResponseError` (its `status_code` says which), a refused
        token `Unauthorized`, a network failure (also while the body streams)
        `CloudUnreachable`.
        """
        async with self._send("GET", f"/blobs/{sha256}", headers=headers) as response:
            if response.status_code not in (200, 206):
                await read_capped(response)
                raise unexpected(response)
            yield response

    # --- reports ----------------------------------------------------------------------

    async def post_events(self, bodies: list[str]) -> EventsReceipt:
        """Send the outbox's events (each the JSON body it stored) as one batch.

        `POST /events` with `{"events": [...]}` built from the bodies as they are, so an
        event is sent byte for byte as it was written. The receipt says, for every event,
        whether the cloud stored it, already had it, or refused it (and why). Any other
        answer raises `CloudResponseError` (its `status_code` says which: a 404 or 405 is a
        cloud that does not take reports yet); a network failure, `CloudUnreachable`.
        """
        content = ('{"events":[' + ",".join(bodies) + "]}").encode()
        if len(content) > MAX_EVENTS_BATCH_BYTES:
            raise ValueError(f"a batch of {len(content)} bytes is over {MAX_EVENTS_BATCH_BYTES}")
        response = await self._json(
            "POST",
            "/events",
            limit=MAX_RECEIPT_BYTES,
            content=content,
            headers={"Content-Type": "application/json"},
        )
        if response.status_code != 200:
            raise unexpected(response)
        return parse(EventsReceipt, response)

    async def put_attachment(self, command_id: str, data: bytes, content_type: str) -> None:
        """Upload what a command produced (a screenshot, log lines) before its result.

        `PUT /commands/{command_id}/attachment`; `content_type` is `image/png` or
        `text/plain`, `data` at most `MAX_ATTACHMENT_BYTES`. Answers other than 200, 201
        or 204 raise `CloudResponseError`; a network failure, `CloudUnreachable`.
        """
        if content_type not in ATTACHMENT_TYPES:
            raise ValueError(f"an attachment is image/png or text/plain, not {content_type!r}")
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"an attachment of {len(data)} bytes is over {MAX_ATTACHMENT_BYTES}")
        response = await self._json(
            "PUT",
            f"/commands/{quote(command_id, safe='')}/attachment",
            content=data,
            headers={"Content-Type": content_type},
        )
        if response.status_code not in (200, 201, 204):
            raise unexpected(response)


__all__ = [
    "ATTACHMENT_TYPES",
    "LONG_POLL_MARGIN_S",
    "MAX_DEVICE_DESCRIPTION_CHARS",
    "MAX_RECEIPT_BYTES",
    "PENDING_ERRORS",
    "DeviceClient",
    "DeviceTokens",
]
