"""`signage-cloud`: run the reference cloud and administer it from a shell.

    signage-cloud serve [--host H] [--port P] [--public-url URL] [--data DIR]
    signage-cloud tenant create NAME [--data DIR]       prints only the admin key
    signage-cloud enroll approve CODE --name NAME        prints the device id
    signage-cloud asset add FILE [--name NAME]           prints the asset id
    signage-cloud asset add-stream URL --name NAME       prints the asset id
    signage-cloud asset list [--json]
    signage-cloud asset rename ASSET_ID NAME
    signage-cloud asset delete ASSET_ID [--force]
    signage-cloud playlist create NAME --item ASSET_ID[:SECONDS][@FROM..TO] ...
                                                         prints the playlist id
    signage-cloud playlist list [--json]
    signage-cloud playlist show PLAYLIST_ID [--json]
    signage-cloud playlist set PLAYLIST_ID --item ASSET_ID[:SECONDS][@FROM..TO] ...
    signage-cloud playlist rename PLAYLIST_ID NAME
    signage-cloud playlist delete PLAYLIST_ID
    signage-cloud device assign DEVICE_ID --playlist PLAYLIST_ID | --none
    signage-cloud device set DEVICE_ID [--tz IANA_NAME] [--on-switch cut|finish]
    signage-cloud device show DEVICE_ID [--json]
    signage-cloud device screenshot DEVICE_ID --out FILE [--wait SECONDS]
    signage-cloud device rename DEVICE_ID NAME
    signage-cloud device remove DEVICE_ID
    signage-cloud devices [--json]
    signage-cloud group create NAME                      prints the group id
    signage-cloud group add|remove GROUP_ID DEVICE_ID ...
    signage-cloud group assign GROUP_ID --playlist PLAYLIST_ID | --none
    signage-cloud group list [--json]
    signage-cloud group delete GROUP_ID
    signage-cloud schedule add (--device ID | --group ID) --playlist PLAYLIST_ID [--days mon,...]
        [--from HH:MM --to HH:MM] [--start-date DATE] [--end-date DATE] [--priority N]
        [--tz IANA_NAME] [--on-switch cut|finish]        prints the entry id
    signage-cloud schedule list [--device ID | --group ID] [--json]
    signage-cloud schedule delete ENTRY_ID
    signage-cloud interrupt (--device ID | --group ID) --playlist PLAYLIST_ID
        [--until ISO8601 | --for SECONDS]                prints the interrupt id
    signage-cloud interrupt clear (--device ID | --group ID)
    signage-cloud interrupt list [--json]
    signage-cloud command send (--device ID | --group ID) KIND [ARGS] [--expires-in SECONDS]
                                                         prints the command id
    signage-cloud command show COMMAND_ID [--wait SECONDS] [--json]
    signage-cloud command list [--device ID | --group ID] [--limit N] [--json]
    signage-cloud command cancel COMMAND_ID
    signage-cloud command logs COMMAND_ID [--device DEVICE_ID]
    signage-cloud report plays|summary [--device ID | --group ID] [--asset ID] --since ISO
        [--until ISO] [--csv | --json]
    signage-cloud key create --role admin|editor|installer|viewer [--name NAME]
                                                         prints the key last, alone on its line
    signage-cloud key list [--json]
    signage-cloud key revoke KEY_ID

`serve` and `tenant create` work on the data dir (`--data`, else $SIGNAGE_CLOUD_DATA, else
./signage-cloud-data). The other commands talk to a running cloud: `--url` (else
$SIGNAGE_ADMIN_URL, else http://127.0.0.1:8080) with `--key` (else $SIGNAGE_ADMIN_KEY).

Output meant for scripts goes to stdout, everything else to stderr. An expected failure
is one line on stderr and exit status 1; a usage mistake exits with 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cloud.admin_client import DEFAULT_URL, SCREEN_SETTING, AdminClient
from cloud.admin_models import (
    AssetSummary,
    DeviceDetail,
    DeviceListing,
    GroupSummary,
    InterruptSummary,
    NewPlaylistItem,
    Playing,
    ReportedStatus,
    ScheduleEntrySummary,
)
from cloud.errors import CloudError
from cloud.remote_cli import (
    add_command_commands,
    add_report_commands,
    add_screenshot_command,
    check_usage,
    command_command,
    report_command,
    screenshot,
)
from cloud.settings import DEFAULT_HOST, DEFAULT_PORT, MAX_PORT, Settings, default_data_dir
from sync.models import (
    MAX_DURATION_MS,
    MAX_VOLUME,
    ROTATIONS,
    WEEKDAYS,
    KeySummary,
    PlaylistDetail,
    PlaylistSummary,
    Role,
)

PROG = "signage-cloud"
MAX_ITEM_SECONDS = MAX_DURATION_MS / 1000


ITEM_FORM = "ASSET_ID[:SECONDS][@FROM..TO]"


def parse_item(text: str) -> NewPlaylistItem:
    """`ASSET_ID[:SECONDS][@FROM..TO]`, as given to `playlist create --item`.

    FROM and TO are ISO dates or date-times (local to the screen, or with an offset); either
    may be left out: `a1@2026-12-01..2026-12-24`, `a1:10@..2026-12-31T18:00`.
    """
    head, at, window = text.partition("@")
    asset_id, sep, seconds = head.partition(":")
    if not asset_id:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {ITEM_FORM}")
    valid_from = valid_until = None
    if at:
        start, dots, end = window.partition("..")
        if not dots or not (start or end):
            raise argparse.ArgumentTypeError(
                f"{text!r}: after @ comes FROM..TO (ISO dates or date-times, either may be "
                "left out, e.g. @2026-12-01..2026-12-24 or @..2026-12-31T18:00)"
            )
        valid_from, valid_until = start or None, end or None
    duration_s: float | None = None
    if sep:
        try:
            duration_s = float(seconds)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {seconds!r} is not a number of seconds"
            ) from None
        if not math.isfinite(duration_s) or not 0 < duration_s <= MAX_ITEM_SECONDS:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the duration must be more than 0 and at most "
                f"{MAX_ITEM_SECONDS:g} seconds (a day)"
            )
    try:
        return NewPlaylistItem.model_validate(
            {
                "asset_id": asset_id,
                "duration_s": duration_s,
                "valid_from": valid_from,
                "valid_until": valid_until,
            }
        )
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {first_problem(exc)}") from None


def parse_days(text: str) -> list[str]:
    """`mon,tue,...` for `schedule add --days`: day names, each once."""
    days = [day.strip().lower() for day in text.split(",") if day.strip()]
    wrong = [day for day in days if day not in WEEKDAYS]
    if not days or wrong:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected days among {','.join(WEEKDAYS)}, separated by commas"
        )
    return days


def port_number(text: str) -> int:
    """A TCP port for `serve --port`: 1 to 65535, or 0 for one the system picks."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port: use 1 to {MAX_PORT}, or 0 to let the system pick one"
        )
    return port


def first_problem(error: ValidationError) -> str:
    """pydantic's first complaint as one line that names the field: `name: String ...`."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return " ".join(f"{where}: {message}".split()) if where else message


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="The reference signage cloud: serve it, or administer it."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="DIR",
        help="data dir (default: $SIGNAGE_CLOUD_DATA or ./signage-cloud-data)",
    )
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "--url", default=None, help=f"the cloud (default: $SIGNAGE_ADMIN_URL or {DEFAULT_URL})"
    )
    remote.add_argument(
        "--key", default=None, help="a key of the tenant (default: $SIGNAGE_ADMIN_KEY)"
    )

    serve = commands.add_parser("serve", parents=[data], help="run the cloud")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: any free port, named in the ready line)",
    )
    serve.add_argument(
        "--public-url",
        help="the address installers and the QR code open, e.g. https://signage.example.com "
        "(default $SIGNAGE_CLOUD_PUBLIC_URL, else http://HOST:PORT)",
    )

    tenant = commands.add_parser("tenant", help="manage tenants (on the data dir)")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True, metavar="COMMAND")
    tenant_create = tenant_commands.add_parser(
        "create", parents=[data], help="create a tenant; prints its admin key"
    )
    tenant_create.add_argument("name", help="the tenant's name")

    enroll = commands.add_parser("enroll", help="approve a screen's enrollment code")
    enroll_commands = enroll.add_subparsers(dest="enroll_command", required=True, metavar="COMMAND")
    approve = enroll_commands.add_parser(
        "approve", parents=[remote], help="approve a code; prints the device id"
    )
    approve.add_argument("code", help="the code shown on the screen, e.g. KXRT-9MBD")
    approve.add_argument("--name", required=True, help="a name for the screen")

    asset = commands.add_parser("asset", help="manage assets")
    asset_commands = asset.add_subparsers(dest="asset_command", required=True, metavar="COMMAND")
    asset_add = asset_commands.add_parser(
        "add", parents=[remote], help="upload a video or an image; prints the asset id"
    )
    asset_add.add_argument("file", type=Path, help="the file to upload")
    asset_add.add_argument("--name", default=None, help="asset name (default: the file name)")
    asset_add_stream = asset_commands.add_parser(
        "add-stream",
        parents=[remote],
        help="add an HTTP(S), HLS or RTSP stream, played for its item's duration; "
        "prints the asset id",
    )
    asset_add_stream.add_argument(  # not `url`: that is --url, the cloud's
        "stream_url",
        metavar="URL",
        help="where devices play it from: http://, https:// or rtsp://, with a host",
    )
    asset_add_stream.add_argument("--name", required=True, help="the asset's name")
    asset_list = asset_commands.add_parser(
        "list", parents=[remote], help="list the assets and how many playlists use each"
    )
    asset_list.add_argument("--json", action="store_true", help="print a JSON list")
    asset_rename = asset_commands.add_parser(
        "rename", parents=[remote], help="rename an asset (screens showing it get the name)"
    )
    asset_rename.add_argument("asset_id", help="the asset's id (see `signage-cloud asset list`)")
    asset_rename.add_argument("name", help="its new name")
    asset_delete = asset_commands.add_parser(
        "delete", parents=[remote], help="delete an asset no playlist uses"
    )
    asset_delete.add_argument("asset_id", help="the asset's id (see `signage-cloud asset list`)")
    asset_delete.add_argument(
        "--force", action="store_true", help="first take it out of the playlists that use it"
    )

    playlist = commands.add_parser("playlist", help="manage playlists")
    playlist_commands = playlist.add_subparsers(
        dest="playlist_command", required=True, metavar="COMMAND"
    )
    items = argparse.ArgumentParser(add_help=False)
    items.add_argument(
        "--item",
        dest="items",
        action="append",
        type=parse_item,
        required=True,
        metavar=ITEM_FORM,
        help="an item, in play order; SECONDS for images (default 10), videos play to the "
        "end, streams need it; @FROM..TO: the dates or date-times it plays between (either "
        "may be left out)",
    )
    playlist_create = playlist_commands.add_parser(
        "create", parents=[remote, items], help="create a playlist; prints its id"
    )
    playlist_create.add_argument("name", help="the playlist's name")
    playlist_list = playlist_commands.add_parser(
        "list", parents=[remote], help="list the playlists with their item and device counts"
    )
    playlist_list.add_argument("--json", action="store_true", help="print a JSON list")
    playlist_show = playlist_commands.add_parser(
        "show", parents=[remote], help="a playlist's items and the devices that play it"
    )
    playlist_show.add_argument("playlist_id", help="the playlist's id")
    playlist_show.add_argument("--json", action="store_true", help="print JSON")
    playlist_set = playlist_commands.add_parser(
        "set", parents=[remote, items], help="replace a playlist's items"
    )
    playlist_set.add_argument("playlist_id", help="the playlist's id")
    playlist_rename = playlist_commands.add_parser(
        "rename", parents=[remote], help="rename a playlist"
    )
    playlist_rename.add_argument("playlist_id", help="the playlist's id")
    playlist_rename.add_argument("name", help="its new name")
    playlist_delete = playlist_commands.add_parser(
        "delete", parents=[remote], help="delete a playlist no device plays"
    )
    playlist_delete.add_argument("playlist_id", help="the playlist's id")

    device = commands.add_parser("device", help="manage a device")
    device_commands = device.add_subparsers(dest="device_command", required=True, metavar="COMMAND")
    assign = device_commands.add_parser(
        "assign", parents=[remote], help="make a device play a playlist"
    )
    assign.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")
    target = assign.add_mutually_exclusive_group(required=True)
    target.add_argument("--playlist", help="the playlist's id")
    target.add_argument("--none", action="store_true", help="play nothing")
    device_set = device_commands.add_parser(
        "set",
        parents=[remote],
        help="set a device's time zone, how a switch cuts in, how its screen is turned, its volume",
    )
    device_set.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")
    device_set.add_argument(
        "--tz", dest="timezone", metavar="IANA_NAME", help="its time zone, e.g. Europe/Berlin"
    )
    device_set.add_argument(
        "--on-switch",
        choices=ON_SWITCH,
        help="when the schedule switches: cut the item on screen, or let a video finish",
    )
    device_set.add_argument(
        "--rotation",
        type=_rotation,
        choices=[*ROTATIONS, SCREEN_SETTING],
        help="turn the screen clockwise by so many degrees, without a restart "
        "(screen: as the device's own configuration says)",
    )
    device_set.add_argument(
        "--volume",
        type=_volume,
        metavar="0-100|screen",
        help="its audio volume in percent (screen: as the device's own configuration says)",
    )
    device_show = device_commands.add_parser(
        "show", parents=[remote], help="what a device plays now and next, and why"
    )
    device_show.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")
    device_show.add_argument("--json", action="store_true", help="print JSON")
    add_screenshot_command(device_commands, remote)
    rename = device_commands.add_parser("rename", parents=[remote], help="rename a device")
    rename.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")
    rename.add_argument("name", help="its new name")
    remove = device_commands.add_parser(
        "remove", parents=[remote], help="remove a device: it deletes the content, shows a new code"
    )
    remove.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")

    devices = commands.add_parser("devices", parents=[remote], help="list the tenant's devices")
    devices.add_argument("--json", action="store_true", help="print a JSON list")

    _add_group_commands(commands, remote)
    _add_schedule_commands(commands, remote)
    _add_interrupt_commands(commands, remote)
    add_command_commands(commands, remote)
    add_report_commands(commands, remote)

    key = commands.add_parser("key", help="manage the tenant's keys (with an admin key)")
    key_commands = key.add_subparsers(dest="key_command", required=True, metavar="COMMAND")
    key_create = key_commands.add_parser(
        "create", parents=[remote], help="create a key with one role; prints it last"
    )
    key_create.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="admin: everything; editor: content, playlists, screens' playlists; "
        "installer: approve codes only; viewer: read only",
    )
    key_create.add_argument("--name", default="", help="who holds it, e.g. 'Team North'")
    key_list = key_commands.add_parser(
        "list", parents=[remote], help="list the keys (never the keys themselves)"
    )
    key_list.add_argument("--json", action="store_true", help="print a JSON list")
    key_revoke = key_commands.add_parser(
        "revoke", parents=[remote], help="revoke a key: it stops working at once"
    )
    key_revoke.add_argument("key_id", help="the key's id (see `signage-cloud key list`)")
    return parser


ON_SWITCH = ["cut", "finish"]
DEVICE_HELP = "the device's id (see `signage-cloud devices`)"
GROUP_HELP = "the group's id (see `signage-cloud group list`)"


def _target_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--device", metavar="DEVICE_ID", help=DEVICE_HELP)
    target.add_argument("--group", metavar="GROUP_ID", help=GROUP_HELP)


def _add_group_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    group = commands.add_parser("group", help="manage groups of devices")
    group_commands = group.add_subparsers(dest="group_command", required=True, metavar="COMMAND")
    create = group_commands.add_parser(
        "create", parents=[remote], help="create a group; prints its id"
    )
    create.add_argument("name", help="the group's name")
    for name, what in (("add", "add devices to a group"), ("remove", "take devices out")):
        members = group_commands.add_parser(name, parents=[remote], help=what)
        members.add_argument("group_id", help=GROUP_HELP)
        members.add_argument("device_ids", nargs="+", metavar="DEVICE_ID", help=DEVICE_HELP)
    assign = group_commands.add_parser(
        "assign", parents=[remote], help="give a group a default playlist"
    )
    assign.add_argument("group_id", help=GROUP_HELP)
    target = assign.add_mutually_exclusive_group(required=True)
    target.add_argument("--playlist", help="the playlist's id")
    target.add_argument("--none", action="store_true", help="no default playlist")
    listing = group_commands.add_parser(
        "list", parents=[remote], help="list the groups, their device counts and playlists"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    delete = group_commands.add_parser(
        "delete", parents=[remote], help="delete a group, its memberships, entries and interrupt"
    )
    delete.add_argument("group_id", help=GROUP_HELP)


def _add_schedule_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    schedule = commands.add_parser("schedule", help="manage schedule entries")
    schedule_commands = schedule.add_subparsers(
        dest="schedule_command", required=True, metavar="COMMAND"
    )
    add = schedule_commands.add_parser(
        "add", parents=[remote], help="add an entry to a device or a group; prints its id"
    )
    _target_options(add, required=True)
    add.add_argument("--playlist", required=True, help="the playlist's id")
    add.add_argument(
        "--days", type=parse_days, metavar="mon,tue,...", help="the days (default: every day)"
    )
    add.add_argument("--from", dest="from_time", metavar="HH:MM", help="the window's start")
    add.add_argument(
        "--to",
        dest="to_time",
        metavar="HH:MM",
        help="the window's end (at or before --from: it ends the next day)",
    )
    add.add_argument("--start-date", metavar="YYYY-MM-DD", help="the first day")
    add.add_argument("--end-date", metavar="YYYY-MM-DD", help="the last day")
    add.add_argument(
        "--priority", type=int, default=0, help="the highest active entry wins (default 0)"
    )
    add.add_argument(
        "--tz", dest="timezone", metavar="IANA_NAME", help="its time zone (default: the screen's)"
    )
    add.add_argument("--on-switch", choices=ON_SWITCH, help="default: the screen's setting")
    listing = schedule_commands.add_parser(
        "list", parents=[remote], help="list the entries (of one device or group)"
    )
    _target_options(listing, required=False)
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    delete = schedule_commands.add_parser("delete", parents=[remote], help="delete an entry")
    delete.add_argument("entry_id", help="the entry's id (see `signage-cloud schedule list`)")


def _add_interrupt_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    interrupt = commands.add_parser(
        "interrupt",
        parents=[remote],
        help="play a playlist over every schedule of a device or a group, from now on",
        description="With --device or --group and --playlist: interrupt them from now on "
        "(until --until, for --for seconds, or until cleared); prints the interrupt's id.",
    )
    _target_options(interrupt, required=False)
    interrupt.add_argument("--playlist", help="the playlist to play")
    end = interrupt.add_mutually_exclusive_group()
    end.add_argument("--until", metavar="ISO8601", help="when it ends, e.g. 2026-11-25T18:00Z")
    end.add_argument("--for", dest="for_s", type=float, metavar="SECONDS", help="how long it lasts")
    interrupt_commands = interrupt.add_subparsers(
        dest="interrupt_command", required=False, metavar="[clear|list]"
    )
    clear = interrupt_commands.add_parser(
        "clear", parents=[remote], help="end the interrupt of a device or a group"
    )
    _target_options(clear, required=True)
    listing = interrupt_commands.add_parser(
        "list", parents=[remote], help="list the interrupts that have not expired"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")


def _admin_client(parser: argparse.ArgumentParser, args: argparse.Namespace) -> AdminClient:
    url = args.url or os.environ.get("SIGNAGE_ADMIN_URL") or DEFAULT_URL
    key = args.key or os.environ.get("SIGNAGE_ADMIN_KEY")
    if not key:
        parser.error("no admin key: pass --key or set SIGNAGE_ADMIN_KEY")
    return AdminClient(url, key)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first is the header) as aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def format_devices(devices: Sequence[DeviceListing]) -> str:
    """The devices as an aligned table with a header line: online or not, what each says it
    plays (the item, the playlist by name) and its groups by name."""
    rows = [("ID", "NAME", "STATE", "PLAYING", "PLAYLIST", "GROUPS", "LAST SEEN")]
    rows += [
        (
            d.id,
            d.name,
            "online" if d.online else "offline",
            d.playing or "-",
            d.playing_playlist or d.playing_playlist_id or "-",
            ", ".join(d.groups) or "-",
            d.last_seen_at or "never",
        )
        for d in devices
    ]
    return format_table(rows)


def format_assets(assets: Sequence[AssetSummary]) -> str:
    """The assets as an aligned table; a stream's URL last (`-` for a file)."""
    rows = [("ID", "NAME", "TYPE", "BYTES", "PLAYLISTS", "URL")]
    rows += [
        (a.id, a.name, a.media_type, str(a.size), str(a.playlists), a.url or "-") for a in assets
    ]
    return format_table(rows)


def format_playlists(playlists: Sequence[PlaylistSummary]) -> str:
    rows = [("ID", "NAME", "ITEMS", "DEVICES")]
    rows += [(p.id, p.name, str(p.items), str(p.devices)) for p in playlists]
    return format_table(rows)


def format_playlist(playlist: PlaylistDetail) -> str:
    """A playlist's name, its devices and its items in play order."""
    devices = ", ".join(playlist.devices) or "none"
    rows = [("POSITION", "ASSET", "SECONDS")]
    rows += [
        (
            str(item.position),
            item.asset_id,
            "to the end" if item.duration_ms is None else f"{item.duration_ms / 1000:g}",
        )
        for item in playlist.items
    ]
    return f"{playlist.id} {playlist.name}\nplayed by: {devices}\n{format_table(rows)}"


def format_groups(groups: Sequence[GroupSummary]) -> str:
    rows = [("ID", "NAME", "DEVICES", "PLAYLIST")]
    rows += [(g.id, g.name, str(g.devices), g.playlist_id or "-") for g in groups]
    return format_table(rows)


def _target(item: ScheduleEntrySummary | InterruptSummary) -> str:
    return f"device {item.device_id}" if item.device_id else f"group {item.group_id}"


def format_entries(entries: Sequence[ScheduleEntrySummary]) -> str:
    rows = [("ID", "FOR", "PLAYLIST", "DAYS", "HOURS", "DATES", "PRIORITY", "TZ", "ON SWITCH")]
    for entry in entries:
        hours = "all day"
        if entry.from_time is not None and entry.to_time is not None:
            hours = f"{entry.from_time:%H:%M}-{entry.to_time:%H:%M}"
        dates = "always"
        if entry.start_date or entry.end_date:
            dates = f"{entry.start_date or ''}..{entry.end_date or ''}"
        rows.append(
            (
                entry.id,
                _target(entry),
                entry.playlist_id,
                ",".join(entry.days) or "every day",
                hours,
                dates,
                str(entry.priority),
                entry.timezone or "screen's",
                entry.on_switch or "screen's",
            )
        )
    return format_table(rows)


def format_interrupts(interrupts: Sequence[InterruptSummary]) -> str:
    rows = [("ID", "FOR", "PLAYLIST", "SINCE", "UNTIL")]
    rows += [
        (
            i.id,
            _target(i),
            i.playlist_id,
            _instant(i.starts_at),
            "cleared" if i.until is None else _instant(i.until),
        )
        for i in interrupts
    ]
    return format_table(rows)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _playing(playing: Playing) -> str:
    plays = playing.playlist_id or "nothing"
    line = f"{plays} ({playing.reason}: {playing.why})"
    for warning in playing.warnings:
        line += f"\n  warning: {warning}"
    return line


def _rotation(text: str) -> int | str:
    """--rotation: degrees (checked against the choices), or "screen"."""
    return text if text == SCREEN_SETTING or not text.isdigit() else int(text)


def _volume(text: str) -> int | str:
    """--volume: a whole number from 0 to 100, or "screen"."""
    if text == SCREEN_SETTING:
        return text
    if not text.isdigit() or not 0 <= int(text) <= MAX_VOLUME:
        raise argparse.ArgumentTypeError(
            f"the volume is a whole number from 0 to {MAX_VOLUME}, or {SCREEN_SETTING}"
        )
    return int(text)


def screen_settings(rotation: int | None, volume: int | None) -> str:
    """How a device's screen is turned and its volume, as an admin set them."""
    turned = "the screen's own" if rotation is None else f"{rotation} degrees"
    loud = "the screen's own" if volume is None else f"{volume}%"
    return f"turned: {turned}; volume: {loud}"


def format_device(device: DeviceDetail) -> str:
    """A device's settings, online state and latest status, what it should play now and next
    (by the schedule), and why."""
    lines = [
        f"{device.id} {device.name}",
        f"time zone: {device.timezone}; on a switch: {device.on_switch}; "
        f"{screen_settings(device.rotation, device.volume)}",
        f"default playlist: {device.playlist_id or 'none'}",
        f"groups: {', '.join(device.group_ids) or 'none'}",
        f"{'online' if device.online else 'offline'}; last seen: {device.last_seen_at or 'never'}",
        *_status_lines(device.status),
    ]
    if device.dropped_events:
        dropped = ", ".join(f"{count} {what}" for what, count in device.dropped_events.items())
        lines.append(f"dropped by its full outbox: {dropped}")
    lines.append(f"schedule now: {_playing(device.now)}")
    if device.next is None:
        lines.append("schedule next: nothing changes")
    else:
        lines.append(f"schedule next, from {_instant(device.next.at)}: {_playing(device.next)}")
    return "\n".join(lines)


def _size(count: int | None) -> str:
    return "?" if count is None else f"{count / 1e6:.1f} MB"


def _status_lines(reported: ReportedStatus | None) -> list[str]:
    """The latest heartbeat, a line per subject; what the device did not say is left out."""
    if reported is None:
        return ["status: no heartbeat yet"]
    status = reported.status
    lines = [
        f"status at {_instant(reported.at)} (received {_instant(reported.received_at)}): "
        f"agent {status.agent_version}, up {status.uptime_s:.0f} s"
    ]
    if status.playing is not None:
        playlist = reported.playing_playlist or status.playing.playlist_id or "no playlist"
        lines.append(
            f"  playing: {status.playing.name} ({playlist}) since {_instant(status.playing.since)}"
        )
    elif status.message:
        lines.append(f"  showing: {status.message}")
    if status.schedule is not None:
        lines.append(f"  schedule: {status.schedule.reason}: {status.schedule.why}")
    if status.cache_used_bytes is not None or status.disk_free_bytes is not None:
        pending = "?" if status.downloads_pending is None else status.downloads_pending
        lines.append(
            f"  cache: {_size(status.cache_used_bytes)} of {_size(status.cache_limit_bytes)}; "
            f"disk free {_size(status.disk_free_bytes)}; downloads pending {pending}"
        )
    if status.last_sync_at is not None:
        lines.append(f"  last sync: {_instant(status.last_sync_at)}")
    if status.clock_offset_s is not None:
        synced = {True: "synchronised", False: "not synchronised", None: "?"}[
            status.clock_synchronised
        ]
        lines.append(
            f"  clock: offset {status.clock_offset_s:+.3f} s, {synced}, "
            f"{status.clock_source or '?'}"
        )
    if status.cpu_temp_c is not None or status.throttled is not None:
        temperature = "?" if status.cpu_temp_c is None else f"{status.cpu_temp_c:.1f} C"
        lines.append(f"  cpu: {temperature}; throttled {status.throttled or '?'}")
    if status.display:
        lines.append(f"  display: {status.display}")
    if status.ip_addresses:
        lines.append(f"  addresses: {', '.join(status.ip_addresses)}")
    lines += [f"  error: {error}" for error in status.last_errors]
    return lines


def format_keys(keys: Sequence[KeySummary]) -> str:
    rows = [("ID", "ROLE", "NAME", "CREATED", "REVOKED")]
    rows += [(k.id, k.role, k.name or "-", k.created_at, k.revoked_at or "-") for k in keys]
    return format_table(rows)


def _print_json(models: Sequence[BaseModel] | BaseModel) -> None:
    if isinstance(models, BaseModel):
        print(json.dumps(models.model_dump(mode="json"), indent=2))
    else:
        print(json.dumps([model.model_dump(mode="json") for model in models], indent=2))


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "serve":
        from cloud.server import serve  # imports FastAPI and uvicorn: only when serving

        settings = Settings.from_env(
            data_dir=args.data, host=args.host, port=args.port, public_url=args.public_url
        )
        return serve(settings)
    if args.command == "tenant":
        from cloud.tenants import create_tenant_in

        data_dir = args.data if args.data is not None else default_data_dir()
        tenant, admin_key = create_tenant_in(data_dir, args.name)
        print(admin_key)
        print(
            f"created tenant {tenant.id} ({tenant.name}) in {data_dir}; its admin key is "
            "printed above, only this once: keep it",
            file=sys.stderr,
        )
        return 0
    _check_usage(parser, args)
    with _admin_client(parser, args) as client:
        if args.command == "enroll":
            print(client.approve_enrollment(args.code, name=args.name).device_id)
        elif args.command == "asset":
            _asset_command(client, args)
        elif args.command == "playlist":
            _playlist_command(client, args)
        elif args.command == "device":
            _device_command(client, args)
        elif args.command == "key":
            _key_command(client, args)
        elif args.command == "group":
            _group_command(client, args)
        elif args.command == "schedule":
            _schedule_command(client, args)
        elif args.command == "interrupt":
            _interrupt_command(parser, client, args)
        elif args.command == "command":
            command_command(client, args)
        elif args.command == "report":
            report_command(client, args)
        elif args.command == "devices":
            listed = client.list_devices()
            if args.json:
                _print_json(listed)
            else:
                print(format_devices(listed))
    return 0


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot say alone: exit 2 with a usage line."""
    setting = args.command == "device" and args.device_command == "set"
    if setting and not any(
        value is not None for value in (args.timezone, args.on_switch, args.rotation, args.volume)
    ):
        parser.error("device set: give --tz, --on-switch, --rotation or --volume")
    interrupting = args.command == "interrupt" and args.interrupt_command is None
    no_target = args.command == "interrupt" and args.device is None and args.group is None
    if interrupting and (no_target or args.playlist is None):
        parser.error("interrupt: give --device or --group, and --playlist")
    check_usage(parser, args)


def _say_waiting(reason: str, seconds: float) -> None:
    print(f"signage-cloud: {reason} (sending it again in {seconds:g} s)", file=sys.stderr)


def _asset_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.asset_command == "add":
        print(client.add_asset(args.file, name=args.name, on_wait=_say_waiting).id)
    elif args.asset_command == "add-stream":
        print(client.add_stream(args.stream_url, name=args.name).id)
    elif args.asset_command == "list":
        assets = client.list_assets()
        if args.json:
            _print_json(assets)
        else:
            print(format_assets(assets))
    elif args.asset_command == "rename":
        asset = client.rename_asset(args.asset_id, args.name)
        print(f"asset {asset.id} is now named {asset.name!r}")
    elif args.asset_command == "delete":
        asset = client.delete_asset(args.asset_id, force=args.force)
        taken = f", taken out of {asset.playlists} playlist(s)" if asset.playlists else ""
        print(f"deleted asset {asset.id} ({asset.name}){taken}")


def _playlist_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.playlist_command == "create":
        print(client.create_playlist(args.name, args.items).id)
    elif args.playlist_command == "list":
        playlists = client.list_playlists()
        if args.json:
            _print_json(playlists)
        else:
            print(format_playlists(playlists))
    elif args.playlist_command == "show":
        playlist = client.show_playlist(args.playlist_id)
        if args.json:
            _print_json(playlist)
        else:
            print(format_playlist(playlist))
    elif args.playlist_command == "set":
        summary = client.set_playlist_items(args.playlist_id, args.items)
        print(f"playlist {summary.id} now has {summary.items} items")
    elif args.playlist_command == "rename":
        summary = client.rename_playlist(args.playlist_id, args.name)
        print(f"playlist {summary.id} is now named {summary.name!r}")
    elif args.playlist_command == "delete":
        summary = client.delete_playlist(args.playlist_id)
        print(f"deleted playlist {summary.id} ({summary.name})")


def _key_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.key_command == "create":
        created = client.create_key(Role(args.role), name=args.name)
        named = f" ({created.name})" if created.name else ""
        print(f"{created.role} key {created.id}{named}; shown only this once, keep it:")
        print(created.key)
    elif args.key_command == "list":
        keys = client.list_keys()
        if args.json:
            _print_json(keys)
        else:
            print(format_keys(keys))
    elif args.key_command == "revoke":
        revoked = client.revoke_key(args.key_id)
        print(f"revoked {revoked.role} key {revoked.id} ({revoked.name or 'no name'})")


def _device_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.device_command == "remove":
        summary = client.remove_device(args.device_id)
        print(f"removed device {summary.id} ({summary.name})")
    elif args.device_command == "rename":
        summary = client.rename_device(args.device_id, args.name)
        print(f"device {summary.id} is now named {summary.name!r}")
    elif args.device_command == "assign":
        summary = client.assign_playlist(args.device_id, None if args.none else args.playlist)
        plays = summary.playlist_id or "nothing"
        print(f"device {summary.id} ({summary.name}) now plays {plays}")
    elif args.device_command == "set":
        record = client.set_device_settings(
            args.device_id,
            timezone=args.timezone,
            on_switch=args.on_switch,
            rotation=args.rotation,
            volume=args.volume,
        )
        print(
            f"device {record.id} ({record.name}): time zone {record.timezone}, "
            f"on a switch: {record.on_switch}; {screen_settings(record.rotation, record.volume)}"
        )
    elif args.device_command == "show":
        detail = client.show_device(args.device_id)
        if args.json:
            _print_json(detail)
        else:
            print(format_device(detail))
    elif args.device_command == "screenshot":
        screenshot(client, args)


def _group_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.group_command == "create":
        print(client.create_group(args.name).id)
    elif args.group_command in ("add", "remove"):
        change = {args.group_command: args.device_ids}
        summary = client.change_group_devices(args.group_id, **change)
        print(f"group {summary.id} ({summary.name}) now has {summary.devices} device(s)")
    elif args.group_command == "assign":
        summary = client.assign_group_playlist(args.group_id, None if args.none else args.playlist)
        plays = summary.playlist_id or "no default playlist"
        print(f"group {summary.id} ({summary.name}) now has {plays}")
    elif args.group_command == "list":
        groups = client.list_groups()
        if args.json:
            _print_json(groups)
        else:
            print(format_groups(groups))
    elif args.group_command == "delete":
        summary = client.delete_group(args.group_id)
        print(f"deleted group {summary.id} ({summary.name})")


def _schedule_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.schedule_command == "add":
        entry = client.add_schedule_entry(
            device_id=args.device,
            group_id=args.group,
            playlist_id=args.playlist,
            days=args.days,
            from_time=args.from_time,
            to_time=args.to_time,
            start_date=args.start_date,
            end_date=args.end_date,
            priority=args.priority,
            timezone=args.timezone,
            on_switch=args.on_switch,
        )
        print(entry.id)
    elif args.schedule_command == "list":
        entries = client.list_schedule_entries(device_id=args.device, group_id=args.group)
        if args.json:
            _print_json(entries)
        else:
            print(format_entries(entries))
    elif args.schedule_command == "delete":
        entry = client.delete_schedule_entry(args.entry_id)
        print(f"deleted schedule entry {entry.id} of {_target(entry)}")


def _interrupt_command(
    parser: argparse.ArgumentParser, client: AdminClient, args: argparse.Namespace
) -> None:
    if args.interrupt_command is None:
        interrupt = client.interrupt(
            playlist_id=args.playlist,
            device_id=args.device,
            group_id=args.group,
            until=args.until,
            for_s=args.for_s,
        )
        print(interrupt.id)
    elif args.interrupt_command == "clear":
        cleared = client.clear_interrupt(device_id=args.device, group_id=args.group)
        print(f"cleared interrupt {cleared.id} of {_target(cleared)}")
    elif args.interrupt_command == "list":
        interrupts = client.list_interrupts()
        if args.json:
            _print_json(interrupts)
        else:
            print(format_interrupts(interrupts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except ValidationError as exc:  # e.g. an empty playlist name
        print(f"{PROG}: error: {first_problem(exc)}", file=sys.stderr)
        return 1
    except (CloudError, ValueError, OSError) as exc:  # ValueError: e.g. an empty tenant name
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = [
    "build_parser",
    "first_problem",
    "format_assets",
    "format_device",
    "format_devices",
    "format_entries",
    "format_groups",
    "format_interrupts",
    "format_keys",
    "format_playlist",
    "format_playlists",
    "main",
    "parse_days",
    "parse_item",
    "port_number",
]
