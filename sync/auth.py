"""DPoP proofs, nonces and token refresh as an `httpx.Auth` flow (RFC 9449, RFC 6749 §6).

Like httpx's `DigestAuth`, the flow answers the server's challenges and sends the request
again, so every request the client makes gets them for free:

    request ── proof (+ Authorization: DPoP <token>, ath) ──▶ cloud
      ◀── 400/401 use_dpop_nonce     keep the nonce, sign again, send again (once)
      ◀── 401 on an authorized request
            ── refresh-token grant (proof without token) ──▶ /token
              ◀── 200   keep the new tokens (on_tokens), send the request again (once)
              ◀── 400   raise Unauthorized (device_removed from the OAuth error body)
      ◀── anything else: the answer, for the caller to read

Requests marked proof-only (`PROOF_ONLY` in their extensions: `/authorize`, `/token`) carry
a proof and never the access token. The flow owns the key, the latest nonce and the tokens;
`DeviceClient` is its only user. It is async only: its refresh reads a body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

from sync.answers import REQUEST_HEADERS, describe, oauth_error, parse, read_capped, unexpected
from sync.dpop import create_proof
from sync.errors import Unauthorized
from sync.identity import DeviceKey
from sync.models import CLIENT_ID, REFRESH_TOKEN_GRANT, ErrorCode, TokenResponse

log = logging.getLogger(__name__)

# Extension key of a request that must carry a proof but never the access token.
PROOF_ONLY = "signage.dpop_proof_only"


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


# Called with every answer the flow sees (retries and refreshes too), our clock just before
# the request went out and when its answer's headers arrived.
AnswerObserver = Callable[[httpx.Response, float, float], None]


def asks_for_nonce(response: httpx.Response) -> bool:
    """Whether a (read) answer refuses the proof for want of a fresh nonce (RFC 9449 §8)."""
    if response.status_code not in (400, 401) or "DPoP-Nonce" not in response.headers:
        return False
    if f'error="{ErrorCode.USE_DPOP_NONCE}"' in response.headers.get("WWW-Authenticate", ""):
        return True
    error = oauth_error(response)
    return error is not None and error.error == ErrorCode.USE_DPOP_NONCE


class DPoPAuth(httpx.Auth):
    """Signs every request with `key`; retries once for a nonce and once after a refresh."""

    def __init__(
        self,
        *,
        key: DeviceKey,
        token_url: str,
        tokens: DeviceTokens | None = None,
        on_tokens: Callable[[DeviceTokens | None], None] | None = None,
        on_answer: AnswerObserver | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._key = key
        self._token_url = token_url
        self._tokens = tokens
        self._on_tokens = on_tokens
        self._on_answer = on_answer
        self._timeout = timeout or httpx.Timeout(10.0)
        self._nonce: str | None = None
        # One refresh at a time: requests refused together wait for it and use its tokens.
        self._refreshing = asyncio.Lock()

    @property
    def tokens(self) -> DeviceTokens | None:
        return self._tokens

    def set_tokens(self, tokens: DeviceTokens | None) -> None:
        """Keep `tokens` (None: drop them) and tell the owner's store."""
        self._tokens = tokens
        if self._on_tokens is not None:
            self._on_tokens(tokens)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("DPoPAuth works with httpx.AsyncClient only")

    def _sign(self, request: httpx.Request, tokens: DeviceTokens | None) -> None:
        token = tokens.access_token if tokens is not None else None
        request.headers["DPoP"] = create_proof(
            self._key, request.method, str(request.url), access_token=token, nonce=self._nonce
        )
        if token is not None:
            request.headers["Authorization"] = f"DPoP {token}"
        else:
            request.headers.pop("Authorization", None)

    def _observe(self, response: httpx.Response, sent: float) -> None:
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self._nonce = nonce
        if self._on_answer is not None:
            self._on_answer(response, sent, time.time())

    def _refresh_request(self, tokens: DeviceTokens) -> httpx.Request:
        request = httpx.Request(
            "POST",
            self._token_url,
            headers=REQUEST_HEADERS,
            data={
                "grant_type": REFRESH_TOKEN_GRANT,
                "refresh_token": tokens.refresh_token,
                "client_id": CLIENT_ID,
            },
            extensions={"timeout": self._timeout.as_dict(), PROOF_ONLY: True},
        )
        self._sign(request, None)
        return request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        authorized = not request.extensions.get(PROOF_ONLY)
        nonce_retried = refreshed = False
        while True:
            sent_with = self._tokens if authorized else None
            self._sign(request, sent_with)
            sent = time.time()
            response = yield request
            self._observe(response, sent)
            if response.status_code not in (400, 401):
                return
            await read_capped(response)
            if asks_for_nonce(response) and not nonce_retried:
                nonce_retried = True
                continue
            if not (authorized and response.status_code == 401 and sent_with and not refreshed):
                return  # the caller reads the refusal
            refreshed = True
            async with self._refreshing:
                if self._tokens is sent_with:  # nobody refreshed meanwhile: our turn
                    refresh_nonce_retried = False
                    while True:
                        refresh = self._refresh_request(sent_with)
                        sent = time.time()
                        answer = yield refresh
                        self._observe(answer, sent)
                        await read_capped(answer)
                        if asks_for_nonce(answer) and not refresh_nonce_retried:
                            refresh_nonce_retried = True
                            continue
                        break
                    self._accept_refresh(answer)
            if self._tokens is None:
                return  # dropped meanwhile: the caller reads the refusal
            nonce_retried = False  # the refresh brought a fresh nonce; one more retry is fair

    def _accept_refresh(self, answer: httpx.Response) -> None:
        if answer.status_code == 400:
            error = oauth_error(answer)
            raise Unauthorized(
                f"the cloud refused the device's refresh token ({describe(answer)})",
                400,
                device_removed=bool(error is not None and error.device_removed),
            )
        if answer.status_code != 200:
            raise unexpected(answer)
        token = parse(TokenResponse, answer)
        self.set_tokens(DeviceTokens.from_response(token))
        log.info("refreshed the access token of device %s", token.device_id)


__all__ = ["PROOF_ONLY", "AnswerObserver", "DPoPAuth", "DeviceTokens", "asks_for_nonce"]
