"""The admin API (`/api/v3/admin`): what a tenant's admin key may do.

Every endpoint resolves the caller's tenant from `Authorization: Bearer <admin key>` first
and passes it to every query, so one tenant can neither see nor touch another's devices,
assets, playlists or blobs: a foreign id answers exactly like an id that does not exist.
The one thing that crosses tenants is an enrollment code, which belongs to no tenant until
an admin approves it (see `cloud.enrollment`).

Endpoints are plain `def`s, so FastAPI runs them, database work included, in its worker
threads and the event loop stays free for every other tenant. The upload is the exception:
it streams its body on the loop and hands the hashing's end and the database to threads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from cloud.content import classify_media
from cloud.errors import Unprocessable
from cloud.services import ServicesDep
from cloud.tenants import Tenant, tenant_for_admin_key
from sync.models import (
    ADMIN_PREFIX,
    ApprovedDevice,
    ApproveEnrollment,
    AssetCreated,
    AssetSummary,
    AssignPlaylist,
    DeviceSummary,
    Name,
    NewPlaylist,
    PlaylistCreated,
    PlaylistDetail,
    PlaylistItems,
    PlaylistSummary,
    Rename,
)

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown admin key"},
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def admin_tenant(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Tenant:
    """The tenant whose admin key the request carries."""
    return tenant_for_admin_key(services.db, authorization)


AdminTenant = Annotated[Tenant, Depends(admin_tenant)]

router = APIRouter(prefix=ADMIN_PREFIX, tags=["admin"], responses=ADMIN_ERRORS)


@router.post(
    "/enrollments/{user_code}/approve",
    response_model=ApprovedDevice,
    responses={
        404: {"description": "No enrollment with that code"},
        409: {"description": "The code was already approved"},
        410: {"description": "The code expired"},
    },
    summary="Approve the code a screen shows; the screen joins the caller's tenant",
)
def approve_enrollment(
    user_code: str, body: ApproveEnrollment, tenant: AdminTenant, services: ServicesDep
) -> ApprovedDevice:
    return services.enrollments.approve(
        tenant_id=tenant.id, typed_code=user_code, name=body.name, now=services.clock()
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
    tenant: AdminTenant,
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
        tenant_id=tenant.id,
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
def create_playlist(
    body: NewPlaylist, tenant: AdminTenant, services: ServicesDep
) -> PlaylistCreated:
    return services.playlists.create(tenant_id=tenant.id, playlist=body)


NO_ASSET = {404: {"description": "No such asset in the tenant"}}
NO_PLAYLIST = {404: {"description": "No such playlist in the tenant"}}


@router.get(
    "/assets",
    response_model=list[AssetSummary],
    summary="The tenant's assets, oldest first, with how many playlists use each",
)
def list_assets(tenant: AdminTenant, services: ServicesDep) -> list[AssetSummary]:
    return services.content.list_assets(tenant.id)


@router.patch(
    "/assets/{asset_id}",
    response_model=AssetSummary,
    responses=NO_ASSET,
    summary="Rename an asset; the devices whose playlist uses it get the new name",
)
def rename_asset(
    asset_id: str, body: Rename, tenant: AdminTenant, services: ServicesDep
) -> AssetSummary:
    return services.content.rename_asset(tenant_id=tenant.id, asset_id=asset_id, name=body.name)


@router.delete(
    "/assets/{asset_id}",
    response_model=AssetSummary,
    responses={**NO_ASSET, 409: {"description": "A playlist uses it (and `force` is not set)"}},
    summary="Delete an asset; with force=true, first take it out of the playlists using it",
)
def delete_asset(
    asset_id: str, tenant: AdminTenant, services: ServicesDep, force: bool = False
) -> AssetSummary:
    return services.content.delete_asset(tenant_id=tenant.id, asset_id=asset_id, force=force)


@router.get(
    "/playlists",
    response_model=list[PlaylistSummary],
    summary="The tenant's playlists, oldest first, with their item and device counts",
)
def list_playlists(tenant: AdminTenant, services: ServicesDep) -> list[PlaylistSummary]:
    return services.playlists.list(tenant.id)


@router.get(
    "/playlists/{playlist_id}",
    response_model=PlaylistDetail,
    responses=NO_PLAYLIST,
    summary="A playlist with its items in play order and the devices that play it",
)
def show_playlist(playlist_id: str, tenant: AdminTenant, services: ServicesDep) -> PlaylistDetail:
    return services.playlists.show(tenant_id=tenant.id, playlist_id=playlist_id)


@router.put(
    "/playlists/{playlist_id}/items",
    response_model=PlaylistSummary,
    responses={**NO_PLAYLIST, 422: {"description": "An asset id is not one of the tenant's"}},
    summary="Replace a playlist's items; its devices get the change",
)
def set_playlist_items(
    playlist_id: str, body: PlaylistItems, tenant: AdminTenant, services: ServicesDep
) -> PlaylistSummary:
    return services.playlists.set_items(
        tenant_id=tenant.id, playlist_id=playlist_id, items=body.items
    )


@router.patch(
    "/playlists/{playlist_id}",
    response_model=PlaylistSummary,
    responses=NO_PLAYLIST,
    summary="Rename a playlist",
)
def rename_playlist(
    playlist_id: str, body: Rename, tenant: AdminTenant, services: ServicesDep
) -> PlaylistSummary:
    return services.playlists.rename(tenant_id=tenant.id, playlist_id=playlist_id, name=body.name)


@router.delete(
    "/playlists/{playlist_id}",
    response_model=PlaylistSummary,
    responses={**NO_PLAYLIST, 409: {"description": "A device is assigned the playlist"}},
    summary="Delete a playlist that no device plays",
)
def delete_playlist(
    playlist_id: str, tenant: AdminTenant, services: ServicesDep
) -> PlaylistSummary:
    return services.playlists.delete(tenant_id=tenant.id, playlist_id=playlist_id)


@router.put(
    "/devices/{device_id}/playlist",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device or playlist in the tenant"}},
    summary="Make a device play a playlist (null: nothing)",
)
def assign_playlist(
    device_id: str, body: AssignPlaylist, tenant: AdminTenant, services: ServicesDep
) -> DeviceSummary:
    return services.devices.assign_playlist(
        tenant_id=tenant.id, device_id=device_id, playlist_id=body.playlist_id
    )


@router.patch(
    "/devices/{device_id}",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device in the tenant"}},
    summary="Rename a device; it gets its record anew",
)
def rename_device(
    device_id: str, body: Rename, tenant: AdminTenant, services: ServicesDep
) -> DeviceSummary:
    return services.devices.rename(tenant_id=tenant.id, device_id=device_id, name=body.name)


@router.delete(
    "/devices/{device_id}",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device in the tenant"}},
    summary="Remove a device: its tokens stop working and it deletes the tenant's content",
)
def remove_device(device_id: str, tenant: AdminTenant, services: ServicesDep) -> DeviceSummary:
    return services.devices.remove(tenant_id=tenant.id, device_id=device_id)


@router.get(
    "/devices",
    response_model=list[DeviceSummary],
    summary="The tenant's devices, oldest first",
)
def list_devices(tenant: AdminTenant, services: ServicesDep) -> list[DeviceSummary]:
    return services.devices.list(tenant.id)


__all__ = ["AdminTenant", "admin_tenant", "router"]
