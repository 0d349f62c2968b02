"""The one place that builds the cloud: settings → database → keys → services → routes.

Nothing reaches for a global: `create_app` creates each part with keyword arguments and
hands the routers what they use. The database connection is closed when the app stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud import activate, admin_api, device_api
from cloud.blobs import BlobStore
from cloud.changes import ChangeFeed
from cloud.content import Content
from cloud.devices import Devices
from cloud.enrollment import Enrollments
from cloud.errors import ApiError, DeviceUnauthorized, OAuthFailure
from cloud.keys import AccessTokens, SigningKey
from cloud.proofs import NonceIssuer, ProofChecker, ReplayCache
from cloud.services import Services
from cloud.sessions import DeviceSessions
from cloud.settings import Settings
from cloud.state import DeviceState
from cloud.store import Database
from sync.models import DEVICE_PREFIX, OAuthError

log = logging.getLogger(__name__)

DESCRIPTION = """\
Reference implementation of the signage device API (v3): enrollment with the OAuth 2.0
Device Authorization Grant (RFC 8628), DPoP-bound tokens (RFC 9449), state snapshots and
content-addressed blobs; and the per-tenant admin API. See docs/device-api.md.
"""


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
        body = OAuthError(
            error=exc.error,
            error_description=exc.description,
            device_removed=exc.device_removed or None,
        )
        headers["Cache-Control"] = "no-store"
        return JSONResponse(body.model_dump(exclude_none=True), exc.status_code, headers)
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers)


@asynccontextmanager
async def _close_on_shutdown(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        services: Services = app.state.services
        services.db.close()
        log.info("signage-cloud stopped; database %s closed", services.db.path)


def create_app(settings: Settings) -> FastAPI:
    """The cloud's ASGI app over the data dir of `settings` (created if missing)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_path)
    signing_key = SigningKey.load_or_create(settings.signing_key_path)
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
    devices = Devices(db)
    changes = ChangeFeed()
    db.on_revision = changes.notify
    enrollments = Enrollments(db, devices=devices, sessions=sessions, settings=settings)

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
        content=Content(db),
        state=DeviceState(db),
        blobs=BlobStore(settings.blobs_dir),
        changes=changes,
        clock=clock,
    )
    app.include_router(device_api.router)
    app.include_router(admin_api.router)
    app.include_router(activate.router)

    @app.get("/healthz", tags=["ops"], summary="Liveness: 200 while the server runs")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(ApiError, api_error_response)
    app.add_middleware(DPoPNonceHeader, prefix=DEVICE_PREFIX, nonces=nonces)
    return app


__all__ = ["DPoPNonceHeader", "api_error_response", "create_app"]
