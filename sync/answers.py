"""Reading the cloud's answers: bodies capped while they stream, then validated whole.

Everything the device takes from the cloud passes through here before anyone looks at it.
A body is read only up to a cap (the state answer's is configurable, every other JSON
answer gets `MAX_JSON_ANSWER_BYTES`), so a hostile or broken cloud cannot make the agent
hold 50 MB in memory; the device asks for `identity` encoding and refuses any other, so a
small compressed body cannot expand past the cap either. A body that does not validate as
its wire model raises `CloudResponseError` naming the first problem in one line.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sync.errors import CloudResponseError
from sync.models import MAX_JSON_ANSWER_BYTES, OAuthError

Model = TypeVar("Model", bound=BaseModel)

# `items[3].position appears twice`: a model validator's message that starts with a path.
_RELATIVE_PATH = re.compile(r"[a-z_]+\[\d+\]\S*\s")

# Sent with every request: a compressed body could expand far beyond the cap that is
# counted on the wire, so the device reads only bodies sent as they are.
REQUEST_HEADERS = {"Accept-Encoding": "identity"}


def what(response: httpx.Response) -> str:
    """`GET /api/v3/device/state answered 200`: the start of every message about an answer."""
    return f"{response.request.method} {response.request.url.path} answered {response.status_code}"


class _CappedStream(httpx.AsyncByteStream):
    """A response body that raises `CloudResponseError` as soon as it passes `limit` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int, response: httpx.Response):
        self._inner = inner
        self._limit = limit
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        received = 0
        async for chunk in self._inner:
            received += len(chunk)
            if received > self._limit:
                raise _too_large(self._response, self._limit)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _too_large(response: httpx.Response, limit: int) -> CloudResponseError:
    return CloudResponseError(
        f"{what(response)} with a body larger than {limit} bytes: not read",
        response.status_code,
    )


def cap_body(response: httpx.Response, limit: int) -> None:
    """Make reading `response` fail once more than `limit` bytes arrive (before it is read)."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise CloudResponseError(
            f"{what(response)} with Content-Encoding {encoding[:40]!r} though it was asked "
            f"for identity: not read",
            response.status_code,
        )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(response, limit)
    if not response.is_stream_consumed and not isinstance(response.stream, _CappedStream):
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, limit, response)


async def read_capped(response: httpx.Response, limit: int = MAX_JSON_ANSWER_BYTES) -> bytes:
    """The body of `response`, read only while it stays within `limit` bytes."""
    cap_body(response, limit)
    body = await response.aread()
    if len(body) > limit:  # read before the cap was set (e.g. by a test transport)
        raise _too_large(response, limit)
    return body


def first_problem(error: ValidationError) -> str:
    """`assets[3].name: String should have at most 200 characters`, from pydantic's first."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    message = str(first["msg"]).removeprefix("Value error, ")
    if _RELATIVE_PATH.match(message):  # a model's own check names the field within it
        problem = f"{where}.{message}" if where else message
    else:
        problem = f"{where or 'body'}: {message}"
    # The message is ours or pydantic's, never the cloud's text, so it is one line already;
    # keep it so even if that ever changes.
    return " ".join(problem.split())


def parse(model: type[Model], response: httpx.Response) -> Model:
    """Validate the (already read) body of `response` as `model`, whole or not at all."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise CloudResponseError(
            f"{what(response)} with a body that is not a valid {model.__name__} "
            f"({first_problem(exc)})",
            response.status_code,
        ) from exc


def oauth_error(response: httpx.Response) -> OAuthError | None:
    """The OAuth error body of a read `response`, or None when it is not a valid one."""
    try:
        return OAuthError.model_validate_json(response.content)
    except ValidationError:
        return None


def describe(response: httpx.Response) -> str:
    """`invalid_grant: the refresh token was revoked`, or `HTTP 502`: for one log line."""
    error = oauth_error(response)
    if error is None:
        return f"HTTP {response.status_code}"
    if error.error_description:
        return f"{error.error}: {error.error_description}"
    return error.error


def unexpected(response: httpx.Response) -> CloudResponseError:
    """The error for an answer the device has no use for."""
    return CloudResponseError(f"{what(response)} ({describe(response)})", response.status_code)


__all__ = [
    "REQUEST_HEADERS",
    "cap_body",
    "describe",
    "first_problem",
    "oauth_error",
    "parse",
    "read_capped",
    "unexpected",
    "what",
]
