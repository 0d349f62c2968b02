"""`signage-agent`: run the daemon, show its status, print the effective config.

    signage-agent run    [--config FILE] [--state-dir DIR] [--cloud URL] [--video-output NAME]
    signage-agent status [--config FILE] [--state-dir DIR] [--json]
    signage-agent config [--config FILE] [--state-dir DIR] [--cloud URL]

At start-up an error is one log line and a non-zero exit; at run time errors are logged and
the daemon carries on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from agent.clock import ScheduleClock
from agent.config import AgentConfig, ConfigError, load_config
from agent.connection import ConnectionState
from agent.content_cache import ContentCache
from agent.decision import decision_summary, evaluate_safely
from agent.diagnostics import install_stack_dumps
from agent.errors import AgentError, RestartRequested, StateDirError
from agent.instance_lock import running_pid
from agent.log_buffer import LogBuffer
from agent.log_limit import RepeatLimiter
from agent.outbox import outbox_status
from agent.store import CachedItem, Meta, Store, json_or_none
from agent.version import __version__
from player.errors import PlayerError
from sync.errors import SyncError

log = logging.getLogger("agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signage-agent", description="Digital signage player agent."
    )
    parser.add_argument("--version", action="version", version=f"signage-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", type=Path, help="TOML config file (default /etc/signage-agent/agent.toml)"
        )
        p.add_argument("--state-dir", type=Path, help="state folder (env SIGNAGE_AGENT_STATE_DIR)")

    run = sub.add_parser("run", help="run the agent: enroll if needed, then sync and play")
    common(run)
    run.add_argument("--cloud", help="cloud base URL (env SIGNAGE_AGENT_CLOUD_URL)")
    run.add_argument("--video-output", help="auto | window | kms | dummy | a VLC vout name")

    status = sub.add_parser("status", help="show enrollment, device, playlist and what is playing")
    common(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    sync = sub.add_parser(
        "sync", help="sync once in the foreground (while the agent is stopped) and exit"
    )
    common(sync)
    sync.add_argument("--cloud", help="cloud base URL (env SIGNAGE_AGENT_CLOUD_URL)")
    sync.add_argument(
        "--once", action="store_true", required=True, help="fetch every change and blob, then exit"
    )

    shot = sub.add_parser(
        "screenshot", help="save what the screen shows as a PNG (asks the running agent)"
    )
    common(shot)
    shot.add_argument("file", type=Path, help="where to write the PNG ('-': standard output)")

    sub.add_parser(
        "release-screen",
        help="take the last picture a stopped agent left on the X screen off it (DISPLAY)",
    )

    config = sub.add_parser("config", help="print the effective configuration")
    common(config)
    config.add_argument("--cloud", help="cloud base URL")
    return parser


def _load(args: argparse.Namespace) -> AgentConfig:
    overrides: dict[str, Any] = {
        "state_dir": args.state_dir,
        "cloud_url": getattr(args, "cloud", None),
        "video_output": getattr(args, "video_output", None),
    }
    return load_config(config_file=args.config, environ=os.environ, overrides=overrides)


def _setup_logging(level: str) -> None:
    # stdout, one line per event: systemd's journal and a person running the demo both read it
    logging.basicConfig(
        level=level,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger().addHandler(LogBuffer())  # the `logs` command's last lines
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:  # a failing item must not flood the journal
        handler.addFilter(RepeatLimiter())


def cmd_run(config: AgentConfig) -> int:
    from agent.daemon import run_daemon  # imports libvlc: only the run command needs it

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        install_stack_dumps(loop)  # `kill -USR1`: what a hung agent is doing, in its log
        with contextlib.suppress(asyncio.CancelledError):
            await run_daemon(config)

    try:
        asyncio.run(main())
    except RestartRequested as exc:
        from agent.commands import RESTART_EXIT_STATUS

        log.info("agent stopped: %s", exc)
        return RESTART_EXIT_STATUS
    except (AgentError, SyncError, PlayerError, OSError, RuntimeError) as exc:
        log.error("agent stopped: %s", exc)
        return 1
    log.info("agent stopped")
    return 0


def status_of(state_dir: Path) -> dict[str, Any]:
    """What `signage-agent status` reports, read from the state folder (read-only).

    Raises `StateDirError` when `state_dir` is not a folder: a mistyped path must not read
    as "not enrolled".
    """
    if not state_dir.is_dir():
        raise StateDirError(f"{state_dir}: no such state folder (check --state-dir)")
    meta: dict[str, str] = {}
    items: list[CachedItem] = []
    playlist = None
    schedule: dict[str, Any] | None = None
    outbox: dict[str, Any] | None = None
    store = Store.open_read_only(state_dir)
    if store is not None:  # None: the agent has not created its store yet
        try:
            meta = store.meta()
            outbox = outbox_status(store)
            schedule = json_or_none(meta.get(Meta.SCHEDULE))
            if not isinstance(schedule, dict) or running_pid(state_dir) is None:
                schedule = schedule_now(store, _float(meta.get(Meta.CLOCK_OFFSET_S)))
            playlist_id = schedule.get("playlist_id")
            items, playlist = store.playlist_items(playlist_id), schedule.get("playlist")
        finally:
            store.close()
    pid = running_pid(state_dir)
    present = ContentCache(state_dir).present()
    connection = ConnectionState.from_json(json_or_none(meta.get(Meta.CONNECTION)))
    return {
        "state_dir": str(state_dir),
        "running": pid is not None,
        "pid": pid if pid and pid > 0 else None,
        "enrolled": Meta.ACCESS_TOKEN in meta and Meta.REFRESH_TOKEN in meta,
        "device_id": meta.get(Meta.DEVICE_ID),
        "device_name": meta.get(Meta.DEVICE_NAME),
        "tenant_id": meta.get(Meta.TENANT_ID),
        "enrollment_code": meta.get(Meta.ENROLLMENT_CODE),
        "enrollment_uri": meta.get(Meta.ENROLLMENT_URI),
        # online: None when the agent is not running (nothing knows now) or has not tried yet
        "online": connection.online if pid is not None else None,
        "online_since" if connection.online else "offline_since": connection.since,
        "last_contact_at": connection.last_contact_at,
        "last_error": connection.last_error,
        "last_error_at": connection.last_error_at,
        "playlist": playlist,
        # the schedule's decision: reason, why, next_boundary, clock (local or cloud-corrected)
        "schedule": schedule,
        "items": [
            {
                "position": item.position,
                "name": item.name,
                "sha256": item.sha256,
                "media_type": item.media_type,
                "duration_ms": item.duration_ms,
                "cached": item.sha256 in present,
            }
            for item in items
        ],
        # what is on screen only while an agent runs: a stopped agent shows nothing
        "now_playing": json_or_none(meta.get(Meta.NOW_PLAYING)) if pid is not None else None,
        # the message the screen shows whenever nothing plays (enrollment code, no content…)
        "message": json_or_none(meta.get(Meta.SCREEN_MESSAGE)) if pid is not None else None,
        "cursor": meta.get(Meta.CURSOR),
        "last_sync_at": meta.get(Meta.LAST_SYNC_AT),
        # blobs still to download (and those that keep failing), and the cache's size
        "downloads": json_or_none(meta.get(Meta.DOWNLOADS)),
        "cache": json_or_none(meta.get(Meta.CACHE)),
        # the cloud's clock minus this device's, in seconds (a Pi has no real-time clock)
        "clock_offset_s": _float(meta.get(Meta.CLOCK_OFFSET_S)),
        # events waiting for the cloud: how many (by type) and how long the oldest has waited
        "outbox": outbox,
    }


def schedule_now(store: Store, offset_s: float | None) -> dict[str, Any]:
    """What the stored schedule says plays now: `status` of a stopped agent (a running one
    says what it decided)."""
    reading = ScheduleClock(lambda: offset_s).read()
    state = store.schedule_state()
    decision = None if state is None else evaluate_safely(state, reading.at)
    name = store.playlist_name(decision.playlist_id) if decision else None
    return decision_summary(decision, reading, name)


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _print_status(status: dict[str, Any]) -> None:
    if status["running"]:
        pid = f" (pid {status['pid']})" if status["pid"] else ""
        print(f"agent:        running{pid}")
    else:
        print("agent:        not running")
    if status["enrolled"]:
        name = status.get("device_name") or "unnamed"
        device, tenant = status["device_id"], status["tenant_id"]
        print(f"enrolled:     yes, device {device} ({name}) of tenant {tenant}")
    elif status["enrollment_code"]:
        print(f"enrolled:     no; enrollment code {status['enrollment_code']} is on screen")
    else:
        print("enrolled:     no")
    if status["online"] is True:
        print(f"cloud:        online since {status['online_since']}")
    elif status["online"] is False:
        print(f"cloud:        OFFLINE since {status['offline_since']}")
    else:
        print("cloud:        unknown (the agent is not running)" if not status["running"]
              else "cloud:        not contacted yet")  # fmt: skip
    print(f"last contact: {status['last_contact_at'] or 'never'}")
    if status["last_error"]:
        print(f"last error:   {status['last_error']} (at {status['last_error_at']})")
    print(f"playlist:     {status['playlist'] or '(none)'}")
    schedule = status["schedule"]
    if schedule:
        print(f"because:      {schedule.get('why')}")
        print(f"next change:  {schedule.get('next_boundary') or 'none scheduled'}")
        print(f"clock:        {schedule.get('clock')}")
        for warning in schedule.get("warnings") or ():
            print(f"  warning: {warning}")
    for item in status["items"]:
        cached = "cached" if item["cached"] else "not cached yet"
        print(f"  {item['position']:>3}  {item['name']}  ({item['media_type']}, {cached})")
    playing, message = status["now_playing"], status["message"]
    if not status["running"]:
        print("now playing:  nothing (the agent is not running)")
    elif playing:
        print(f"now playing:  {playing['name']} since {playing['since']}")
    else:
        print("now playing:  nothing")
    if status["running"] and message and not playing:
        print(f"on screen:    {message['title']}: {message['headline']}")
    print(f"last change:  {status['last_sync_at'] or 'never'} (cursor {status['cursor'] or '-'})")
    downloads, cache = status["downloads"], status["cache"]
    if downloads:
        print(
            f"downloads:    {downloads['pending']} blob(s) to fetch, "
            f"{downloads['pending_bytes'] / 1e6:.1f} MB"
            + (f"; {len(downloads['failing'])} failing" if downloads["failing"] else "")
        )
        for failing in downloads["failing"]:
            print(
                f"  {failing['sha256'][:12]}  {failing['attempts']} attempt(s): {failing['reason']}"
            )
    if cache:
        print(
            f"cache:        {cache['used_bytes'] / 1e6:.1f} MB in {cache['blobs']} blob(s), "
            f"may grow to {cache['limit_bytes'] / 1e6:.0f} MB"
        )
    if status["clock_offset_s"] is not None:
        print(f"clock offset: {status['clock_offset_s']:+.2f} s (the cloud's clock minus ours)")
    outbox = status["outbox"]
    if outbox:
        print(f"outbox:       {_outbox_line(outbox)}")


def _outbox_line(outbox: dict[str, Any]) -> str:
    """`12 event(s) to send (10 play, 2 heartbeat), the oldest queued 35 s ago`."""
    if not outbox["events"]:
        return "empty (everything was sent)"
    kinds = ", ".join(f"{count} {kind}" for kind, count in outbox["by_type"].items())
    age = outbox["oldest_age_s"]
    return f"{outbox['events']} event(s) to send ({kinds}), the oldest queued {age:.0f} s ago"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "release-screen":  # needs the X display only, no configuration
        return cmd_release_screen()
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"signage-agent: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        for key, value in config.display().items():
            print(f"{key} = {value}")
        return 0
    if args.command == "status":
        try:
            status = status_of(config.state_dir)
        except AgentError as exc:
            print(f"signage-agent: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            _print_status(status)
        return 0
    if args.command == "sync":
        return cmd_sync(config)
    if args.command == "screenshot":
        return cmd_screenshot(config, args.file)
    _setup_logging(config.log_level)
    return cmd_run(config)


def cmd_screenshot(config: AgentConfig, file: Path) -> int:
    """Ask the running agent for what is on screen; write it to `file` (or standard output)."""
    from agent.control import request_screenshot

    try:
        data = asyncio.run(request_screenshot(config.state_dir))
    except AgentError as exc:
        print(f"signage-agent: {exc}", file=sys.stderr)
        return 1
    if str(file) == "-":
        sys.stdout.buffer.write(data)
        return 0
    try:
        file.write_bytes(data)
    except OSError as exc:
        print(f"signage-agent: cannot write {file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"saved {len(data)} bytes to {file}", file=sys.stderr)
    return 0


def cmd_release_screen() -> int:
    """Free the windows (and their pictures) that stopped agents left on the X screen."""
    from player.errors import RendererError
    from player.x11 import release_screen

    logging.basicConfig(level="WARNING", stream=sys.stderr, format="signage-agent: %(message)s")
    try:
        freed = release_screen(os.environ.get("DISPLAY"))
    except RendererError as exc:
        print(f"signage-agent: {exc}", file=sys.stderr)
        return 1
    if freed:
        print(f"took the picture a stopped agent left off the screen ({freed} window(s))")
    else:
        print("no picture of a stopped agent is on this screen")
    return 0


def cmd_sync(config: AgentConfig) -> int:
    """Exit 0 when the device is up to date, 1 when something is missing, one line on error."""
    from agent.sync_now import sync_now

    logging.basicConfig(level="WARNING", stream=sys.stderr, format="%(message)s")
    try:
        return asyncio.run(sync_now(config))
    except (AgentError, SyncError) as exc:
        print(f"signage-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
