"""The admin API (`/api/v3/admin`): what a tenant's keys may do, by role.

Every endpoint declares the role it needs with one dependency (`Admin`, `Editor`,
`Installer`, `Viewer`: `Depends(require(Role.…))`), which resolves the caller's tenant and
key from `Authorization: Bearer <key>` (with the lockout of `cloud.access`) and answers
403 naming the role needed when the key's role does not grant it; the tenant is passed to
every query, so one tenant can neither see nor touch another's devices,
assets, playlists or blobs: a foreign id answers exactly like an id that does not exist.
The one thing that crosses tenants is an enrollment code, which belongs to no tenant until
an admin approves it (see `cloud.enrollment`).

Endpoints are plain `def`s, so FastAPI runs them, database work included, in its worker
threads and the event loop stays free for every other tenant. The upload is the exception:
it streams its body on the loop and hands the hashing's end and the database to threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from cloud.access import Caller, client_address
from cloud.content import classify_media
from cloud.errors import Unprocessable
from cloud.services import ServicesDep
from sync.models import (
    ADMIN_PREFIX,
    ApprovedDevice,
    ApproveEnrollment,
    AssetCreated,
    AssetSummary,
    AssignPlaylist,
    DeviceSummary,
    KeyCreated,
    KeySummary,
    Name,
    NewKey,
    NewPlaylist,
    PlaylistCreated,
    PlaylistDetail,
    PlaylistItems,
    PlaylistSummary,
    Rename,
    Role,
)

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked key"},
    403: {"description": "The key's role may not make this call; `detail` names the role"},
    429: {"description": "Locked after failed attempts from this address; see Retry-After"},
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def require(role: Role) -> Callable[..., Caller]:
    """The dependency of a route that needs `role`: the caller, if its key's role grants it."""

    def caller_with_role(
        request: Request,
        services: ServicesDep,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Caller:
        caller = services.guard.authenticate(authorization, address=client_address(request))
        services.guard.check_role(caller, role)
        return caller

    caller_with_role.required_role = role  # type: ignore[attr-defined]
    return caller_with_role


Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Editor = Annotated[Caller, Depends(require(Role.EDITOR))]
Installer = Annotated[Caller, Depends(require(Role.INSTALLER))]
Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]


def required_role(route: APIRoute) -> Role | None:
    """The role a route declared with one of the dependencies above (None: none)."""
    roles = [
        dependency.call.required_role
        for dependency in route.dependant.dependencies
        if hasattr(dependency.call, "required_role")
    ]
    return roles[0] if len(roles) == 1 else None


router = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"], responses=ADMIN_ERRORS)


@router.post(
    "/enrollments/{user_code}/approve",
    response_model=ApprovedDevice,
    responses={
        404: {"description": "No enrollment with that code"},
        409: {"description": "The code was already approved"},
        410: {"description": "The code expired"},
        429: {"description": "Too many failed approvals by this key or address; Retry-After"},
    },
    summary="Approve the code a screen shows; the screen joins the caller's tenant",
)
def approve_enrollment(
    user_code: str, body: ApproveEnrollment, caller: Installer, services: ServicesDep
) -> ApprovedDevice:
    return services.guard.approve(
        caller,
        enrollments=services.enrollments,
        typed_code=user_code,
        name=body.name,
        now=services.clock(),
    )


@router.post(
    "/assets",
    response_model=AssetCreated,
    responses={415: {"description": "Neither a video nor an image"}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"video/*": BINARY, "image/*": BINARY}}
    },
    summary="Upload a file (raw bytes as the body); the media type comes from Content-Type",
)
async def add_asset(
    request: Request,
    caller: Editor,
    services: ServicesDep,
    name: Annotated[Name, Query(min_length=1)],
) -> AssetCreated:
    media_type, content_type = classify_media(request.headers.get("content-type"), name)
    writer = services.blobs.writer()
    try:
        # Chunks are written inline: each is small and a local write is short. A production
        # backend would stream to object storage instead. cloud.limits cuts off a body
        # above SIGNAGE_CLOUD_MAX_UPLOAD_BYTES while it streams.
        async for chunk in request.stream():
            writer.write(chunk)
        if writer.size == 0:
            raise Unprocessable("the upload is empty: send the file's bytes as the body")
        blob = await run_in_threadpool(writer.commit)  # fsync: can take a while
    except BaseException:
        writer.abort()
        raise
    return await run_in_threadpool(
        services.content.add_asset,
        tenant_id=caller.tenant.id,
        name=name,
        blob=blob,
        media_type=media_type,
        content_type=content_type,
    )


@router.post(
    "/playlists",
    response_model=PlaylistCreated,
    responses={422: {"description": "An asset id is not one of the tenant's"}},
    summary="Create a playlist of the tenant's assets, played in the order given",
)
def create_playlist(body: NewPlaylist, caller: Editor, services: ServicesDep) -> PlaylistCreated:
    return services.playlists.create(tenant_id=caller.tenant.id, playlist=body)


NO_ASSET = {404: {"description": "No such asset in the tenant"}}
NO_PLAYLIST = {404: {"description": "No such playlist in the tenant"}}


@router.get(
    "/assets",
    response_model=list[AssetSummary],
    summary="The tenant's assets, oldest first, with how many playlists use each",
)
def list_assets(caller: Viewer, services: ServicesDep) -> list[AssetSummary]:
    return services.content.list_assets(caller.tenant.id)


@router.patch(
    "/assets/{asset_id}",
    response_model=AssetSummary,
    responses=NO_ASSET,
    summary="Rename an asset; the devices whose playlist uses it get the new name",
)
def rename_asset(
    asset_id: str, body: Rename, caller: Editor, services: ServicesDep
) -> AssetSummary:
    return services.content.rename_asset(
        tenant_id=caller.tenant.id, asset_id=asset_id, name=body.name
    )


@router.delete(
    "/assets/{asset_id}",
    response_model=AssetSummary,
    responses={**NO_ASSET, 409: {"description": "A playlist uses it (and `force` is not set)"}},
    summary="Delete an asset; with force=true, first take it out of the playlists using it",
)
def delete_asset(
    asset_id: str, caller: Editor, services: ServicesDep, force: bool = False
) -> AssetSummary:
    return services.content.delete_asset(tenant_id=caller.tenant.id, asset_id=asset_id, force=force)


@router.get(
    "/playlists",
    response_model=list[PlaylistSummary],
    summary="The tenant's playlists, oldest first, with their item and device counts",
)
def list_playlists(caller: Viewer, services: ServicesDep) -> list[PlaylistSummary]:
    return services.playlists.list(caller.tenant.id)


@router.get(
    "/playlists/{playlist_id}",
    response_model=PlaylistDetail,
    responses=NO_PLAYLIST,
    summary="A playlist with its items in play order and the devices that play it",
)
def show_playlist(playlist_id: str, caller: Viewer, services: ServicesDep) -> PlaylistDetail:
    return services.playlists.show(tenant_id=caller.tenant.id, playlist_id=playlist_id)


@router.put(
    "/playlists/{playlist_id}/items",
    response_model=PlaylistSummary,
    responses={**NO_PLAYLIST, 422: {"description": "An asset id is not one of the tenant's"}},
    summary="Replace a playlist's items; its devices get the change",
)
def set_playlist_items(
    playlist_id: str, body: PlaylistItems, caller: Editor, services: ServicesDep
) -> PlaylistSummary:
    return services.playlists.set_items(
        tenant_id=caller.tenant.id, playlist_id=playlist_id, items=body.items
    )


@router.patch(
    "/playlists/{playlist_id}",
    response_model=PlaylistSummary,
    responses=NO_PLAYLIST,
    summary="Rename a playlist",
)
def rename_playlist(
    playlist_id: str, body: Rename, caller: Editor, services: ServicesDep
) -> PlaylistSummary:
    return services.playlists.rename(
        tenant_id=caller.tenant.id, playlist_id=playlist_id, name=body.name
    )


@router.delete(
    "/playlists/{playlist_id}",
    response_model=PlaylistSummary,
    responses={**NO_PLAYLIST, 409: {"description": "A device is assigned the playlist"}},
    summary="Delete a playlist that no device plays",
)
def delete_playlist(playlist_id: str, caller: Editor, services: ServicesDep) -> PlaylistSummary:
    return services.playlists.delete(tenant_id=caller.tenant.id, playlist_id=playlist_id)


@router.put(
    "/devices/{device_id}/playlist",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device or playlist in the tenant"}},
    summary="Make a device play a playlist (null: nothing)",
)
def assign_playlist(
    device_id: str, body: AssignPlaylist, caller: Editor, services: ServicesDep
) -> DeviceSummary:
    return services.devices.assign_playlist(
        tenant_id=caller.tenant.id, device_id=device_id, playlist_id=body.playlist_id
    )


@router.patch(
    "/devices/{device_id}",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device in the tenant"}},
    summary="Rename a device; it gets its record anew",
)
def rename_device(
    device_id: str, body: Rename, caller: Editor, services: ServicesDep
) -> DeviceSummary:
    return services.devices.rename(tenant_id=caller.tenant.id, device_id=device_id, name=body.name)


@router.delete(
    "/devices/{device_id}",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device in the tenant"}},
    summary="Remove a device: its tokens stop working and it deletes the tenant's content",
)
def remove_device(device_id: str, caller: Admin, services: ServicesDep) -> DeviceSummary:
    return services.devices.remove(tenant_id=caller.tenant.id, device_id=device_id)


@router.get(
    "/devices",
    response_model=list[DeviceSummary],
    summary="The tenant's devices, oldest first",
)
def list_devices(caller: Viewer, services: ServicesDep) -> list[DeviceSummary]:
    return services.devices.list(caller.tenant.id)


@router.post(
    "/keys",
    response_model=KeyCreated,
    summary="Create a key with one role; the answer is the only time the key is shown",
)
def create_key(body: NewKey, caller: Admin, services: ServicesDep) -> KeyCreated:
    return services.keys.create(tenant_id=caller.tenant.id, role=body.role, name=body.name)


@router.get(
    "/keys",
    response_model=list[KeySummary],
    summary="The tenant's keys, oldest first, revoked ones included (never the keys themselves)",
)
def list_keys(caller: Admin, services: ServicesDep) -> list[KeySummary]:
    return services.keys.list(caller.tenant.id)


@router.delete(
    "/keys/{key_id}",
    response_model=KeySummary,
    responses={
        404: {"description": "No such key in the tenant"},
        409: {"description": "The tenant's last admin key"},
    },
    summary="Revoke a key: it stops working at once",
)
def revoke_key(key_id: str, caller: Admin, services: ServicesDep) -> KeySummary:
    return services.keys.revoke(tenant_id=caller.tenant.id, key_id=key_id)


__all__ = ["Admin", "Editor", "Installer", "Viewer", "require", "required_role", "router"]
