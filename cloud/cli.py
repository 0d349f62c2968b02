"""`signage-cloud`: run the reference cloud and administer it from a shell.

    signage-cloud serve [--host H] [--port P] [--public-url URL] [--data DIR]
    signage-cloud tenant create NAME [--data DIR]       prints only the admin key
    signage-cloud enroll approve CODE --name NAME        prints the device id
    signage-cloud asset add FILE [--name NAME]           prints the asset id
    signage-cloud asset list [--json]
    signage-cloud asset rename ASSET_ID NAME
    signage-cloud asset delete ASSET_ID [--force]
    signage-cloud playlist create NAME --item ASSET_ID[:SECONDS] ...   prints the playlist id
    signage-cloud playlist list [--json]
    signage-cloud playlist show PLAYLIST_ID [--json]
    signage-cloud playlist set PLAYLIST_ID --item ASSET_ID[:SECONDS] ...
    signage-cloud playlist rename PLAYLIST_ID NAME
    signage-cloud playlist delete PLAYLIST_ID
    signage-cloud device assign DEVICE_ID --playlist PLAYLIST_ID | --none
    signage-cloud device rename DEVICE_ID NAME
    signage-cloud device remove DEVICE_ID
    signage-cloud devices [--json]
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
from pathlib import Path

from pydantic import BaseModel, ValidationError

from cloud.admin_client import DEFAULT_URL, AdminClient
from cloud.errors import CloudError
from cloud.settings import DEFAULT_HOST, DEFAULT_PORT, MAX_PORT, Settings, default_data_dir
from sync.models import (
    MAX_DURATION_MS,
    AssetSummary,
    DeviceSummary,
    KeySummary,
    NewPlaylistItem,
    PlaylistDetail,
    PlaylistSummary,
    Role,
)

PROG = "signage-cloud"
MAX_ITEM_SECONDS = MAX_DURATION_MS / 1000


def parse_item(text: str) -> NewPlaylistItem:
    """`ASSET_ID` or `ASSET_ID:SECONDS`, as given to `playlist create --item`."""
    asset_id, sep, seconds = text.partition(":")
    if not asset_id:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ASSET_ID or ASSET_ID:SECONDS")
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
        return NewPlaylistItem(asset_id=asset_id, duration_s=duration_s)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {first_problem(exc)}") from None


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
        metavar="ASSET_ID[:SECONDS]",
        help="an item, in play order; SECONDS for images (default 10), videos play to the end",
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
    rename = device_commands.add_parser("rename", parents=[remote], help="rename a device")
    rename.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")
    rename.add_argument("name", help="its new name")
    remove = device_commands.add_parser(
        "remove", parents=[remote], help="remove a device: it deletes the content, shows a new code"
    )
    remove.add_argument("device_id", help="the device's id (see `signage-cloud devices`)")

    devices = commands.add_parser("devices", parents=[remote], help="list the tenant's devices")
    devices.add_argument("--json", action="store_true", help="print a JSON list")

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


def format_devices(devices: Sequence[DeviceSummary]) -> str:
    """The devices as an aligned table with a header line."""
    rows = [("ID", "NAME", "PLAYLIST", "LAST SEEN")]
    rows += [(d.id, d.name, d.playlist_id or "-", d.last_seen_at or "never") for d in devices]
    return format_table(rows)


def format_assets(assets: Sequence[AssetSummary]) -> str:
    rows = [("ID", "NAME", "TYPE", "BYTES", "PLAYLISTS")]
    rows += [(a.id, a.name, a.media_type, str(a.size), str(a.playlists)) for a in assets]
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
        elif args.command == "devices":
            listed = client.list_devices()
            if args.json:
                _print_json(listed)
            else:
                print(format_devices(listed))
    return 0


def _asset_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.asset_command == "add":
        print(client.add_asset(args.file, name=args.name).id)
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
    "format_devices",
    "format_keys",
    "format_playlist",
    "format_playlists",
    "main",
    "parse_item",
    "port_number",
]
