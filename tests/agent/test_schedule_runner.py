"""The agent follows its stored schedule on its own: it wakes at each boundary (an APScheduler
date job), switches what plays, and says why.

Real parts: the SQLite store filled by pages as the cloud sends them, the content cache with
its files, the Screen and the Player. The renderer only records what it was asked to play
and when (the libvlc boundary; the end-to-end tests use real libvlc).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.clock import ClockSource, ScheduleClock
from agent.content_cache import ContentCache
from agent.schedule_runner import ScheduleRunner
from agent.screen import Screen
from agent.store import Meta, Store
from player import PlayableItem, Player, ScreenMessage
from player.renderer import EmitEvent
from sync.models import Asset, DeviceRecord, Interrupt, Playlist, PlaylistItem
from tests.player.conftest import Recorder, run
from tests.support.pages import page, upsert


class TimedRenderer:
    """Records (monotonic time, what) for each command; never sends events (images stay)."""

    def __init__(self) -> None:
        self.shown: list[tuple[float, str]] = []

    async def start(self, emit: EmitEvent) -> None:
        pass

    def play(self, item: PlayableItem) -> None:
        self.shown.append((time.time(), item.name))

    def show_message(self, message: ScreenMessage) -> None:
        self.shown.append((time.time(), f"message: {message.headline}"))

    async def snapshot(self, path: Path) -> bool:
        return False

    async def close(self) -> None:
        pass

    def names(self) -> list[str]:
        return [name for _, name in self.shown]


def asset(name: str) -> Asset:
    return Asset(
        id=f"as-{name}",
        name=name,
        sha256=hashlib.sha256(name.encode()).hexdigest(),
        media_type="image",
        size=3,
    )


def windowed(asset_id: str, position: int, start: datetime, end: datetime) -> PlaylistItem:
    return PlaylistItem.model_validate(
        {
            "asset_id": asset_id,
            "position": position,
            "duration_ms": 3_600_000,
            "valid_from": start.isoformat(),
            "valid_until": end.isoformat(),
        }
    )


def test_the_screen_switches_at_each_boundary_without_any_sync(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    t1, t2 = now + timedelta(seconds=1.5), now + timedelta(seconds=3)
    assets = [asset(name) for name in ("alert.png", "morning.png", "noon.png")]
    cache = ContentCache(tmp_path)
    cache.root.mkdir()
    for a in assets:
        cache.path(a.sha256).write_bytes(b"png")
    main = Playlist(
        id="pl-main",
        name="Main",
        items=[
            windowed("as-morning.png", 0, now - timedelta(hours=1), t2),
            windowed("as-noon.png", 1, t2, now + timedelta(hours=1)),
        ],
    )
    alert = Playlist(id="pl-alert", name="Alert", items=[PlaylistItem(asset_id="as-alert.png",
                                                                       position=0)])  # fmt: skip
    interrupt = Interrupt(id="int-1", playlist_id="pl-alert", starts_at=now, until=t1)
    device = DeviceRecord(id="dev-1", name="Lobby", tenant_id="t-1", playlist_id="pl-main")
    store = Store.open(tmp_path)
    objects = (device, main, alert, interrupt, *assets)
    store.apply_page(page("c1", *(upsert(o, 1) for o in objects), full=True), starts_listing=True)

    async def scenario() -> TimedRenderer:
        renderer = TimedRenderer()
        player = Player(renderer=renderer, listener=Recorder())
        clock = ScheduleClock(lambda: 0.0, synchronised=lambda: True)
        runner = ScheduleRunner(store=store, screen=Screen(player, cache), clock=clock)
        runner.start()
        task = asyncio.create_task(player.run())
        try:
            runner.reload()
            status = store.get_json(Meta.SCHEDULE)
            assert status["reason"] == "interrupt" and status["playlist"] == "Alert"
            assert status["clock"] == ClockSource.LOCAL
            assert datetime.fromisoformat(status["next_boundary"]) <= t1
            await asyncio.sleep((t2 - datetime.now(UTC)).total_seconds() + 0.8)
        finally:
            task.cancel()
            runner.stop()
        return renderer

    renderer = run(scenario())
    status = store.get_json(Meta.SCHEDULE)
    store.close()
    # the interrupt, then its end (back to the default playlist), then an item window opening
    assert renderer.names() == ["alert.png", "morning.png", "noon.png"]
    switches = zip(renderer.shown[1:], (t1, t2), strict=True)
    lateness = [shown - boundary.timestamp() for (shown, _), boundary in switches]
    assert all(0 <= late < 1.0 for late in lateness), lateness
    assert status["reason"] == "device default" and status["playlist"] == "Main"


def test_a_boundary_waits_for_the_cloud_clock_when_its_estimate_moved(tmp_path: Path) -> None:
    """The timer is armed with the offset known then; if the estimate of the cloud's clock
    moves before it fires (a finer sample arrived), the switch still happens at the boundary
    as the clock reads when it fires: never early."""
    offset = [10.0]  # the cloud's clock is 10 s ahead of ours, as first estimated
    cloud_now = datetime.fromtimestamp(time.time() + offset[0], UTC)
    until = cloud_now + timedelta(seconds=1.5)
    assets = [asset(name) for name in ("alert.png", "main.png")]
    cache = ContentCache(tmp_path)
    cache.root.mkdir()
    for a in assets:
        cache.path(a.sha256).write_bytes(b"png")
    main = Playlist(id="pl-main", name="Main", items=[PlaylistItem(asset_id="as-main.png",
                                                                   position=0)])  # fmt: skip
    alert = Playlist(id="pl-alert", name="Alert", items=[PlaylistItem(asset_id="as-alert.png",
                                                                       position=0)])  # fmt: skip
    interrupt = Interrupt(id="int-1", playlist_id="pl-alert", starts_at=cloud_now, until=until)
    device = DeviceRecord(id="dev-1", name="Lobby", tenant_id="t-1", playlist_id="pl-main")
    store = Store.open(tmp_path)
    objects = (device, main, alert, interrupt, *assets)
    store.apply_page(page("c1", *(upsert(o, 1) for o in objects), full=True), starts_listing=True)

    async def scenario() -> TimedRenderer:
        renderer = TimedRenderer()
        player = Player(renderer=renderer, listener=Recorder())
        clock = ScheduleClock(lambda: offset[0], synchronised=lambda: False)
        runner = ScheduleRunner(store=store, screen=Screen(player, cache), clock=clock)
        runner.start()
        task = asyncio.create_task(player.run())
        try:
            runner.reload()  # armed for `until` with the 10 s offset
            offset[0] = 9.4  # a finer estimate: the cloud's clock reads 0.6 s earlier
            await asyncio.sleep(until.timestamp() - 9.4 - time.time() + 0.5)
        finally:
            task.cancel()
            runner.stop()
        return renderer

    renderer = run(scenario())
    store.close()
    assert renderer.names() == ["alert.png", "main.png"]
    switched_at = renderer.shown[1][0] + offset[0]  # on the cloud's clock as now estimated
    assert 0 <= switched_at - until.timestamp() < 0.3
