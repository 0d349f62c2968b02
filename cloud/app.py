"""The one place that builds the cloud: settings → database → keys → services → routes.

Nothing reaches for a global: `create_app` creates each part with keyword arguments and
hands the routers what they use. The database connections are closed when the app stops.

Every answer is JSON with a one-line reason, whatever arrives: validation errors become
`{"detail": "items[0].duration_s: ..."}` (never echoing the input, which may not even be
JSON-serialisable, like NaN), bodies above their limit 413 (`cloud.limits`), and an
exception nothing else handled one log line and a 500 without a traceback (`LastResort`).
The middleware, outermost first: ServerTimeHeader → DPoPNonceHeader → LastResort →
BodyLimit → routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud import activate, admin_api, device_api
from cloud.access import Guard
from cloud.apikeys import ApiKeys
from cloud.blobs import BlobStore
from cloud.changelog import ChangeLog
from cloud.changes import ChangeFeed
from cloud.commands import Commands
from cloud.content import Content
from cloud.devices import Devices
from cloud.enrollment import Enrollments, purge_every_s
from cloud.errors import ApiError, ConfigError, DeviceUnauthorized, OAuthFailure
from cloud.events import Events
from cloud.groups import Groups
from cloud.interrupts import Interrupts
from cloud.keys import AccessTokens, SigningKey
from cloud.limits import BodyLimit, limit_for
from cloud.playlists import Playlists
from cloud.presence import Presence
from cloud.proofs import NonceIssuer, ProofChecker, ReplayCache
from cloud.reports import Reports
from cloud.retention import forget_old, retention_every_s
from cloud.schedules import Schedules
from cloud.services import Services
from cloud.sessions import DeviceSessions
from cloud.settings import Settings
from cloud.state import DeviceState
from cloud.status import Statuses
from cloud.store import Database
from cloud.views import Views
from sync.models import (
    CONTROL_CHARACTERS,
    DEVICE_PREFIX,
    MAX_DESCRIPTION_CHARS,
    SERVER_TIME_HEADER,
    OAuthError,
)

log = logging.getLogger(__name__)

# How often expired interrupts are deleted and their devices told (`cloud.expiry`).
INTERRUPT_PURGE_EVERY_S = 60.0
# How often the cloud looks for commands that expired, to tell the devices that held them: a
# read of an index, and a write only when one did (`cloud.commands`).
COMMAND_EXPIRY_EVERY_S = 1.0
# How often the ids of day-old heartbeats are forgotten (`cloud.events`).
HEARTBEAT_IDS_EVERY_S = 3600.0

DESCRIPTION = """\
Reference implementation of the signage device API (v3): enrollment with the OAuth 2.0
Device Authorization Grant (RFC 8628), DPoP-bound tokens (RFC 9449), delta sync of a
device's state, content-addressed blobs; and the per-tenant admin API. See docs/device-api.md.
"""


class ServerTimeHeader:
    """Adds `Signage-Time` (this server's POSIX time, to the millisecond, taken as the answer
    starts) to every answer under `prefix`: a device without a real-time clock sets its
    estimate of our clock by it, far finer than `Date`'s whole seconds (sync/clock.py)."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_time(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[SERVER_TIME_HEADER] = f"{time.time():.3f}"
            await send(message)

        await self.app(scope, receive, send_with_time)


class DPoPNonceHeader:
    """Adds a fresh `DPoP-Nonce` header to every answer under `prefix` (RFC 9449 §8)."""

    def __init__(self, app: ASGIApp, *, prefix: str, nonces: NonceIssuer) -> None:
        self.app = app
        self.prefix = prefix
        self.nonces = nonces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_nonce(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["DPoP-Nonce"] = self.nonces.current()
            await send(message)

        await self.app(scope, receive, send_with_nonce)


async def api_error_response(request: Request, exc: Exception) -> JSONResponse:
    """An `ApiError` as JSON: an OAuth error body on the device API, `detail` elsewhere."""
    assert isinstance(exc, ApiError)
    headers = dict(exc.headers)
    if isinstance(exc, OAuthFailure | DeviceUnauthorized):
        # a description may echo what the client sent (a proof's `typ`, say): keep it within
        # the contract's bounds, or answering the error would itself fail
        description = exc.description
        if description is not None:
            description = CONTROL_CHARACTERS.sub("?", description)[:MAX_DESCRIPTION_CHARS]
        body = OAuthError(
            error=exc.error,
            error_description=description,
            device_removed=exc.device_removed or None,
        )
        headers["Cache-Control"] = "no-store"
        return JSONResponse(body.model_dump(exclude_none=True), exc.status_code, headers)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers)


def _where(loc: Sequence[Any]) -> str:
    """`('body', 'items', 0, 'duration_s')` as `items[0].duration_s`."""
    source, *parts = [*loc] or ["body"]
    where = ""
    for part in parts:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    if source in ("query", "path", "header"):
        return f"{source} parameter {where}"
    return where or "body"


def validation_problem(errors: Sequence[Any]) -> str:
    """The first of FastAPI's validation errors as one line that names the field."""
    if not errors:
        return "the request is not valid"
    first = errors[0]
    if first.get("type") == "json_invalid":
        problem = f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
    elif first.get("type") == "missing" and list(first.get("loc", ())) == ["body"]:
        problem = "the body is missing: send a JSON object"
    else:
        message = str(first.get("msg", "not valid")).removeprefix("Value error, ")
        problem = f"{_where(first.get('loc', ()))}: {message}"
    if len(errors) > 1:
        problem += f" (and {len(errors) - 1} more problems)"
    return " ".join(problem.split())[:500]


async def validation_error_response(request: Request, exc: Exception) -> JSONResponse:
    """422 with a one-line `detail`; the input is not echoed (it may be huge, or NaN)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_problem(exc.errors())}, 422)


class LastResort:
    """An exception no handler took: one log line, and a 500 JSON answer without a traceback.

    Only for what the code did not foresee: every input known to cause trouble gets its own
    4xx (tests/cloud/test_hostile_input.py). A busy database answers 503 instead: retrying
    helps there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            busy = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
            frames = traceback.extract_tb(exc.__traceback__)
            at = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
            log.error(
                "%s %s failed: %s: %s (at %s); answered %d",
                scope["method"],
                scope["path"],
                type(exc).__name__,
                " ".join(str(exc).split())[:300],
                at,
                503 if busy else 500,
            )
            if started:
                return  # the answer is under way: the connection just ends
            if busy:
                status, detail = 503, "the database is busy: try again in a moment"
            else:
                status, detail = 500, "the cloud failed to answer: its log says why"
            body = json.dumps({"detail": detail}).encode()
            headers = [(b"content-type", b"application/json")]
            if busy:
                headers.append((b"retry-after", b"1"))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})


async def _purge_expired_codes(services: Services) -> None:
    """Delete expired pending enrollments, now and then, for as long as the app runs."""
    every_s = purge_every_s(services.settings.code_ttl_s)
    while True:
        try:
            await run_in_threadpool(services.enrollments.purge_expired, services.clock())
        except sqlite3.Error as exc:
            log.warning("could not delete expired enrollment codes: %s; trying again later", exc)
        await asyncio.sleep(every_s)


async def _every(every_s: float, work: Callable[[], object], what: str) -> None:
    """Run `work` in a worker thread every `every_s` seconds for as long as the app runs."""
    while True:
        try:
            await run_in_threadpool(work)
        except sqlite3.Error as exc:
            log.warning("could not %s: %s; trying again later", what, exc)
        await asyncio.sleep(every_s)


@asynccontextmanager
async def _close_on_shutdown(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    # Database work runs in worker threads; their commits wake long-polls on this loop.
    services.changes.attach(asyncio.get_running_loop())
    periodic = [
        (INTERRUPT_PURGE_EVERY_S, services.interrupts.purge_expired, "delete expired interrupts"),
        (COMMAND_EXPIRY_EVERY_S, services.commands.purge_expired, "record expired commands"),
        (HEARTBEAT_IDS_EVERY_S, services.events.forget_old_heartbeat_ids, "forget heartbeat ids"),
        (
            retention_every_s(services.settings),
            lambda: forget_old(services),
            "delete the reports and commands past their retention",
        ),
    ]
    tasks = [asyncio.create_task(_purge_expired_codes(services), name="purge expired codes")]
    tasks += [
        asyncio.create_task(_every(every_s, work, what), name=what)
        for every_s, work, what in periodic
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        services.db.close()
        log.info("signage-cloud stopped; database %s closed", services.db.path)


def create_app(settings: Settings) -> FastAPI:
    """The cloud's ASGI app over the data dir of `settings` (created if missing)."""
    db = Database(settings.db_path)  # creates the data dir
    try:
        signing_key = SigningKey.load_or_create(settings.signing_key_path)
        blobs = BlobStore(settings.blobs_dir)
    except OSError as exc:
        db.close()
        raise ConfigError(
            f"cannot use the data dir {settings.data_dir}: {exc.strerror or exc}"
        ) from exc
    except ConfigError:
        db.close()
        raise
    clock = time.time
    nonces = NonceIssuer(signing_key.derive_secret("signage-cloud dpop-nonce v1"), clock=clock)
    proofs = ProofChecker(nonces, ReplayCache(), clock=clock)
    access_tokens = AccessTokens(signing_key, ttl_s=settings.access_token_ttl_s)
    sessions = DeviceSessions(
        db,
        access_tokens,
        secret=signing_key.derive_secret("signage-cloud refresh-token v1"),
        grace_s=settings.refresh_grace_s,
    )
    changelog = ChangeLog(db, retention_s=settings.change_retention_s)
    views = Views(db)
    commands = Commands(db, changelog, views, clock=clock)
    presence = Presence(window_s=settings.online_window_s)
    devices = Devices(db, changelog, views, clock=clock)
    content = Content(db, changelog, views, clock=clock)
    changes = ChangeFeed()
    db.on_change = changes.notify
    enrollments = Enrollments(db, devices=devices, sessions=sessions, settings=settings)
    keys = ApiKeys(db)

    app = FastAPI(
        title="signage-cloud",
        version=metadata.version("signage-agent"),
        description=DESCRIPTION,
        lifespan=_close_on_shutdown,
    )
    app.state.services = Services(
        settings=settings,
        db=db,
        proofs=proofs,
        access_tokens=access_tokens,
        sessions=sessions,
        enrollments=enrollments,
        devices=devices,
        content=content,
        playlists=Playlists(db, content=content, changelog=changelog, views=views, clock=clock),
        groups=Groups(db, changelog, views, clock=clock),
        schedules=Schedules(db, changelog, views, clock=clock),
        interrupts=Interrupts(db, changelog, views, clock=clock),
        commands=commands,
        events=Events(db, commands, clock=clock),
        reports=Reports(db, clock=clock),
        presence=presence,
        statuses=Statuses(db, presence, clock=clock),
        changelog=changelog,
        views=views,
        state=DeviceState(db, changelog, views, clock=clock),
        blobs=blobs,
        changes=changes,
        keys=keys,
        guard=Guard(keys, settings),
        clock=clock,
    )
    app.include_router(device_api.router)
    app.include_router(admin_api.router)
    app.include_router(activate.router)

    @app.get("/healthz", tags=["ops"], summary="Liveness: 200 while the server runs")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(ApiError, api_error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)
    # Each add wraps the ones before: the nonce header goes on every answer, 413s included.
    app.add_middleware(BodyLimit, limit=limit_for(settings))
    app.add_middleware(LastResort)
    app.add_middleware(DPoPNonceHeader, prefix=DEVICE_PREFIX, nonces=nonces)
    app.add_middleware(ServerTimeHeader, prefix=DEVICE_PREFIX)
    return app


__all__ = [
    "DPoPNonceHeader",
    "LastResort",
    "api_error_response",
    "create_app",
    "validation_error_response",
    "validation_problem",
]
