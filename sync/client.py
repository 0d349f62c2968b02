"""The device's HTTP client for the cloud's device API (v3).

Every request carries a DPoP proof (RFC 9449) made with the device key. The client keeps
the server's latest `DPoP-Nonce` and retries a request once when the server asks for a fresh
one (`use_dpop_nonce`). When the access token is refused, it refreshes once with the
rotating refresh token and retries; when that is refused too, it raises `Unauthorized` and
the agent goes back to enrollment.

The client does no retrying on network errors and no sleeping: the caller (the daemon)
owns backoff, so this module stays a thin, testable translation of HTTP into results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sync.dpop import create_proof
from sync.errors import CloudResponseError, CloudUnreachable, Unauthorized
from sync.identity import DeviceKey
from sync.models import (
    CLIENT_ID,
    DEVICE_CODE_GRANT,
    DEVICE_PREFIX,
    REFRESH_TOKEN_GRANT,
    DeviceAuthorization,
    ErrorCode,
    OAuthError,
    StateSnapshot,
    TokenResponse,
)

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)

# A held request is given this much longer than the hold before the client gives up on it.
LONG_POLL_MARGIN_S = 15

# RFC 8628 §3.5 answers that mean "keep polling" rather than failure.
PENDING_ERRORS = frozenset({ErrorCode.AUTHORIZATION_PENDING, ErrorCode.SLOW_DOWN})


@dataclass(frozen=True)
class DeviceTokens:
    """What the device holds after enrollment. `repr` never shows the tokens."""

    access_token: str
    refresh_token: str
    device_id: str
    tenant_id: str

    @classmethod
    def from_response(cls, response: TokenResponse) -> DeviceTokens:
        return cls(
            access_token=response.access_token,
            refresh_token=response.refresh_token,
            device_id=response.device_id,
            tenant_id=response.tenant_id,
        )

    def __repr__(self) -> str:
        return f"DeviceTokens(device_id={self.device_id!r}, tenant_id={self.tenant_id!r})"


def _parse(model: type[Model], response: httpx.Response) -> Model:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise CloudResponseError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not a {model.__name__} "
            f"({where}: {first['msg']})",
            response.status_code,
        ) from exc


def _oauth_error(response: httpx.Response) -> OAuthError | None:
    try:
        return OAuthError.model_validate_json(response.content)
    except ValidationError:
        return None


def _removed(response: httpx.Response) -> bool:
    """Whether a refusal says an admin removed this device (not merely revoked its tokens)."""
    error = _oauth_error(response)
    return bool(error is not None and error.device_removed)


def clock_offset_s(date_header: str | None, received_at: float) -> float | None:
    """Server clock minus ours, from an HTTP `Date` header (1 s resolution), or None."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if server.tzinfo is None:
        return None
    # Date has whole seconds: the server's clock was somewhere in [server, server + 1)
    return server.timestamp() + 0.5 - received_at


def _asks_for_nonce(response: httpx.Response) -> bool:
    if response.status_code not in (400, 401) or "DPoP-Nonce" not in response.headers:
        return False
    if f'error="{ErrorCode.USE_DPOP_NONCE}"' in response.headers.get("WWW-Authenticate", ""):
        return True
    error = _oauth_error(response)
    return error is not None and error.error == ErrorCode.USE_DPOP_NONCE


class DeviceClient:
    """Talks to `base_url` as the device holding `key` (and, once enrolled, `tokens`)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        key: DeviceKey,
        tokens: DeviceTokens | None = None,
        on_tokens: Callable[[DeviceTokens], None] | None = None,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._key = key
        self._nonce: str | None = None
        # The cloud's clock minus ours, from the last answer's Date header: a Pi has no RTC,
        # so its own clock may be years off. None until the cloud has answered once.
        self.clock_offset_s: float | None = None
        self.tokens = tokens
        self._on_tokens = on_tokens

    def url(self, path: str) -> str:
        return f"{self._base_url}{DEVICE_PREFIX}{path}"

    # --- transport --------------------------------------------------------------------

    def _headers(self, method: str, url: str, *, authorized: bool) -> dict[str, str]:
        token = self.tokens.access_token if (authorized and self.tokens) else None
        proof = create_proof(self._key, method, url, access_token=token, nonce=self._nonce)
        headers = {"DPoP": proof}
        if token is not None:
            headers["Authorization"] = f"DPoP {token}"
        return headers

    def _remember_server_state(self, response: httpx.Response) -> None:
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self._nonce = nonce
        offset = clock_offset_s(response.headers.get("Date"), time.time())
        if offset is not None:
            self.clock_offset_s = offset

    @asynccontextmanager
    async def _stream(
        self,
        method: str,
        path: str,
        *,
        authorized: bool,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request with a fresh proof; retry once for a nonce, once after a refresh."""
        url = self.url(path)
        refreshed = nonce_retried = False
        while True:
            request_headers = {
                **(headers or {}),
                **self._headers(method, url, authorized=authorized),
            }
            try:
                async with self._http.stream(
                    method,
                    url,
                    headers=request_headers,
                    params=params,
                    data=data,
                    timeout=http_timeout or self._http.timeout,
                ) as response:
                    self._remember_server_state(response)
                    if response.status_code in (400, 401):
                        await response.aread()
                        if _asks_for_nonce(response) and not nonce_retried:
                            nonce_retried = True
                            continue
                        if authorized and response.status_code == 401 and not refreshed:
                            refreshed = True
                            await self.refresh()
                            continue
                        if authorized and response.status_code == 401:
                            raise Unauthorized(
                                f"the cloud refused the device's token for {path} "
                                f"({self._describe(response)})",
                                401,
                                device_removed=_removed(response),
                            )
                    yield response
                    return
            except httpx.TransportError as exc:
                raise CloudUnreachable(
                    f"cannot reach the cloud at {self._base_url} ({type(exc).__name__}: {exc})"
                ) from exc

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with self._stream(method, path, **kwargs) as response:
            await response.aread()
            return response

    @staticmethod
    def _describe(response: httpx.Response) -> str:
        error = _oauth_error(response)
        if error is not None:
            return (
                f"{error.error}: {error.error_description}"
                if error.error_description
                else error.error
            )
        return f"HTTP {response.status_code}"

    def _unexpected(self, response: httpx.Response) -> CloudResponseError:
        return CloudResponseError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} ({self._describe(response)})",
            response.status_code,
        )

    # --- enrollment (RFC 8628) ----------------------------------------------------------

    async def authorize(self) -> DeviceAuthorization:
        """Ask for a user code to show on screen; the grant is bound to this device's key."""
        response = await self._request(
            "POST", "/authorize", authorized=False, data={"client_id": CLIENT_ID}
        )
        if response.status_code != 200:
            raise self._unexpected(response)
        return _parse(DeviceAuthorization, response)

    async def poll_token(self, device_code: str) -> TokenResponse | OAuthError:
        """One poll of the token endpoint: tokens once approved, else the RFC 8628 error."""
        response = await self._request(
            "POST",
            "/token",
            authorized=False,
            data={
                "grant_type": DEVICE_CODE_GRANT,
                "device_code": device_code,
                "client_id": CLIENT_ID,
            },
        )
        if response.status_code == 200:
            token = _parse(TokenResponse, response)
            self._set_tokens(DeviceTokens.from_response(token))
            return token
        if response.status_code == 400:
            error = _oauth_error(response)
            if error is not None:
                return error
        raise self._unexpected(response)

    async def refresh(self) -> None:
        """Rotate the refresh token; raise `Unauthorized` when the cloud no longer accepts it."""
        if self.tokens is None:
            raise Unauthorized("the device holds no tokens: it must enroll", 401)
        response = await self._request(
            "POST",
            "/token",
            authorized=False,
            data={
                "grant_type": REFRESH_TOKEN_GRANT,
                "refresh_token": self.tokens.refresh_token,
                "client_id": CLIENT_ID,
            },
        )
        if response.status_code == 400:
            raise Unauthorized(
                f"the cloud refused the device's refresh token ({self._describe(response)})",
                400,
                device_removed=_removed(response),
            )
        if response.status_code != 200:
            raise self._unexpected(response)
        token = _parse(TokenResponse, response)
        self._set_tokens(DeviceTokens.from_response(token))
        log.info("refreshed the access token of device %s", token.device_id)

    def _set_tokens(self, tokens: DeviceTokens) -> None:
        self.tokens = tokens
        if self._on_tokens is not None:
            self._on_tokens(tokens)

    # --- device state -------------------------------------------------------------------

    async def get_state(self, cursor: str | None, *, wait_s: int = 0) -> StateSnapshot | None:
        """The device's state, or None when `cursor` is current (204).

        With `wait_s`, the cloud holds the request while `cursor` is current, for up to that
        many seconds, and answers as soon as something changes (long-poll).
        """
        params: dict[str, Any] = {"cursor": cursor} if cursor else {}
        timeout = None
        if wait_s and cursor:
            params["wait"] = wait_s
            read_s = wait_s + LONG_POLL_MARGIN_S
            timeout = httpx.Timeout(read_s, connect=self._http.timeout.connect)
        response = await self._request(
            "GET", "/state", authorized=True, params=params or None, http_timeout=timeout
        )
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise self._unexpected(response)
        return _parse(StateSnapshot, response)

    @asynccontextmanager
    async def stream_blob(
        self, sha256: str, headers: dict[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """Open the blob `sha256` for streaming; the caller checks the status (200/206)."""
        async with self._stream("GET", f"/blobs/{sha256}", authorized=True, headers=headers) as r:
            if r.status_code not in (200, 206):
                await r.aread()
                raise self._unexpected(r)
            yield r


__all__ = ["PENDING_ERRORS", "DeviceClient", "DeviceTokens"]
