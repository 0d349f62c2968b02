"""Benchmark: how late the screen switches at a schedule boundary, and what the schedule costs
between boundaries.

In one process: the agent's store (SQLite), content cache, `ScheduleRunner` (APScheduler
date job), `Screen`, `Player` and the real `VlcRenderer` (libvlc's dummy output, headless).
The stored schedule is one playlist of `--boundaries` + 1 images, each valid for
`--spacing` seconds after the previous one (item windows, to the microsecond), so each
boundary switches the picture. Lateness is the time from the boundary to the renderer's
`Started` of the new picture (what a viewer sees, as libvlc reports it), on the same clock.

Then the cost between boundaries: context switches per second of the whole process (every
thread: libvlc's and ours) while one still image shows for `--idle-seconds`, with the runner
armed for a boundary an hour away, against the same without a runner. Asserts nothing.

Usage: python bench/schedule_boundaries.py [--boundaries 50] [--spacing 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.clock import ScheduleClock
from agent.content_cache import ContentCache
from agent.schedule_runner import ScheduleRunner
from agent.screen import Screen
from agent.store import Store
from bench.still_image import context_switches
from player import Ending, PlayableItem, Player, VlcRenderer, choose_video_output
from sync.models import Asset, DeviceRecord, Playlist, PlaylistItem
from tests.support.media import make_image
from tests.support.pages import page, upsert

COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#bf8700")


def local_clock() -> ScheduleClock:
    """This machine's clock, as an agent whose clock NTP keeps uses it."""
    return ScheduleClock(lambda: 0.0, synchronised=lambda: True)


class Starts:
    """The player's listener: when each item appeared."""

    def __init__(self) -> None:
        self.started: list[tuple[str, datetime]] = []

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self.started.append((item.name, started_at))

    def item_ended(
        self, item: PlayableItem, ended_at: datetime, played_ms: int, how: Ending
    ) -> None:
        pass

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        print(f"failed: {item.name}: {reason}")


def fill_store(
    root: Path, count: int, start: datetime, spacing: float
) -> tuple[Store, ContentCache]:
    cache = ContentCache(root)
    cache.root.mkdir(parents=True)
    assets, items = [], []
    for index in range(count):
        image = make_image(root / f"{index}.png", str(index), COLOURS[index % len(COLOURS)])
        data = image.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        cache.path(sha).write_bytes(data)
        assets.append(Asset(id=f"a{index}", name=f"{index}.png", sha256=sha,
                            media_type="image", size=len(data)))  # fmt: skip
        begin = start + timedelta(seconds=spacing * index) if index else start - timedelta(hours=1)
        end = start + timedelta(seconds=spacing * (index + 1))
        items.append(PlaylistItem.model_validate({
            "asset_id": f"a{index}", "position": index, "duration_ms": 3_600_000,
            "valid_from": begin.isoformat(), "valid_until": end.isoformat(),
        }))  # fmt: skip
    device = DeviceRecord(id="d", name="bench", tenant_id="t", playlist_id="p")
    playlist = Playlist(id="p", name="boundaries", items=items)
    store = Store.open(root)
    objects = (device, playlist, *assets)
    store.apply_page(page("c", *(upsert(o, 1) for o in objects), full=True), starts_listing=True)
    return store, cache


async def lateness(count: int, spacing: float, root: Path) -> list[float]:
    start = datetime.now(UTC) + timedelta(seconds=3)  # libvlc starts meanwhile
    store, cache = fill_store(root, count + 1, start, spacing)
    starts = Starts()
    renderer = VlcRenderer(video_output=choose_video_output("dummy", environ={}),
                           messages_dir=root / "messages")  # fmt: skip
    player = Player(renderer=renderer, listener=starts)
    runner = ScheduleRunner(store=store, screen=Screen(player, cache), clock=local_clock())
    runner.start()
    task = asyncio.create_task(player.run())
    try:
        runner.reload()
        end = start + timedelta(seconds=spacing * count + 0.5)
        await asyncio.sleep((end - datetime.now(UTC)).total_seconds())
    finally:
        runner.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    late = []
    for name, at in starts.started:
        index = int(name.split(".")[0])
        if index == 0:
            continue
        boundary = start + timedelta(seconds=spacing * index)
        late.append((at - boundary).total_seconds() * 1000)
    return late


async def idle_switches(seconds: float, root: Path, *, with_runner: bool) -> float:
    start = datetime.now(UTC)
    store, cache = fill_store(root, 1, start, 3600.0)
    renderer = VlcRenderer(video_output=choose_video_output("dummy", environ={}),
                           messages_dir=root / "messages")  # fmt: skip
    player = Player(renderer=renderer, listener=Starts())
    screen = Screen(player, cache)
    runner = ScheduleRunner(store=store, screen=screen, clock=local_clock())
    task = asyncio.create_task(player.run())
    try:
        if with_runner:
            runner.start()
            runner.reload()  # the one image, next boundary an hour away
        else:
            screen.show_items(store.playlist_items("p"))
        await asyncio.sleep(2.0)  # settle
        before, t0 = context_switches(), time.monotonic()
        await asyncio.sleep(seconds)
        rate = (context_switches() - before) / (time.monotonic() - t0)
    finally:
        runner.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        store.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boundaries", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between boundaries")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        late = asyncio.run(lateness(args.boundaries, args.spacing, Path(tmp) / "late"))
        without = asyncio.run(idle_switches(args.idle_seconds, Path(tmp) / "a", with_runner=False))
        with_ = asyncio.run(idle_switches(args.idle_seconds, Path(tmp) / "b", with_runner=True))
    late.sort()
    print(f"{len(late)} boundaries, {args.spacing:g} s apart: switch lateness (boundary -> the "
          "new picture's Started), ms")  # fmt: skip
    print(f"  median {statistics.median(late):.1f}   p95 {late[int(len(late) * 0.95) - 1]:.1f}"
          f"   max {late[-1]:.1f}   min {late[0]:.1f}")  # fmt: skip
    print(f"context switches per second, one still image, {args.idle_seconds:g} s:")
    print(f"  player alone {without:.1f}   with the schedule armed {with_:.1f}"
          f"   ratio {with_ / without:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
