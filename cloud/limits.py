"""Request body limits, enforced before a body is read whole: 413 with a JSON reason.

Which limit applies depends on the route: an asset upload (`POST /api/v3/admin/assets`)
may be as large as `max_upload_bytes`, any other admin call `max_admin_body_bytes` (a
playlist of MAX_PLAYLIST_ITEMS items fits), a device's batch of events
(`POST /api/v3/device/events`) `MAX_EVENTS_BATCH_BYTES` and its attachment
(`PUT /api/v3/device/commands/{id}/attachment`) `MAX_ATTACHMENT_BYTES` (both the contract's,
in `sync.models`), and everything else (device API forms, `/activate`) `max_body_bytes`, a
few KiB being all an honest client sends.

A request whose `Content-Length` is above its limit is answered at once, without reading
a byte of the body. A body without one (chunked) is counted as it streams in, and the
request is cut off the moment it passes the limit, whatever the endpoint was doing with
it: the endpoint's own answer to the interruption is replaced by the 413.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.settings import Settings
from sync.models import (
    ADMIN_PREFIX,
    DEVICE_PREFIX,
    MAX_ATTACHMENT_BYTES,
    MAX_EVENTS_BATCH_BYTES,
)

log = logging.getLogger(__name__)

UPLOAD_PATH = f"{ADMIN_PREFIX}/assets"
EVENTS_PATH = f"{DEVICE_PREFIX}/events"
ATTACHMENT_PATH = re.compile(re.escape(DEVICE_PREFIX) + r"/commands/[^/]+/attachment")


class BodyTooLarge(Exception):
    """Raised into the app from `receive` when a streamed body passes its limit."""


def limit_for(settings: Settings) -> Callable[[str, str], tuple[int, str]]:
    """(limit in bytes, the setting that sets it) for a request's method and path."""

    def limit(method: str, path: str) -> tuple[int, str]:
        if method == "POST" and path.rstrip("/") == UPLOAD_PATH:
            return settings.max_upload_bytes, "SIGNAGE_CLOUD_MAX_UPLOAD_BYTES"
        if method == "POST" and path == EVENTS_PATH:
            return MAX_EVENTS_BATCH_BYTES, "MAX_EVENTS_BATCH_BYTES"
        if method == "PUT" and ATTACHMENT_PATH.fullmatch(path):
            return MAX_ATTACHMENT_BYTES, "MAX_ATTACHMENT_BYTES"
        if path.startswith(ADMIN_PREFIX + "/"):
            return settings.max_admin_body_bytes, "SIGNAGE_CLOUD_MAX_ADMIN_BODY_BYTES"
        return settings.max_body_bytes, "SIGNAGE_CLOUD_MAX_BODY_BYTES"

    return limit


def too_large_body(path: str, limit: int, setting: str) -> bytes:
    """The 413 body: `detail` for people; OAuth fields too on the device API."""
    detail = f"the request body is larger than {limit} bytes, the most this cloud accepts here"
    if path == UPLOAD_PATH:
        detail += f" (set {setting} on the cloud to accept larger uploads)"
    body: dict[str, str] = {"detail": detail}
    if path.startswith(DEVICE_PREFIX):
        body |= {"error": "invalid_request", "error_description": detail}
    return json.dumps(body).encode()


class BodyLimit:
    """ASGI middleware refusing request bodies above the route's limit with 413."""

    def __init__(self, app: ASGIApp, *, limit: Callable[[str, str], tuple[int, str]]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit, setting = self.limit(scope["method"], path)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            log.info("refused a %s-byte body to %s: above %d bytes", declared, path, limit)
            await self._answer_413(send, path, limit, setting)
            return

        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"the body passed {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                return  # the endpoint's answer to the interruption; the 413 replaces it
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            # BodyTooLarge, or whatever the endpoint made of it: answered below.
        if exceeded:
            log.info("cut off a streamed body to %s at %d bytes: above %d", path, received, limit)
            if not response_started:
                await self._answer_413(send, path, limit, setting)

    @staticmethod
    async def _answer_413(send: Send, path: str, limit: int, setting: str) -> None:
        body = too_large_body(path, limit, setting)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is not read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = [
    "ATTACHMENT_PATH",
    "EVENTS_PATH",
    "BodyLimit",
    "BodyTooLarge",
    "limit_for",
    "too_large_body",
]
