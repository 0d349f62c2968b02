"""`signage-cloud command|report` and `device screenshot`: what admins send to screens and
what screens report back, from a shell.

    signage-cloud command send (--device ID | --group ID) KIND [ARGS] [--expires-in SECONDS]
                                                         prints the command id
    signage-cloud command show COMMAND_ID [--wait SECONDS] [--json]
    signage-cloud command list [--device ID | --group ID] [--limit N] [--json]
    signage-cloud command cancel COMMAND_ID
    signage-cloud command logs COMMAND_ID [--device DEVICE_ID]
    signage-cloud device screenshot DEVICE_ID --out FILE [--wait SECONDS]
    signage-cloud report plays [--device ID | --group ID] [--asset ID] --since ISO
        [--until ISO] [--csv | --json]
    signage-cloud report summary [--device ID | --group ID] [--asset ID] --since ISO
        [--until ISO] [--csv | --json]

KIND and its ARGS: `set-volume N` (0 to 100), `logs [N]` (the last N lines, 1 to 2000,
default 200); every other kind takes none. `--wait` asks the cloud again (each ask held up
to a minute) until every device answered for good, the command expired, or the wait ends.
`command list` shows the newest commands first (20 unless `--limit`, at most 10,000), with
how many of their devices answered what; `command cancel` takes a command back from the
devices that have not started it, and says what it did.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cloud.admin_client import AdminClient
from cloud.admin_models import (
    COMMAND_KINDS,
    MAX_COMMAND_EXPIRY_S,
    MAX_COMMAND_LISTING,
    MIN_COMMAND_EXPIRY_S,
    CommandDetail,
    CommandOutcome,
    CommandSummary,
    PlayRecord,
    PlaySummaryRow,
    command_args,
)
from cloud.errors import AdminClientError
from sync.models import MAX_LOG_LINES, CommandKind, CommandState

# One ask of `command show --wait` is held at most this long by the cloud.
WAIT_PER_ASK_S = 60
DEFAULT_SCREENSHOT_WAIT_S = 60
DEFAULT_COMMAND_LISTING = 20
DEVICE_HELP = "the device's id (see `signage-cloud devices`)"
GROUP_HELP = "the group's id (see `signage-cloud group list`)"


def parse_command(kind: str, args: Sequence[str]) -> dict[str, Any]:
    """`KIND [ARGS]` of `command send` as the command's arguments; ValueError saying why not."""
    if kind not in COMMAND_KINDS:
        raise ValueError(
            f"{kind!r} is not a kind of command: use one of {', '.join(COMMAND_KINDS)}"
        )
    if kind == CommandKind.SET_VOLUME:
        if len(args) != 1:
            raise ValueError("set-volume takes one argument: the volume, 0 to 100")
        return command_args(kind, {"volume": _number(args[0], "the volume")})
    if kind == CommandKind.LOGS:
        if len(args) > 1:
            raise ValueError(
                f"logs takes at most one argument: how many lines, 1 to {MAX_LOG_LINES}"
            )
        given = {"lines": _number(args[0], "the number of lines")} if args else {}
        return command_args(kind, given)
    if args:
        raise ValueError(f"{kind} takes no arguments")
    return {}


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} is a whole number, not {text!r}") from None


def expiry_seconds(text: str) -> int:
    """`--expires-in`: whole seconds, 10 s to 30 days."""
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not MIN_COMMAND_EXPIRY_S <= seconds <= MAX_COMMAND_EXPIRY_S:
        raise argparse.ArgumentTypeError(
            f"a command expires in {MIN_COMMAND_EXPIRY_S} s to {MAX_COMMAND_EXPIRY_S} s (30 days)"
        )
    return seconds


def listing_limit(text: str) -> int:
    """`command list --limit`: how many commands, 1 to `MAX_COMMAND_LISTING`."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= MAX_COMMAND_LISTING:
        raise argparse.ArgumentTypeError(f"list 1 to {MAX_COMMAND_LISTING} commands")
    return count


def wait_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= seconds <= 86_400:
        raise argparse.ArgumentTypeError("wait 0 to 86400 seconds")
    return seconds


# --- the parser ---------------------------------------------------------------------------


def _target_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    target = parser.add_mutually_exclusive_group(required=required)
    target.add_argument("--device", metavar="DEVICE_ID", help=DEVICE_HELP)
    target.add_argument("--group", metavar="GROUP_ID", help=GROUP_HELP)


def add_command_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    command = commands.add_parser("command", help="send commands to screens; read their results")
    command_commands = command.add_subparsers(
        dest="command_command", required=True, metavar="COMMAND"
    )
    send = command_commands.add_parser(
        "send",
        parents=[remote],
        help="send a command to a device or a group's members; prints its id",
        description=f"Kinds: {', '.join(COMMAND_KINDS)}. set-volume takes the volume (0 to "
        f"100), logs how many lines (1 to {MAX_LOG_LINES}, default 200); the others nothing.",
    )
    _target_options(send, required=True)
    send.add_argument("kind", metavar="KIND", help=f"one of {', '.join(COMMAND_KINDS)}")
    send.add_argument("args", nargs="*", metavar="ARGS", help="set-volume N, logs [N]")
    send.add_argument(
        "--expires-in",
        type=expiry_seconds,
        metavar="SECONDS",
        help="a device that gets it later reports it expired and does not run it "
        "(default 3600; 10 to 2592000)",
    )
    show = command_commands.add_parser(
        "show", parents=[remote], help="a command's result on each device it was sent to"
    )
    show.add_argument("command_id", help="the id `command send` printed")
    show.add_argument(
        "--wait",
        type=wait_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait until every device answered for good or the command expired",
    )
    show.add_argument("--json", action="store_true", help="print JSON")
    listing = command_commands.add_parser(
        "list",
        parents=[remote],
        help="the newest commands first, with how many devices answered what",
    )
    _target_options(listing, required=False)
    listing.add_argument(
        "--limit",
        type=listing_limit,
        default=DEFAULT_COMMAND_LISTING,
        metavar="N",
        help=f"how many (default {DEFAULT_COMMAND_LISTING}, at most {MAX_COMMAND_LISTING})",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    cancel = command_commands.add_parser(
        "cancel",
        parents=[remote],
        help="take a command back from the devices that have not started it",
    )
    cancel.add_argument("command_id", help="the id `command send` printed")
    logs = command_commands.add_parser(
        "logs", parents=[remote], help="print the log lines a device uploaded for a logs command"
    )
    logs.add_argument("command_id", help="the id `command send` printed")
    logs.add_argument(
        "--device", metavar="DEVICE_ID", help="whose (needed when it went to several devices)"
    )


def add_screenshot_command(
    device_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    screenshot = device_commands.add_parser(
        "screenshot",
        parents=[remote],
        help="ask a device for a screenshot, wait for it and save the PNG",
    )
    screenshot.add_argument("device_id", help=DEVICE_HELP)
    screenshot.add_argument("--out", required=True, type=Path, metavar="FILE", help="the PNG")
    screenshot.add_argument(
        "--wait",
        type=wait_seconds,
        default=float(DEFAULT_SCREENSHOT_WAIT_S),
        metavar="SECONDS",
        help=f"how long to wait for the device (default {DEFAULT_SCREENSHOT_WAIT_S})",
    )


def add_report_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    remote: argparse.ArgumentParser,
) -> None:
    report = commands.add_parser("report", help="proof of play: what screens reported playing")
    report_commands = report.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    for name, what in (
        ("plays", "every play event, by start time"),
        ("summary", "plays and seconds on screen per asset and day (UTC)"),
    ):
        parser = report_commands.add_parser(name, parents=[remote], help=what)
        _target_options(parser, required=False)
        parser.add_argument("--asset", metavar="ASSET_ID", help="only this asset's plays")
        parser.add_argument(
            "--since",
            required=True,
            metavar="ISO",
            help="plays that started at or after, e.g. 2026-05-01 or 2026-05-01T08:00Z",
        )
        parser.add_argument("--until", metavar="ISO", help="plays that started before")
        output = parser.add_mutually_exclusive_group()
        output.add_argument("--csv", action="store_true", help="print CSV")
        output.add_argument("--json", action="store_true", help="print JSON")


def check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit 2 with a usage line for what argparse cannot check alone (a command's ARGS)."""
    if args.command == "command" and args.command_command == "send":
        try:
            args.command_args = parse_command(args.kind, args.args)
        except ValueError as exc:
            parser.error(f"command send: {exc}")


# --- running them ---------------------------------------------------------------------------


def command_command(client: AdminClient, args: argparse.Namespace) -> None:
    if args.command_command == "send":
        sent = client.send_command(
            args.kind,
            args=args.command_args,
            device_id=args.device,
            group_id=args.group,
            expires_in_s=args.expires_in,
        )
        print(sent.id)
    elif args.command_command == "show":
        detail = wait_for(client, args.command_id, args.wait)
        if args.json:
            print(json.dumps(detail.model_dump(mode="json"), indent=2))
        else:
            print(format_command(detail))
    elif args.command_command == "list":
        commands = client.newest_commands(args.limit, device_id=args.device, group_id=args.group)
        if args.json:
            print(json.dumps([command.model_dump(mode="json") for command in commands], indent=2))
        else:
            print(format_commands(commands))
    elif args.command_command == "cancel":
        print(client.cancel_command(args.command_id).message)
    elif args.command_command == "logs":
        detail = client.show_command(args.command_id)
        device_id = args.device or _only_device(detail)
        _, data = client.command_attachment(args.command_id, device_id)
        text = data.decode("utf-8", errors="replace")
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def _only_device(detail: CommandDetail) -> str:
    if len(detail.devices) != 1:
        raise AdminClientError(
            f"command {detail.id} went to {len(detail.devices)} devices: say whose logs with "
            "--device DEVICE_ID"
        )
    return detail.devices[0].device_id


def wait_for(client: AdminClient, command_id: str, wait_s: float) -> CommandDetail:
    """The command once settled, or as it stands when `wait_s` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        remaining = deadline - time.monotonic()
        detail = client.show_command(command_id, wait_s=max(0, min(WAIT_PER_ASK_S, int(remaining))))
        if detail.settled or deadline - time.monotonic() < 1:
            return detail


def screenshot(client: AdminClient, args: argparse.Namespace) -> None:
    sent = client.send_command(CommandKind.SCREENSHOT.value, device_id=args.device_id)
    detail = wait_for(client, sent.id, args.wait)
    outcome = detail.devices[0]
    if not outcome.final:
        raise AdminClientError(
            f"no screenshot from {args.device_id} within {args.wait:g} s: "
            f"`signage-cloud command show {sent.id}` says when it comes"
        )
    if outcome.state != "done" or outcome.attachment is None:
        why = f": {outcome.detail}" if outcome.detail else ""
        raise AdminClientError(
            f"{args.device_id} did not take the screenshot ({state_text(outcome)}{why})"
        )
    _, data = client.command_attachment(sent.id, args.device_id)
    write_file(args.out, data)
    print(f"saved the screenshot of {args.device_id} to {args.out} ({len(data)} bytes)")


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file beside it and a rename."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def report_command(client: AdminClient, args: argparse.Namespace) -> None:
    filters = {
        "since": args.since,
        "until": args.until,
        "device_id": args.device,
        "group_id": args.group,
        "asset_id": args.asset,
    }
    if args.report_command == "plays":
        plays = list(client.all_plays(**filters))
        if args.json:
            print(json.dumps([play.model_dump(mode="json") for play in plays], indent=2))
        elif args.csv:
            sys.stdout.write(to_csv(PlayRecord, plays))
        else:
            print(format_plays(plays))
    elif args.report_command == "summary":
        summary = client.plays_summary(**filters)
        if args.json:
            print(json.dumps(summary.model_dump(mode="json"), indent=2))
        elif args.csv:
            sys.stdout.write(to_csv(PlaySummaryRow, summary.rows))
        else:
            print(format_summary(summary.rows))


# --- formats --------------------------------------------------------------------------------


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows (the first is the header) as aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def instant(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def state_text(outcome: CommandOutcome) -> str:
    """A device's answer as a person reads it: `done`, `expired (no answer)`, ..."""
    if outcome.no_answer:
        return (
            "expired (no answer)"
            if outcome.state == "pending"
            else "started, no answer by its expiry"
        )
    return str(outcome.state)


def format_command(detail: CommandDetail) -> str:
    args = ", ".join(f"{name} {value}" for name, value in detail.args.items()) or "no arguments"
    target = f"device {detail.device_id}" if detail.device_id else f"group {detail.group_id}"
    expiry = "expired" if detail.expired else "expires"
    head = (
        f"{detail.id} {detail.kind} ({args}) to {target}: sent {instant(detail.created_at)}, "
        f"{expiry} {instant(detail.expires_at)}"
    )
    rows = [("DEVICE", "NAME", "STATE", "AT", "ATTACHMENT", "DETAIL")]
    for outcome in detail.devices:
        attachment = "-"
        if outcome.attachment is not None:
            attachment = f"{outcome.attachment.content_type}, {outcome.attachment.size} bytes"
        rows.append(
            (
                outcome.device_id,
                outcome.device_name,
                state_text(outcome),
                instant(outcome.at),
                attachment,
                outcome.detail or "-",
            )
        )
    return f"{head}\n{table(rows)}"


def answers_text(summary: CommandSummary) -> str:
    """How many devices are where: `done 3, expired (no answer) 1`."""
    parts = []
    for state, count in summary.states.items():
        if summary.expired and state == "pending":
            state = "expired (no answer)"
        elif summary.expired and state == CommandState.STARTED:
            state = "started, no answer by its expiry"
        parts.append(f"{state} {count}")
    return ", ".join(parts)


def format_commands(commands: Sequence[CommandSummary]) -> str:
    if not commands:
        return "no commands"
    rows = [("COMMAND", "KIND", "ARGS", "TO", "SENT", "EXPIRES", "ANSWERS")]
    rows += [
        (
            command.id,
            command.kind,
            ", ".join(f"{name} {value}" for name, value in command.args.items()) or "-",
            f"device {command.device_id}" if command.device_id else f"group {command.group_id}",
            instant(command.created_at),
            instant(command.expires_at),
            answers_text(command),
        )
        for command in commands
    ]
    return table(rows)


def format_plays(plays: Sequence[PlayRecord]) -> str:
    rows = [("STARTED", "DEVICE", "ITEM", "PLAYLIST", "SECONDS", "OUTCOME")]
    rows += [
        (
            instant(play.started_at),
            play.device_name,
            play.name,
            play.playlist_id or "-",
            f"{play.duration_ms / 1000:g}",
            play.outcome.value + (f": {play.detail}" if play.detail else ""),
        )
        for play in plays
    ]
    return table(rows)


def format_summary(rows: Sequence[PlaySummaryRow]) -> str:
    lines = [
        ("DAY", "ASSET", "NAME", "PLAYS", "SECONDS", "COMPLETED", "CUT", "INTERRUPTED",
         "SKIPPED", "FAILED", "DEVICES"),
    ]  # fmt: skip
    lines += [
        (
            row.day.isoformat(),
            row.asset_id or "-",
            row.name,
            str(row.plays),
            f"{row.seconds:g}",
            str(row.completed),
            str(row.cut),
            str(row.interrupted),
            str(row.skipped),
            str(row.failed),
            str(row.devices),
        )
        for row in rows
    ]
    return table(lines)


def to_csv(model: type[BaseModel], rows: Sequence[BaseModel]) -> str:
    """Rows as CSV with a header of the model's fields; instants in ISO, UTC."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(model.model_fields)
    writer.writerow(names)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(["" if data[name] is None else data[name] for name in names])
    return out.getvalue()


__all__ = [
    "add_command_commands",
    "add_report_commands",
    "add_screenshot_command",
    "check_usage",
    "command_command",
    "format_command",
    "format_commands",
    "format_plays",
    "format_summary",
    "parse_command",
    "report_command",
    "screenshot",
    "to_csv",
    "wait_for",
]
