"""Heartbeats: what the device says of itself, every `heartbeat_interval_s` and on change.

A `Heartbeat` (`sync.models.DeviceStatus`) goes into the outbox every interval (default
60 s) and soon after a significant change: the playlist in force or the schedule's reason
for it changed, or the cloud went from reachable to unreachable or back. Changes cost a
heartbeat at most every 5 s. The outbox uploads them like every other event, and drops the
oldest heartbeats first when it is full (a newer one says more).

What a heartbeat says (each field left out where this machine cannot tell): the agent's
version and uptime, what is on screen (or the message shown instead), the schedule's
decision, the cache's use and limit, free disk in the state folder, downloads pending, the
last answer to a sync and the age of the cursor, the clock (offset to the cloud's, whether
the kernel says it is synchronised, which one the schedule follows), CPU temperature
(`/sys/class/thermal`), throttling (`vcgencmd get_throttled`, where installed), the video
output and its resolution, IP addresses (`/proc/net`), and the last errors.

The readers of the machine are plain functions over files and command output, so each is
tested on recorded text.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.clock import CloudClock, ScheduleClock, local_clock_synchronised
from agent.connection import ConnectionState
from agent.content_cache import ContentCache
from agent.errors import StoreError
from agent.outbox import Outbox
from agent.play_log import OpenPlay
from agent.screen import one_line
from agent.store import Meta, Store
from agent.version import __version__
from agent.waiting import wait_event
from player.schedule import Decision
from sync.models import (
    MAX_ASSET_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_STATE_ASSETS,
    MAX_STATUS_LIST,
    DeviceStatus,
    Heartbeat,
    NowPlayingStatus,
    ScheduleStatus,
)

log = logging.getLogger(__name__)

MIN_CHANGE_GAP_S = 5.0  # a change sends a heartbeat at most this often
COMMAND_TIMEOUT_S = 2.0
THERMAL_DIR = Path("/sys/class/thermal")
PROC_NET = Path("/proc/net")

# --- reading the machine -----------------------------------------------------------------


def cpu_temperature(thermal_dir: Path = THERMAL_DIR) -> float | None:
    """The CPU's temperature in °C: the thermal zone whose type names the CPU (a Pi's
    `cpu-thermal`), else the first zone that reads; None where there is none."""
    readings: list[tuple[bool, str, float]] = []
    for zone in thermal_dir.glob("thermal_zone*"):
        try:
            millidegrees = int((zone / "temp").read_text().strip())
            kind = (zone / "type").read_text().strip().lower()
        except (OSError, ValueError):
            continue
        readings.append(("cpu" not in kind, zone.name, millidegrees / 1000))
    if not readings:
        return None
    celsius = min(readings)[2]
    return celsius if -100 <= celsius <= 200 else None


def parse_throttled(output: str) -> str | None:
    """`0x50000` from `vcgencmd get_throttled`'s `throttled=0x50000`."""
    name, _, value = output.strip().partition("=")
    value = value.strip()
    if name.strip() != "throttled" or not value or not value.isprintable() or len(value) > 32:
        return None
    return value


def run_throttled(binary: str = "vcgencmd") -> str | None:
    """The Pi's throttling flags, or None where `vcgencmd` is not installed or fails."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        result = subprocess.run(
            [path, "get_throttled"],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_throttled(result.stdout) if result.returncode == 0 else None


def parse_fib_trie(text: str) -> list[str]:
    """This machine's IPv4 addresses, from `/proc/net/fib_trie` (a "/32 host LOCAL" leaf)."""
    found: list[str] = []
    last: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and last is not None:
            found.append(last)
    return found


def parse_if_inet6(text: str) -> list[str]:
    """This machine's IPv6 addresses, from `/proc/net/if_inet6` (32 hex digits each)."""
    found: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            try:
                found.append(str(ipaddress.IPv6Address(int(fields[0], 16))))
            except ValueError:
                continue
    return found


def ip_addresses(proc_net: Path = PROC_NET) -> list[str]:
    """The addresses others may reach this machine at: no loopback, no link-local."""
    texts = []
    for name in ("fib_trie", "if_inet6"):
        try:
            texts.append((name, (proc_net / name).read_text()))
        except OSError:
            continue
    found: list[str] = []
    for name, text in texts:
        found += parse_fib_trie(text) if name == "fib_trie" else parse_if_inet6(text)
    addresses: list[str] = []
    for text_address in dict.fromkeys(found):
        try:
            address = ipaddress.ip_address(text_address)
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            addresses.append(str(address))
    return addresses[:MAX_STATUS_LIST]


def disk_free(path: Path) -> int | None:
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def _bounded(value: int | None, top: int) -> int | None:
    return None if value is None else max(0, min(value, top))


def _age_s(iso: str | None, now: float) -> float | None:
    try:
        return None if iso is None else max(0.0, now - datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return None


# --- the status --------------------------------------------------------------------------


class StatusReader:
    """Builds a `DeviceStatus` from the running agent's parts (read, never changed)."""

    def __init__(
        self,
        *,
        store: Store,
        cache: ContentCache,
        state_dir: Path,
        cloud_clock: CloudClock,
        schedule_clock: ScheduleClock,
        decision: Callable[[], Decision | None],
        open_play: Callable[[], OpenPlay | None],
        connection: Callable[[], ConnectionState],
        downloads: Callable[[], dict[str, Any]] = dict,
        synced_at: Callable[[], float | None] = lambda: None,
        display: Callable[[], str | None] = lambda: None,
        clock_offset_s: Callable[[], float | None] = lambda: None,
        synchronised: Callable[[], bool | None] = local_clock_synchronised,
        thermal_dir: Path = THERMAL_DIR,
        proc_net: Path = PROC_NET,
        throttled: Callable[[], str | None] = run_throttled,
        started: float | None = None,
    ) -> None:
        """`synced_at`: our `time.time()` at the last answer to a state request."""
        self._store = store
        self._cache = cache
        self._state_dir = state_dir
        self._cloud_clock = cloud_clock
        self._schedule_clock = schedule_clock
        self._decision = decision
        self._open_play = open_play
        self._connection = connection
        self._downloads = downloads
        self._synced_at = synced_at
        self._display = display
        self._clock_offset_s = clock_offset_s
        self._synchronised = synchronised
        self._thermal_dir = thermal_dir
        self._proc_net = proc_net
        self._throttled = throttled
        self._started = time.monotonic() if started is None else started

    def signature(self) -> tuple[object, ...]:
        """What counts as a significant change: the playlist in force, the schedule's reason
        and source, whether the cloud answers, and the display (turned, its volume)."""
        decision = self._decision()
        return (
            decision.playlist_id if decision else None,
            decision.reason.value if decision else None,
            decision.source_id if decision else None,
            self._connection().online,
            self._display(),
        )

    async def read(self) -> DeviceStatus:
        """The status now; the slow readings (a subprocess) run in a thread."""
        throttled = await asyncio.to_thread(self._throttled)
        now = time.time()
        usage = self._cache.usage()
        downloads = self._downloads()
        pending = downloads.get("pending")
        pending = pending if isinstance(pending, int) else None
        synced_at = self._synced_at()
        last_sync = None if synced_at is None else datetime.fromtimestamp(synced_at, UTC)
        offset = self._clock_offset_s()
        return DeviceStatus(
            agent_version=__version__,
            uptime_s=round(time.monotonic() - self._started, 1),
            playing=self._playing(),
            message=None if self._open_play() is not None else self._message(),
            schedule=self._schedule(),
            cache_used_bytes=_bounded(usage.used_bytes, MAX_ASSET_BYTES),
            cache_limit_bytes=_bounded(usage.limit_bytes, MAX_ASSET_BYTES),
            disk_free_bytes=_bounded(disk_free(self._state_dir), MAX_ASSET_BYTES),
            downloads_pending=_bounded(pending, MAX_STATE_ASSETS),
            last_sync_at=None if last_sync is None else self._cloud_clock.convert(last_sync),
            cursor_age_s=_age_s(self._store.get(Meta.LAST_SYNC_AT), now),
            clock_offset_s=None if offset is None else round(offset, 3),
            clock_synchronised=self._synchronised(),
            clock_source=self._schedule_clock.read().source.value,
            cpu_temp_c=cpu_temperature(self._thermal_dir),
            throttled=throttled,
            display=self._display(),
            ip_addresses=ip_addresses(self._proc_net),
            last_errors=self._errors(downloads),
        )

    def _playing(self) -> NowPlayingStatus | None:
        open_play = self._open_play()
        if open_play is None:
            return None
        return NowPlayingStatus(
            name=open_play.name,
            asset_id=open_play.asset_id,
            playlist_id=open_play.playlist_id,
            since=open_play.started_at,
        )

    def _message(self) -> str | None:
        message = self._store.get_json(Meta.SCREEN_MESSAGE)
        if not isinstance(message, dict):
            return None
        text = f"{message.get('title')}: {message.get('headline')}"
        return one_line(text, MAX_DESCRIPTION_CHARS)

    def _schedule(self) -> ScheduleStatus | None:
        decision = self._decision()
        if decision is None:
            return None
        return ScheduleStatus(
            reason=decision.reason.value,
            source_id=decision.source_id,
            why=one_line(decision.why, MAX_DESCRIPTION_CHARS),
            next_boundary=decision.next_boundary,
        )

    def _errors(self, downloads: dict[str, Any]) -> list[str]:
        errors: list[str] = []
        connection = self._connection()
        if connection.last_error:
            errors.append(f"{connection.last_error_at} cloud: {connection.last_error}")
        for failing in downloads.get("failing") or ():
            sha = str(failing.get("sha256", ""))[:12]
            errors.append(f"download {sha}: {failing.get('reason')}")
        return [one_line(error, MAX_DESCRIPTION_CHARS) for error in errors][:MAX_STATUS_LIST]


# --- the task ----------------------------------------------------------------------------


class Heartbeats:
    """Queues a heartbeat every `interval_s`, and after a significant change (`poke`)."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        reader: StatusReader,
        interval_s: float,
        now: Callable[[], datetime],
        enrolled: Callable[[], bool],
        min_gap_s: float = MIN_CHANGE_GAP_S,
    ) -> None:
        """`now`: the cloud's time as this device knows it; `enrolled`: whether there is a
        device to speak for (no heartbeat before enrollment)."""
        self._outbox = outbox
        self._reader = reader
        self._interval_s = interval_s
        self._now = now
        self._enrolled = enrolled
        self._min_gap_s = min_gap_s
        self._poked = asyncio.Event()
        self._failing = False
        self.sent = 0

    def poke(self) -> None:
        """Something significant may have changed: a heartbeat follows if it did."""
        self._poked.set()

    async def run(self) -> None:
        last_sent = float("-inf")
        last_signature: tuple[object, ...] | None = None
        while True:
            due = last_sent + self._interval_s
            poked = await wait_event(self._poked, max(0.0, due - time.monotonic()))
            self._poked.clear()
            if not self._enrolled():
                last_sent, last_signature = time.monotonic(), None
                continue
            if poked and time.monotonic() < due:
                if self._reader.signature() == last_signature:
                    continue
                await asyncio.sleep(max(0.0, last_sent + self._min_gap_s - time.monotonic()))
            last_signature = self._reader.signature()
            last_sent = time.monotonic()
            await self.send()

    async def send(self) -> Heartbeat | None:
        """Queue one heartbeat now; None when the store refused it (logged once a streak)."""
        at = self._now()
        try:
            status = await self._reader.read()
            heartbeat = Heartbeat(id=str(uuid.uuid4()), at=at, status=status)
            self._outbox.put(heartbeat)
        except StoreError as exc:
            if not self._failing:
                log.warning("heartbeat: %s; trying again at the next one", exc)
            self._failing = True
            return None
        except Exception:  # a bug must not stop the heartbeats, nor the agent
            if not self._failing:
                log.exception("heartbeat: building it failed; trying again at the next one")
            self._failing = True
            return None
        self._failing = False
        self.sent += 1
        return heartbeat


__all__ = [
    "Heartbeats",
    "StatusReader",
    "cpu_temperature",
    "ip_addresses",
    "parse_fib_trie",
    "parse_if_inet6",
    "parse_throttled",
    "run_throttled",
]
