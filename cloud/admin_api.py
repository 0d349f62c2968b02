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

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from cloud.access import Caller, client_address
from cloud.admin_models import (
    DEFAULT_COMMAND_PAGE,
    DEFAULT_REPORT_PAGE,
    MAX_COMMAND_PAGE,
    MAX_REPORT_PAGE,
    AssetCreated,
    AssetSummary,
    CommandCancelled,
    CommandDetail,
    CommandListing,
    DeviceDetail,
    DeviceListing,
    DeviceSettings,
    GroupMembers,
    GroupSummary,
    InterruptSummary,
    NewCommand,
    NewGroup,
    NewInterrupt,
    NewPlaylist,
    NewScheduleEntry,
    NewStream,
    PlaylistItems,
    PlayReport,
    PlaySummary,
    ScheduleEntrySummary,
)
from cloud.content import classify_media
from cloud.errors import Unprocessable
from cloud.playing import device_detail
from cloud.reports import parse_when
from cloud.services import ServicesDep
from sync.models import (
    ADMIN_PREFIX,
    MAX_CURSOR_CHARS,
    MAX_ID_CHARS,
    ApprovedDevice,
    ApproveEnrollment,
    AssignPlaylist,
    DeviceRecord,
    DeviceSummary,
    KeyCreated,
    KeySummary,
    Name,
    NewKey,
    PlaylistCreated,
    PlaylistDetail,
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
    "/assets/streams",
    response_model=AssetCreated,
    responses={422: {"description": "Not an http, https or rtsp URL with a host"}},
    summary="Add a stream (an HTTP(S), HLS or RTSP URL) that devices play for an item's "
    "duration; the cloud never connects to it",
)
def add_stream(body: NewStream, caller: Editor, services: ServicesDep) -> AssetCreated:
    return services.content.add_stream(tenant_id=caller.tenant.id, name=body.name, url=body.url)


@router.post(
    "/playlists",
    response_model=PlaylistCreated,
    responses={
        422: {
            "description": "An asset id is not one of the tenant's, an empty window, or a "
            "stream's item without duration_s"
        }
    },
    summary="Create a playlist of the tenant's assets, played in the order given",
)
def create_playlist(body: NewPlaylist, caller: Editor, services: ServicesDep) -> PlaylistCreated:
    return services.playlists.create(tenant_id=caller.tenant.id, playlist=body)


NO_ASSET = {404: {"description": "No such asset in the tenant"}}
NO_PLAYLIST = {404: {"description": "No such playlist in the tenant"}}
NO_DEVICE = {404: {"description": "No such device in the tenant"}}
NO_GROUP = {404: {"description": "No such group in the tenant"}}


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
    responses={
        **NO_PLAYLIST,
        422: {
            "description": "An asset id is not one of the tenant's, or a stream's item "
            "without duration_s"
        },
    },
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
    responses={
        **NO_PLAYLIST,
        409: {
            "description": "A device or a group has it as its default, or a schedule entry "
            "or an interrupt plays it"
        },
    },
    summary="Delete a playlist that nothing refers to",
)
def delete_playlist(playlist_id: str, caller: Editor, services: ServicesDep) -> PlaylistSummary:
    return services.playlists.delete(tenant_id=caller.tenant.id, playlist_id=playlist_id)


@router.put(
    "/devices/{device_id}/playlist",
    response_model=DeviceSummary,
    responses={404: {"description": "No such device or playlist in the tenant"}},
    summary="Make a playlist the device's default (null: none)",
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
    response_model=list[DeviceListing],
    summary="The tenant's devices, oldest first: online or not, what they say they play",
)
def list_devices(caller: Viewer, services: ServicesDep) -> list[DeviceListing]:
    return services.statuses.listing(caller.tenant.id)


@router.get(
    "/devices/{device_id}",
    response_model=DeviceDetail,
    responses=NO_DEVICE,
    summary="A device, its latest status, what it should be playing now and why, and next",
)
def show_device(device_id: str, caller: Viewer, services: ServicesDep) -> DeviceDetail:
    detail = device_detail(
        services.db,
        services.views,
        tenant_id=caller.tenant.id,
        device_id=device_id,
        now=datetime.fromtimestamp(services.clock(), UTC),
    )
    return services.statuses.detailed(caller.tenant.id, detail)


@router.patch(
    "/devices/{device_id}/settings",
    response_model=DeviceRecord,
    responses=NO_DEVICE,
    summary=(
        "Set a device's time zone, what a switch does to the item on screen, how its screen "
        "is turned, or its volume"
    ),
)
def set_device_settings(
    device_id: str, body: DeviceSettings, caller: Editor, services: ServicesDep
) -> DeviceRecord:
    return services.devices.set_settings(
        tenant_id=caller.tenant.id, device_id=device_id, settings=body
    )


# --- groups ---------------------------------------------------------------------------------


@router.post(
    "/groups",
    response_model=GroupSummary,
    responses={422: {"description": "The tenant has as many groups as it may"}},
    summary="Create a group of devices (empty)",
)
def create_group(body: NewGroup, caller: Editor, services: ServicesDep) -> GroupSummary:
    return services.groups.create(tenant_id=caller.tenant.id, name=body.name)


@router.get(
    "/groups",
    response_model=list[GroupSummary],
    summary="The tenant's groups, oldest first, with their default playlist and device count",
)
def list_groups(caller: Viewer, services: ServicesDep) -> list[GroupSummary]:
    return services.groups.list(caller.tenant.id)


@router.patch(
    "/groups/{group_id}/devices",
    response_model=GroupSummary,
    responses={
        404: {"description": "No such group or device in the tenant"},
        422: {"description": "A device would be in more groups than it may"},
    },
    summary="Add devices to a group and take others out (all or, on a refusal, none)",
)
def change_group_devices(
    group_id: str, body: GroupMembers, caller: Editor, services: ServicesDep
) -> GroupSummary:
    return services.groups.change_members(
        tenant_id=caller.tenant.id, group_id=group_id, add=body.add, remove=body.remove
    )


@router.put(
    "/groups/{group_id}/playlist",
    response_model=GroupSummary,
    responses={404: {"description": "No such group or playlist in the tenant"}},
    summary="Make a playlist the group's default (null: none)",
)
def assign_group_playlist(
    group_id: str, body: AssignPlaylist, caller: Editor, services: ServicesDep
) -> GroupSummary:
    return services.groups.assign_playlist(
        tenant_id=caller.tenant.id, group_id=group_id, playlist_id=body.playlist_id
    )


@router.delete(
    "/groups/{group_id}",
    response_model=GroupSummary,
    responses=NO_GROUP,
    summary="Delete a group with its memberships, schedule entries and interrupt",
)
def delete_group(group_id: str, caller: Editor, services: ServicesDep) -> GroupSummary:
    return services.groups.delete(tenant_id=caller.tenant.id, group_id=group_id)


# --- schedules ------------------------------------------------------------------------------


@router.post(
    "/schedules",
    response_model=ScheduleEntrySummary,
    responses={
        404: {"description": "No such device, group or playlist in the tenant"},
        422: {"description": "Not a valid entry, or the tenant has as many as it may"},
    },
    summary="Add a schedule entry to a device or a group",
)
def add_schedule_entry(
    body: NewScheduleEntry, caller: Editor, services: ServicesDep
) -> ScheduleEntrySummary:
    return services.schedules.add(tenant_id=caller.tenant.id, entry=body)


@router.get(
    "/schedules",
    response_model=list[ScheduleEntrySummary],
    responses={404: {"description": "No such device or group in the tenant"}},
    summary="The tenant's schedule entries, oldest first; those of one device or group if given",
)
def list_schedule_entries(
    caller: Viewer,
    services: ServicesDep,
    device_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    group_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
) -> list[ScheduleEntrySummary]:
    if device_id is not None and group_id is not None:
        raise Unprocessable("give device_id or group_id, not both")
    return services.schedules.list(
        tenant_id=caller.tenant.id, device_id=device_id, group_id=group_id
    )


@router.delete(
    "/schedules/{entry_id}",
    response_model=ScheduleEntrySummary,
    responses={404: {"description": "No such schedule entry in the tenant"}},
    summary="Delete a schedule entry",
)
def delete_schedule_entry(
    entry_id: str, caller: Editor, services: ServicesDep
) -> ScheduleEntrySummary:
    return services.schedules.delete(tenant_id=caller.tenant.id, entry_id=entry_id)


# --- interrupts -----------------------------------------------------------------------------

INTERRUPT_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such device, group or playlist in the tenant"},
    422: {"description": "`until` is not in the future"},
}


@router.put(
    "/devices/{device_id}/interrupt",
    response_model=InterruptSummary,
    responses=INTERRUPT_REFUSALS,
    summary="Interrupt a device from now on with a playlist (replaces its interrupt)",
)
def interrupt_device(
    device_id: str, body: NewInterrupt, caller: Editor, services: ServicesDep
) -> InterruptSummary:
    return services.interrupts.set(tenant_id=caller.tenant.id, interrupt=body, device_id=device_id)


@router.delete(
    "/devices/{device_id}/interrupt",
    response_model=InterruptSummary,
    responses={404: {"description": "No such device in the tenant, or it has no interrupt"}},
    summary="Clear a device's interrupt",
)
def clear_device_interrupt(
    device_id: str, caller: Editor, services: ServicesDep
) -> InterruptSummary:
    return services.interrupts.clear(tenant_id=caller.tenant.id, device_id=device_id)


@router.put(
    "/groups/{group_id}/interrupt",
    response_model=InterruptSummary,
    responses=INTERRUPT_REFUSALS,
    summary="Interrupt every device of a group from now on (replaces the group's interrupt)",
)
def interrupt_group(
    group_id: str, body: NewInterrupt, caller: Editor, services: ServicesDep
) -> InterruptSummary:
    return services.interrupts.set(tenant_id=caller.tenant.id, interrupt=body, group_id=group_id)


@router.delete(
    "/groups/{group_id}/interrupt",
    response_model=InterruptSummary,
    responses={404: {"description": "No such group in the tenant, or it has no interrupt"}},
    summary="Clear a group's interrupt",
)
def clear_group_interrupt(group_id: str, caller: Editor, services: ServicesDep) -> InterruptSummary:
    return services.interrupts.clear(tenant_id=caller.tenant.id, group_id=group_id)


@router.get(
    "/interrupts",
    response_model=list[InterruptSummary],
    summary="The tenant's interrupts that have not expired, oldest first",
)
def list_interrupts(caller: Viewer, services: ServicesDep) -> list[InterruptSummary]:
    return services.interrupts.list(caller.tenant.id)


# --- commands -------------------------------------------------------------------------------

# The longest `GET /commands/{id}?wait=N` holds: as long as a device's long-poll.
MAX_COMMAND_WAIT_S = 60


@router.post(
    "/commands",
    response_model=CommandDetail,
    responses={
        404: {"description": "No such device or group in the tenant"},
        422: {"description": "An unknown kind, wrong arguments, or a group without devices"},
    },
    summary="Send a command to a device or to a group's members; it reaches them at once",
)
def send_command(body: NewCommand, caller: Editor, services: ServicesDep) -> CommandDetail:
    return services.commands.send(
        tenant_id=caller.tenant.id, command=body, notice_s=services.settings.command_notice_s
    )


@router.get(
    "/commands",
    response_model=CommandListing,
    responses={
        404: {"description": "No such device in the tenant"},
        422: {"description": "Both device_id and group_id, or a cursor of something else"},
    },
    summary="The tenant's commands, newest first, in pages (`after=next`), with answers counted",
)
def list_commands(
    caller: Viewer,
    services: ServicesDep,
    device_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    group_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_COMMAND_PAGE)] = DEFAULT_COMMAND_PAGE,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> CommandListing:
    return services.commands.list(
        tenant_id=caller.tenant.id, device_id=device_id, group_id=group_id, limit=limit, after=after
    )


@router.post(
    "/commands/{command_id}/cancel",
    response_model=CommandCancelled,
    responses={404: {"description": "No such command in the tenant"}},
    summary="Cancel a command for the devices that have not started it; idempotent",
)
def cancel_command(
    command_id: Annotated[str, Path(max_length=MAX_ID_CHARS)],
    caller: Editor,
    services: ServicesDep,
) -> CommandCancelled:
    return services.commands.cancel(tenant_id=caller.tenant.id, command_id=command_id)


@router.get(
    "/commands/{command_id}",
    response_model=CommandDetail,
    responses={404: {"description": "No such command in the tenant"}},
    summary="A command and each device's answer; with wait, hold until all answered for good",
)
async def show_command(
    command_id: str,
    caller: Viewer,
    services: ServicesDep,
    wait: Annotated[int, Query(ge=0, le=MAX_COMMAND_WAIT_S)] = 0,
) -> CommandDetail:
    """With `wait`, held until every device answered for good or the command expired (or
    `wait` seconds pass); each change of its results wakes it (`cloud.changes`)."""
    tenant_id = caller.tenant.id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait

    async def read() -> CommandDetail:
        detail: CommandDetail = await run_in_threadpool(
            services.commands.show, tenant_id=tenant_id, command_id=command_id
        )
        return detail

    detail = await read()
    while not detail.settled and deadline > loop.time() and not services.changes.closed:
        # Watch, then read again (as /state does): a result committed in between still
        # wakes us. Only an unsettled command is watched, and its expiry wakes the watch at
        # the latest, so no watch outlives its command.
        watch = services.changes.watch(tenant_id, command_id)
        detail = await read()
        remaining = deadline - loop.time()
        if detail.settled or remaining <= 0:
            break
        until_expiry = detail.expires_at.timestamp() - services.clock() + 0.05
        await services.changes.wait(watch, max(0.0, min(remaining, until_expiry)))
        detail = await read()
    return detail


@router.get(
    "/commands/{command_id}/devices/{device_id}/attachment",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "text/plain": {}}, "description": "The bytes"},
        404: {"description": "No such command, or the device uploaded nothing for it"},
    },
    summary="What a device uploaded for a command: a screenshot (PNG) or log lines",
)
def command_attachment(
    command_id: str, device_id: str, caller: Viewer, services: ServicesDep
) -> Response:
    content_type, data = services.commands.attachment(
        tenant_id=caller.tenant.id, command_id=command_id, device_id=device_id
    )
    media_type = "text/plain; charset=utf-8" if content_type == "text/plain" else content_type
    return Response(
        data,
        media_type=media_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


# --- reports --------------------------------------------------------------------------------

IdFilter = Annotated[str | None, Query(max_length=MAX_ID_CHARS)]
Since = Annotated[
    str,
    Query(max_length=40, description="ISO date-time with an offset, or a date (UTC midnight)"),
]
Until = Annotated[str | None, Query(max_length=40, description="exclusive; as since")]
REPORT_REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such device or group in the tenant"},
    422: {"description": "A date that is not ISO, an empty window, or both device and group"},
}


@router.get(
    "/reports/plays",
    response_model=PlayReport,
    responses=REPORT_REFUSALS,
    summary="Proof of play: what devices reported, by start time, in pages (`after=next`)",
)
def report_plays(
    caller: Viewer,
    services: ServicesDep,
    since: Since,
    until: Until = None,
    device_id: IdFilter = None,
    group_id: IdFilter = None,
    asset_id: IdFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_REPORT_PAGE)] = DEFAULT_REPORT_PAGE,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
) -> PlayReport:
    return services.reports.plays(
        tenant_id=caller.tenant.id,
        since=parse_when(since, "since"),
        until=None if until is None else parse_when(until, "until"),
        device_id=device_id,
        group_id=group_id,
        asset_id=asset_id,
        limit=limit,
        after=after,
    )


@router.get(
    "/reports/plays/summary",
    response_model=PlaySummary,
    responses=REPORT_REFUSALS,
    summary="Plays and seconds on screen per asset and day (UTC), at most a year at once",
)
def report_plays_summary(
    caller: Viewer,
    services: ServicesDep,
    since: Since,
    until: Until = None,
    device_id: IdFilter = None,
    group_id: IdFilter = None,
    asset_id: IdFilter = None,
) -> PlaySummary:
    return services.reports.summary(
        tenant_id=caller.tenant.id,
        since=parse_when(since, "since"),
        until=None if until is None else parse_when(until, "until"),
        device_id=device_id,
        group_id=group_id,
        asset_id=asset_id,
    )


# --- keys -----------------------------------------------------------------------------------


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
