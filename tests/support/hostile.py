"""A reverse proxy in front of the real cloud that can corrupt what it forwards.

Some faults the reference cloud never produces: a state answer with duplicate ids, a blob
that is missing or longer than announced, a 50 MB answer. This proxy produces them at the
transport boundary, so the agent under test is the real process talking real HTTP; only
the bytes on the wire are hostile. Requests are forwarded with their `Host` header, so the
cloud checks the agent's DPoP proofs against the URL the agent really used.

    with hostile_proxy(cloud.url) as proxy:
        proxy.corrupt_state = lambda snapshot: json.dumps(...).encode()
        proxy.blob_faults[sha256] = "missing"
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.support.cloud import free_port

BlobFault = Literal["missing", "longer", "wrong_bytes"]
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


class HostileProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        # When set, every state request is answered with a full listing passed through this.
        self.corrupt_state: Callable[[dict[str, Any]], bytes] | None = None
        self.blob_faults: dict[str, BlobFault] = {}
        # When set, every state request that carries a cursor is answered 410 Gone.
        self.forget_cursors = False
        self.gone_answers = 0
        self.corrupted_answers = 0
        self.blob_requests: dict[str, int] = {}
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # one client for the proxy's life, closed at the end
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._http = httpx.AsyncClient(base_url=self.upstream, timeout=90)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._http is not None:
                        await self._http.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        request = Request(scope, receive)
        response = await self._forward(request)
        await response(scope, receive, send)

    async def _forward(self, request: Request) -> Response:
        assert self._http is not None
        path = request.url.path
        params = dict(request.query_params)
        if self.forget_cursors and path.endswith("/device/state") and "cursor" in params:
            self.gone_answers += 1
            return Response(b'{"detail":"unknown cursor: ask again without one"}', 410,
                            media_type="application/json")  # fmt: skip
        corrupt = self.corrupt_state if path.endswith("/device/state") else None
        if corrupt is not None:
            params.pop("cursor", None)  # always a full listing, at once
            params.pop("wait", None)
        sha256 = path.rsplit("/", 1)[-1] if "/device/blobs/" in path else None
        if sha256 is not None:
            self.blob_requests[sha256] = self.blob_requests.get(sha256, 0) + 1
        fault = self.blob_faults.get(sha256 or "")
        if fault == "missing":
            return Response(b'{"detail":"no such blob"}', 404, media_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        upstream = await self._http.request(
            request.method, path, params=params, headers=headers, content=await request.body()
        )
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        if corrupt is not None and upstream.status_code == 200:
            self.corrupted_answers += 1
            return Response(corrupt(upstream.json()), 200, headers=out_headers)
        if fault == "wrong_bytes":
            body = bytes(len(upstream.content))
            return Response(body, upstream.status_code, headers=out_headers)
        if fault == "longer":
            return StreamingResponse(
                _longer(upstream.content), upstream.status_code, headers=out_headers
            )
        return Response(upstream.content, upstream.status_code, headers=out_headers)


async def _longer(content: bytes) -> AsyncIterator[bytes]:
    """The real bytes, then 256 MiB more: an agent must stop reading long before the end."""
    yield content
    chunk = bytes(1 << 20)
    for _ in range(256):
        yield chunk
        await asyncio.sleep(0)


@contextmanager
def hostile_proxy(upstream: str) -> Iterator[HostileProxy]:
    proxy = HostileProxy(upstream)
    port = free_port()
    proxy.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="hostile-proxy", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hostile proxy did not start")
        time.sleep(0.02)
    try:
        yield proxy
    finally:
        server.should_exit = True
        thread.join(10)


def _first(page: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in page["changes"] if c["kind"] == kind and c.get("data"))


def with_duplicate_asset(page: dict[str, Any]) -> bytes:
    page["changes"] = [*page["changes"], _first(page, "asset")]
    return json.dumps(page).encode()


def with_duplicate_position(page: dict[str, Any]) -> bytes:
    items = _first(page, "playlist")["data"]["items"]
    items.append(dict(items[0]))
    return json.dumps(page).encode()


def with_huge_duration(page: dict[str, Any]) -> bytes:
    _first(page, "playlist")["data"]["items"][0]["duration_ms"] = 2**63 + 5
    return json.dumps(page).encode()


def with_huge_size(page: dict[str, Any]) -> bytes:
    _first(page, "asset")["data"]["size"] = 2**64
    return json.dumps(page).encode()


def with_newline_in_name(page: dict[str, Any]) -> bytes:
    _first(page, "asset")["data"]["name"] = "x.png\n12:00:00 INFO    agent: forged line"
    return json.dumps(page).encode()


def with_another_tenants_device(page: dict[str, Any]) -> bytes:
    _first(page, "device")["data"]["tenant_id"] = "ten_someone_else"
    return json.dumps(page).encode()


def with_huge_name(page: dict[str, Any]) -> bytes:
    _first(page, "asset")["data"]["name"] = "n" * (5 << 20)
    return json.dumps(page).encode()


def fifty_megabytes(page: dict[str, Any]) -> bytes:
    page["padding"] = "p" * (50 << 20)
    return json.dumps(page).encode()


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "duplicate asset ids": with_duplicate_asset,
    "duplicate positions": with_duplicate_position,
    "duration above 2^63": with_huge_duration,
    "size above 2^63": with_huge_size,
    "newline in a name": with_newline_in_name,
    "another tenant's device": with_another_tenants_device,
    "5 MB name": with_huge_name,
    "50 MB answer": fifty_megabytes,
}

__all__ = ["CORRUPTIONS", "BlobFault", "HostileProxy", "hostile_proxy"]
