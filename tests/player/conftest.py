"""Fixtures of the player tests: real media made with ffmpeg, a real libvlc output, and a
listener that records what the player told it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from player import (
    Ending,
    PlayableItem,
    Player,
    RetryPolicy,
    VideoOutput,
    VlcRenderer,
    choose_video_output,
)
from tests.support.media import ffmpeg_available, make_garbage, make_image, make_video

T = TypeVar("T")

# A failure guard only: every wait in these tests ends as soon as its condition holds.
GUARD_S = 20.0


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@dataclass(frozen=True)
class Media:
    """Files generated once per test session."""

    video_a: Path  # 1.0 s
    video_b: Path  # 0.6 s
    video_long: Path  # 3.0 s
    red: Path  # PNG
    blue: Path  # PNG
    garbage: Path
    empty: Path
    truncated_png: Path
    missing: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make test media")
    folder = tmp_path_factory.mktemp("media")
    red = make_image(folder / "red.png", "RED", "red")
    truncated = folder / "truncated.png"
    truncated.write_bytes(red.read_bytes()[:200])
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return Media(
        video_a=make_video(folder / "a.mp4", seconds=1.0),
        video_b=make_video(folder / "b.mp4", seconds=0.6),
        video_long=make_video(folder / "long.mp4", seconds=3.0),
        red=red,
        blue=make_image(folder / "blue.png", "BLUE", "blue"),
        garbage=make_garbage(folder / "garbage.mp4"),
        empty=empty,
        truncated_png=truncated,
        missing=folder / "missing.mp4",
    )


@pytest.fixture
def dummy_output() -> VideoOutput:
    """libvlc's dummy video and audio outputs: decodes for real, draws nothing."""
    output = choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))
    assert "--vout=dummy" in output.vlc_args and "--aout=dummy" in output.vlc_args
    return output


def video(key: str, path: Path, duration_ms: int | None = None) -> PlayableItem:
    return PlayableItem(key, path.name, key.ljust(64, "0"), "video", path, duration_ms)


def image(key: str, path: Path, duration_ms: int) -> PlayableItem:
    return PlayableItem(key, path.name, key.ljust(64, "0"), "image", path, duration_ms)


@dataclass
class Recorder:
    """A `PlayerListener` that keeps every call, with the monotonic time it arrived."""

    calls: list[tuple[str, str, Any, float]] = field(default_factory=list)
    endings: list[tuple[str, Ending]] = field(default_factory=list)  # (key, how) per end
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self._add("started", item, started_at)

    def item_ended(
        self, item: PlayableItem, ended_at: datetime, played_ms: int, how: Ending
    ) -> None:
        self.endings.append((item.key, how))
        self._add("ended", item, played_ms)

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        self._add("failed", item, reason)

    def _add(self, kind: str, item: PlayableItem, detail: Any) -> None:
        self.calls.append((kind, item.key, detail, time.monotonic()))
        self.changed.set()

    def keys(self, kind: str) -> list[str]:
        return [key for k, key, _, _ in self.calls if k == kind]

    def details(self, kind: str) -> list[tuple[str, Any]]:
        return [(key, detail) for k, key, detail, _ in self.calls if k == kind]

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until `condition()` holds; fail after GUARD_S."""
        deadline = time.monotonic() + GUARD_S
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; calls: {self.calls}")
            self.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.05))


@dataclass
class Running:
    player: Player
    renderer: VlcRenderer
    recorder: Recorder
    task: asyncio.Task[None]


@asynccontextmanager
async def running_player(
    output: VideoOutput, messages_dir: Path, retry: RetryPolicy | None = None
) -> AsyncIterator[Running]:
    """A Player on a real VlcRenderer, running until the block ends."""
    recorder = Recorder()
    renderer = VlcRenderer(video_output=output, messages_dir=messages_dir)
    player = Player(renderer=renderer, listener=recorder, retry=retry)
    task = asyncio.create_task(player.run())
    try:
        yield Running(player, renderer, recorder, task)
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, GUARD_S)
