"""Answers the real cloud never gives, from a buggy backend or anyone on a plain-http path.

Each is injected at the transport boundary (httpx's `MockTransport`); the client, its auth
flow and the wire models are the real ones. Every invalid answer must raise
`CloudResponseError` naming the first problem in one line, and return nothing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError
from sync.identity import DeviceKey
from sync.models import (
    DEFAULT_MAX_STATE_BYTES,
    MAX_JSON_ANSWER_BYTES,
    MAX_PLAYLIST_ITEMS,
    DeviceAuthorization,
    TokenResponse,
)

TOKENS = DeviceTokens(access_token="at", refresh_token="rt", device_id="dev_1", tenant_id="ten_1")
SHA = hashlib.sha256(b"a").hexdigest()

PLAYLIST = {
    "id": "pl_1",
    "name": "Loop",
    "items": [
        {"asset_id": "ast_1", "position": 0, "duration_ms": 10000},
        {"asset_id": "ast_2", "position": 1, "duration_ms": None},
    ],
}
VALID_STATE: dict[str, Any] = {  # a full listing in one page
    "cursor": "rev.7",
    "full": True,
    "more": False,
    "changes": [
        {"kind": "device", "id": "dev_1", "version": 7, "deleted": False,
         "data": {"id": "dev_1", "name": "Lobby", "tenant_id": "ten_1", "playlist_id": "pl_1"}},
        {"kind": "playlist", "id": "pl_1", "version": 7, "deleted": False, "data": PLAYLIST},
        {"kind": "asset", "id": "ast_1", "version": 7, "deleted": False,
         "data": {"id": "ast_1", "name": "welcome.png", "sha256": SHA, "media_type": "image",
                  "size": 1}},
        {"kind": "asset", "id": "ast_2", "version": 7, "deleted": False,
         "data": {"id": "ast_2", "name": "clip.mp4", "sha256": SHA, "media_type": "video",
                  "size": 1}},
    ],
}  # fmt: skip


def state_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    state = copy.deepcopy(VALID_STATE)
    change(state)
    return state


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> DeviceClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return DeviceClient(http=http, base_url="http://cloud.test", key=DeviceKey.generate(), **kwargs)


def answering(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"DPoP-Nonce": "n"})

    return handler


async def test_a_valid_state_parses() -> None:
    client = client_for(answering(200, VALID_STATE), tokens=TOKENS)
    page = await client.get_state(None)
    assert page is not None and page.full
    playlist = page.changes[1].object
    assert [item.asset_id for item in playlist.items] == ["ast_1", "ast_2"]  # type: ignore[union-attr]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets `state[a][b]...` for a path like `assets.0.name`."""

    def change(state: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = state
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def _duplicate_asset(state: dict[str, Any]) -> None:
    state["changes"][3]["id"] = state["changes"][3]["data"]["id"] = "ast_1"


def _too_many_items(state: dict[str, Any]) -> None:
    state["changes"][1]["data"]["items"] = [
        {"asset_id": "ast_1", "position": n, "duration_ms": 1000}
        for n in range(MAX_PLAYLIST_ITEMS + 1)
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_duplicate_asset, "changes[3]: asset 'ast_1' appears twice"),
        (_set("changes.1.data.items.1.position", 0), "items[1].position 0 appears twice"),
        (_set("changes.1.data.items.0.duration_ms", 2**63), "changes[1].items[0].duration_ms: "),
        (_set("changes.1.data.items.0.duration_ms", 0), "changes[1].items[0].duration_ms: "),
        (_set("changes.1.data.items.0.duration_ms", 86_400_001), "items[0].duration_ms: "),
        (_set("changes.1.data.items.0.position", 2**63), "changes[1].items[0].position: "),
        (_set("changes.1.data.items.0.position", -1), "changes[1].items[0].position: "),
        (_set("changes.2.data.size", 2**63), "changes[2].size: "),
        (_set("changes.2.data.size", -1), "changes[2].size: "),
        (_set("changes.2.data.name", "x" * 5_000_000), "changes[2].name: "),
        (_set("changes.2.data.name", "a\nERROR forged log line"), "changes[2].name: contains the"),
        (_set("changes.2.data.name", "a\u2028b"), "U+2028"),
        (_set("changes.2.data.name", "a\u2029b"), "U+2029"),
        (_set("changes.2.data.name", "a\x85b"), "U+0085"),  # C1 next line
        (_set("changes.2.data.name", "a\x7fb"), "U+007F"),
        (_set("changes.2.data.name", "a\x1b[31mred"), "U+001B"),  # terminal escapes
        (_set("changes.0.data.name", "x" * 201), "changes[0].name: "),
        (_set("changes.1.data.name", "\r"), "changes[1].name: "),
        (_set("cursor", "c" * 201), "cursor: "),
        (_set("cursor", ""), "cursor: "),
        (_set("changes.0.id", "dev\t1"), "changes[0].id: "),
        (_set("changes.0.version", 2**63), "changes[0].version: "),
        (_set("changes.0.version", 0), "changes[0].version: "),
        (_set("changes.2.data.sha256", "A" * 64), "changes[2].sha256: "),
        (_set("changes.2.data.id", "ast_9"), "is not the change's id"),
        (_set("changes.2.deleted", True), "not both"),
        (_set("changes.2.kind", "k" * 65), "changes[2].kind: "),
        (_too_many_items, "changes[1].items: "),
    ],
)
async def test_an_invalid_state_is_rejected_whole_naming_the_problem(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    client = client_for(answering(200, state_with(change)), tokens=TOKENS)
    with pytest.raises(CloudResponseError) as info:
        await client.get_state(None)
    message = str(info.value)
    assert "not a valid StatePage" in message and problem in message
    assert "\n" not in message and len(message) < 400


async def test_a_50_mb_state_answer_is_not_read_past_the_cap() -> None:
    pulled = 0

    async def endless_json() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"cursor": "rev.1", "padding": "'
        for _ in range(50 * 16):  # 50 MB in 64 KiB pieces, no Content-Length
            pulled += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b'"}'

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless_json())

    client = client_for(handler, tokens=TOKENS, max_state_bytes=DEFAULT_MAX_STATE_BYTES)
    with pytest.raises(CloudResponseError, match=f"larger than {DEFAULT_MAX_STATE_BYTES} bytes"):
        await client.get_state(None)
    assert pulled <= DEFAULT_MAX_STATE_BYTES + 64 * 1024


async def test_the_state_cap_is_configurable() -> None:
    client = client_for(answering(200, VALID_STATE), tokens=TOKENS, max_state_bytes=100)
    with pytest.raises(CloudResponseError, match="larger than 100 bytes"):
        await client.get_state(None)


async def test_an_announced_oversized_body_is_refused_before_it_is_read() -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body(), headers={"Content-Length": str(10**9)})

    client = client_for(handler, tokens=TOKENS)
    with pytest.raises(CloudResponseError, match="larger than"):
        await client.get_state(None)
    assert pulled == 0


async def test_a_compressed_answer_is_refused_since_it_could_expand_past_the_cap() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "identity"
        return httpx.Response(200, content=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})

    client = client_for(handler, tokens=TOKENS)
    with pytest.raises(CloudResponseError, match="Content-Encoding 'gzip'"):
        await client.get_state(None)


async def test_other_answers_are_capped_at_64_kib() -> None:
    big = {"device_code": "d", "user_code": "U", "verification_uri": "http://x/a"}
    big["padding"] = "x" * MAX_JSON_ANSWER_BYTES
    client = client_for(answering(200, big))
    with pytest.raises(CloudResponseError, match=f"larger than {MAX_JSON_ANSWER_BYTES} bytes"):
        await client.authorize()


GRANT = {
    "device_code": "dc",
    "user_code": "KXRT-9MBD",
    "verification_uri": "http://cloud.test/activate",
    "verification_uri_complete": "http://cloud.test/activate?user_code=KXRT-9MBD",
    "expires_in": 900,
    "interval": 5,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_code", "KXRT\n9MBD"),
        ("user_code", "K" * 65),
        ("verification_uri", "http://x/\u2028"),
        ("verification_uri_complete", "u" * 2049),
        ("device_code", "d" * 4097),
        ("device_code", ""),
        ("expires_in", 2**63),
        ("interval", 0),
        ("interval", 10**9),
    ],
)
async def test_an_invalid_grant_is_rejected(field: str, value: Any) -> None:
    client = client_for(answering(200, {**GRANT, field: value}))
    with pytest.raises(CloudResponseError, match=f"not a valid DeviceAuthorization \\({field}: "):
        await client.authorize()


TOKEN = {
    "access_token": "at2",
    "token_type": "DPoP",
    "expires_in": 3600,
    "refresh_token": "rt2",
    "device_id": "dev_1",
    "tenant_id": "ten_1",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token", "a" * 4097),
        ("refresh_token", "rt\x00"),
        ("device_id", "dev\n1"),
        ("expires_in", 2**63),
    ],
)
async def test_invalid_tokens_are_not_kept(field: str, value: Any) -> None:
    heard: list[DeviceTokens | None] = []
    client = client_for(answering(200, {**TOKEN, field: value}), on_tokens=heard.append)
    with pytest.raises(CloudResponseError, match=f"not a valid TokenResponse \\({field}: "):
        await client.poll_token("dc")
    assert client.tokens is None and heard == []


async def test_an_invalid_refresh_answer_keeps_the_old_tokens() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={**TOKEN, "device_id": "x" * 65})
        return httpx.Response(401, json={"error": "invalid_token"})

    heard: list[DeviceTokens | None] = []
    client = client_for(handler, tokens=TOKENS, on_tokens=heard.append)
    with pytest.raises(CloudResponseError, match="TokenResponse \\(device_id: "):
        await client.get_state(None)
    assert client.tokens == TOKENS and heard == []


@pytest.mark.parametrize(
    "body",
    [
        {"error": "authorization_pending", "error_description": "wait\nERROR forged"},
        {"error": "authorization_pending", "error_description": "d" * 1001},
        {"error": "x" * 65},
        {"error": "slow_down\u2028"},
    ],
)
async def test_an_invalid_oauth_error_is_rejected(body: dict[str, Any]) -> None:
    client = client_for(answering(400, body))
    with pytest.raises(CloudResponseError, match="not a valid OAuthError") as info:
        await client.poll_token("dc")
    assert "\n" not in str(info.value)


async def test_a_refusal_with_an_invalid_description_still_raises_one_line() -> None:
    client = client_for(
        answering(401, {"error": "invalid_token", "error_description": "a\nb" * 10_000}),
    )
    with pytest.raises(CloudResponseError) as info:
        await client.get_state(None)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_the_fixtures_are_valid_so_each_rejection_above_comes_from_its_change() -> None:
    assert TokenResponse.model_validate_json(json.dumps(TOKEN)).device_id == "dev_1"
    assert DeviceAuthorization.model_validate_json(json.dumps(GRANT)).interval == 5
