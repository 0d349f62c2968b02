"""The device API (`/api/v3/device`): enrollment, tokens, state, blobs and reports, all with DPoP.

The authorize and token endpoints take form bodies (RFC 6749 §3.2) and answer errors as
400 with an OAuth error body. The resource endpoints (`/state`, `/blobs/...`, `/events`,
`/commands/.../attachment`) need `Authorization: DPoP <access token>` plus a proof by the
key the token is bound to, and answer refusals as 401 with `WWW-Authenticate: DPoP
error="..."`. Every answer carries a
fresh `DPoP-Nonce` header (added by `cloud.app`), so a device always has a nonce to use.

Bodies are read on the event loop (capped by `cloud.limits`); proof checks and database
work run in worker threads (`def` endpoints and dependencies, or `run_in_threadpool`), so
a slow query never holds up another device's request or a long-poll.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from cloud.access import client_address
from cloud.admin_models import AttachmentStored
from cloud.commands import ATTACHMENT_TYPE
from cloud.errors import (
    DeviceUnauthorized,
    NotFound,
    OAuthFailure,
    ProofRejected,
    TokenRejected,
    UnsupportedMediaType,
)
from cloud.events import batch_events
from cloud.services import Services, ServicesDep
from sync.dpop import VerifiedProof
from sync.models import (
    CLIENT_ID,
    DEFAULT_PAGE_CHANGES,
    DEVICE_CODE_GRANT,
    DEVICE_PREFIX,
    MAX_ATTACHMENT_BYTES,
    MAX_EVENTS_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    MAX_ID_CHARS,
    MAX_PAGE_CHANGES,
    REFRESH_TOKEN_GRANT,
    SHA256_PATTERN,
    DeviceAuthorization,
    ErrorCode,
    EventsReceipt,
    OAuthError,
    StatePage,
    TokenResponse,
)

log = logging.getLogger(__name__)

# The longest a device may hold `GET /state` open waiting for a change (long-poll).
MAX_WAIT_S = 60

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthError, "description": "OAuth error (RFC 6749 §5.2, RFC 8628 §3.5)"}
}
DEVICE_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": OAuthError, "description": 'Refused; see `WWW-Authenticate: DPoP error="..."`'}
}


def _form_body(**fields: bool) -> dict[str, Any]:
    """OpenAPI for a form body whose fields are strings (True: required)."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string"} for name in fields},
        "required": [name for name, required in fields.items() if required],
    }
    return {"requestBody": {"required": True, "content": {FORM_CONTENT_TYPE: {"schema": schema}}}}


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded body; a repeated field is refused (RFC 6749 §3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise OAuthFailure("invalid_request", f"send the parameters as {FORM_CONTENT_TYPE}")
    try:
        parsed = parse_qs(
            (await request.body()).decode(), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError as exc:
        raise OAuthFailure("invalid_request", "the form body is not UTF-8") from exc
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise OAuthFailure("invalid_request", f"parameter {repeated[0]} is given twice")
    return {name: values[0] for name, values in parsed.items()}


@dataclass(frozen=True)
class AuthenticatedDevice:
    tenant_id: str
    device_id: str


def _token_endpoint_proof(services: Services, request: Request, dpop: str | None) -> VerifiedProof:
    try:
        return services.proofs.check(dpop, method=request.method, url=str(request.url))
    except ProofRejected as exc:
        raise OAuthFailure(exc.error, exc.description) from exc


def authenticated_device(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header(alias="DPoP")] = None,
) -> AuthenticatedDevice:
    """The device making a request with a DPoP-bound access token (RFC 9449 §7)."""
    scheme, _, access_token = (authorization or "").partition(" ")
    access_token = access_token.strip()
    if scheme.lower() != "dpop" or not access_token:
        raise DeviceUnauthorized(
            ErrorCode.INVALID_TOKEN, "send `Authorization: DPoP <access token>`"
        )
    if not access_token.isascii():  # a token we issued is base64url; hashing needs ASCII
        raise DeviceUnauthorized(ErrorCode.INVALID_TOKEN, "the access token is not ASCII")
    try:
        proof = services.proofs.check(
            dpop, method=request.method, url=str(request.url), access_token=access_token
        )
    except ProofRejected as exc:
        raise DeviceUnauthorized(exc.error, exc.description) from exc
    try:
        claims = services.access_tokens.verify(access_token)
    except TokenRejected as exc:
        raise DeviceUnauthorized(ErrorCode.INVALID_TOKEN, exc.description) from exc
    if claims.jkt != proof.jkt:
        raise DeviceUnauthorized(
            ErrorCode.INVALID_TOKEN, "the access token is bound to another key than the proof's"
        )
    devices = services.devices
    row = devices.active(tenant_id=claims.tenant_id, device_id=claims.device_id)
    if row is None:
        log.info("refused a token of device %s: it was removed", claims.device_id)
        raise removed_device()
    if row["tokens_revoked_at"] is not None:
        log.info("refused a token of device %s: its tokens were revoked", claims.device_id)
        raise DeviceUnauthorized(
            ErrorCode.INVALID_TOKEN,
            "this device's tokens were revoked (a refresh token was used twice): enroll again",
        )
    devices.touch(tenant_id=claims.tenant_id, device_id=claims.device_id)
    return AuthenticatedDevice(tenant_id=claims.tenant_id, device_id=claims.device_id)


def removed_device() -> DeviceUnauthorized:
    return DeviceUnauthorized(
        ErrorCode.INVALID_TOKEN,
        "this device was removed from the cloud: enroll again",
        device_removed=True,
    )


Device = Annotated[AuthenticatedDevice, Depends(authenticated_device)]
DPoPHeader = Annotated[str | None, Header(alias="DPoP", description="The DPoP proof (RFC 9449)")]

router = APIRouter(prefix=DEVICE_PREFIX, tags=["device"])


@router.post(
    "/authorize",
    response_model=DeviceAuthorization,
    responses={
        **OAUTH_ERRORS,
        429: {"model": OAuthError, "description": "Too many codes asked from this address"},
    },
    openapi_extra=_form_body(client_id=True, description=False),
    summary="Start enrollment (RFC 8628 §3.1), bound to the DPoP proof's key",
)
async def authorize(
    request: Request, services: ServicesDep, dpop: DPoPHeader = None
) -> DeviceAuthorization:
    form = await read_form(request)
    return await run_in_threadpool(_authorize, services, request, dpop, form)


def _authorize(
    services: Services, request: Request, dpop: str | None, form: dict[str, str]
) -> DeviceAuthorization:
    proof = _token_endpoint_proof(services, request, dpop)
    if form.get("client_id") != CLIENT_ID:
        raise OAuthFailure("invalid_client", f"client_id must be {CLIENT_ID}")
    # Counted once the request is valid (a nonce retry is not a second code): each code is
    # a database row until it expires.
    services.guard.allow_authorize(client_address(request))
    return services.enrollments.authorize(
        jkt=proof.jkt, now=services.clock(), description=form.get("description")
    )


@router.post(
    "/token",
    response_model=TokenResponse,
    responses=OAUTH_ERRORS,
    openapi_extra=_form_body(
        grant_type=True, device_code=False, client_id=False, refresh_token=False
    ),
    summary="Poll an enrollment (RFC 8628 §3.4) or refresh tokens (RFC 6749 §6)",
)
async def token(
    request: Request, response: Response, services: ServicesDep, dpop: DPoPHeader = None
) -> TokenResponse:
    form = await read_form(request)
    response.headers["Cache-Control"] = "no-store"
    return await run_in_threadpool(_token, services, request, dpop, form)


def _token(
    services: Services, request: Request, dpop: str | None, form: dict[str, str]
) -> TokenResponse:
    proof = _token_endpoint_proof(services, request, dpop)
    grant_type = form.get("grant_type")
    if grant_type == DEVICE_CODE_GRANT:
        if form.get("client_id") != CLIENT_ID:
            raise OAuthFailure("invalid_client", f"client_id must be {CLIENT_ID}")
        device_code = form.get("device_code")
        if not device_code:
            raise OAuthFailure("invalid_request", "device_code is missing")
        return services.enrollments.poll(device_code, jkt=proof.jkt, now=services.clock())
    if grant_type == REFRESH_TOKEN_GRANT:
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise OAuthFailure("invalid_request", "refresh_token is missing")
        return services.sessions.refresh(refresh_token, jkt=proof.jkt, now=services.clock())
    raise OAuthFailure(
        "unsupported_grant_type",
        f"grant_type must be {DEVICE_CODE_GRANT} or {REFRESH_TOKEN_GRANT}",
    )


STATE_ANSWERS: dict[int | str, dict[str, Any]] = {
    204: {"description": "No change after the delta cursor (after waiting `wait` s)"},
    410: {"description": "Unknown, malformed or expired cursor: ask again without one"},
    **DEVICE_AUTH_ERRORS,
}


@router.get(
    "/state",
    response_model=StatePage,
    responses=STATE_ANSWERS,
    summary="A page of the changes since `cursor`, or of a full listing without one",
)
async def get_state(
    device: Device,
    services: ServicesDep,
    cursor: Annotated[str | None, Query(description="The last page's cursor")] = None,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_S)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_CHANGES)] = DEFAULT_PAGE_CHANGES,
) -> Response:
    """With `wait` and no change after a delta cursor, hold until one comes (long-poll).

    Only a change that concerns this device wakes the request; the page is read in a
    worker thread each time.
    """
    if not wait:
        return await _state_answer(device, services, cursor, limit, wait)
    # A device holding a long-poll is online (`cloud.presence`), however long ago it asked.
    with services.presence.holding(device.tenant_id, device.device_id):
        return await _state_answer(device, services, cursor, limit, wait)


async def _state_answer(
    device: AuthenticatedDevice, services: Services, cursor: str | None, limit: int, wait: int
) -> Response:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        # Watch before reading (in a thread): a change committed in between still wakes us.
        watch = services.changes.watch(device.tenant_id, device.device_id)
        try:
            body = await run_in_threadpool(
                services.state.page,
                tenant_id=device.tenant_id,
                device_id=device.device_id,
                cursor=cursor,
                limit=limit,
            )
        except NotFound:
            raise removed_device() from None  # e.g. the change that ended the wait
        if body is not None:
            return Response(body, media_type="application/json")
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0 or not await services.changes.wait(watch, remaining):
            return Response(status_code=204)


@router.get(
    "/blobs/{sha256}",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/*": {}, "image/*": {}}, "description": "The bytes"},
        206: {"description": "Part of the bytes (Range request)"},
        404: {"description": "No asset with that sha256 in the device's tenant"},
        **DEVICE_AUTH_ERRORS,
    },
    summary="The bytes of an asset, by sha256; supports Range and If-Range",
)
def get_blob(
    device: Device,
    services: ServicesDep,
    sha256: Annotated[str, PathParam(pattern=SHA256_PATTERN)],
) -> FileResponse:
    sha256, content_type = services.content.blob_of_tenant(
        tenant_id=device.tenant_id, sha256=sha256
    )
    blobs = services.blobs
    if not blobs.has(sha256):
        log.error("blob %s of an asset is missing from %s: re-upload the asset", sha256, blobs.root)
        raise NotFound(f"the bytes of {sha256} are missing on the server")
    return FileResponse(
        blobs.path_for(sha256),
        media_type=content_type,
        headers={
            "ETag": f'"{sha256}"',
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )


# --- reports --------------------------------------------------------------------------------

EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": f"At most {MAX_EVENTS_PER_BATCH} events and {MAX_EVENTS_BATCH_BYTES} "
        "bytes; each event is a `ReportEvent` of sync/models.py (PlayEvent, Heartbeat, "
        "CommandResult or EventsDropped, by `type`), checked on its own",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "maxItems": MAX_EVENTS_PER_BATCH,
                            "items": {"type": "object"},
                        }
                    },
                }
            }
        },
    }
}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@router.post(
    "/events",
    response_model=EventsReceipt,
    responses={
        400: {"description": "The body is not JSON, or has no list of events"},
        413: {"description": f"More than {MAX_EVENTS_PER_BATCH} events, or a larger body"},
        415: {"description": "Not application/json"},
        429: {"description": "Too many batches from this device; see Retry-After"},
        **DEVICE_AUTH_ERRORS,
    },
    openapi_extra=EVENTS_BODY,
    summary="Report a batch of events; each is stored, a duplicate, or refused with a reason",
)
async def post_events(request: Request, device: Device, services: ServicesDep) -> EventsReceipt:
    if _media_type(request) != "application/json":
        raise UnsupportedMediaType('send the batch as application/json: {"events": [...]}')
    services.guard.allow_events(device.tenant_id, device.device_id)
    events = batch_events(await request.body())  # at most MAX_EVENTS_BATCH_BYTES: cloud.limits
    receipt: EventsReceipt = await run_in_threadpool(
        services.events.store,
        tenant_id=device.tenant_id,
        device_id=device.device_id,
        events=events,
    )
    return receipt


@router.put(
    "/commands/{command_id}/attachment",
    response_model=AttachmentStored,
    responses={
        404: {"description": "No such command was sent to this device"},
        409: {"description": "The command is neither a screenshot nor logs"},
        413: {"description": f"More than {MAX_ATTACHMENT_BYTES} bytes"},
        415: {"description": "Not image/png (a screenshot) or text/plain (logs)"},
        422: {"description": "Empty, or labelled image/png but not a PNG"},
        429: {"description": "Too many attachments from this device; see Retry-After"},
        **DEVICE_AUTH_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in sorted(set(ATTACHMENT_TYPE.values()))
            },
        }
    },
    summary="Upload what a command produced (a screenshot, log lines) before its result",
)
async def put_attachment(
    request: Request,
    device: Device,
    services: ServicesDep,
    command_id: Annotated[str, PathParam(min_length=1, max_length=MAX_ID_CHARS)],
) -> AttachmentStored:
    content_type = _media_type(request)
    if content_type not in ATTACHMENT_TYPE.values():
        raise UnsupportedMediaType(
            "an attachment is image/png (a screenshot) or text/plain (log lines)"
        )
    services.guard.allow_attachment(device.tenant_id, device.device_id)
    data = await request.body()  # at most MAX_ATTACHMENT_BYTES: cloud.limits
    stored: AttachmentStored = await run_in_threadpool(
        services.commands.attach,
        tenant_id=device.tenant_id,
        device_id=device.device_id,
        command_id=command_id,
        content_type=content_type,
        data=data,
    )
    return stored


__all__ = ["AuthenticatedDevice", "authenticated_device", "read_form", "router"]
