"""`VlcRenderer` with real libvlc (dummy video and audio outputs) and real media."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from player import (
    Ended,
    Failed,
    RendererError,
    RendererEvent,
    RendererState,
    ScreenMessage,
    Started,
    VideoOutput,
    VlcRenderer,
    VlcUnavailable,
)
from tests.player.conftest import GUARD_S, Media, image, run, video


class Events:
    """What the renderer emitted, in order."""

    def __init__(self) -> None:
        self.seen: list[RendererEvent] = []
        self.at: list[float] = []  # when each was emitted (time.monotonic())
        self._changed = asyncio.Event()

    def __call__(self, event: RendererEvent) -> None:
        self.seen.append(event)
        self.at.append(time.monotonic())
        self._changed.set()

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.seen]

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + GUARD_S
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; events: {self.seen}")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.05)


@asynccontextmanager
async def open_renderer(
    output: VideoOutput, tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[VlcRenderer, Events]]:
    """A started renderer (`settings`: VlcRenderer's keyword arguments) and its events."""
    renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "messages", **settings)
    events = Events()
    await renderer.start(events)
    try:
        yield renderer, events
    finally:
        await renderer.close()


def is_final(event: RendererEvent) -> bool:
    return isinstance(event, Ended | Failed)


def test_video_starts_when_its_picture_is_out_and_ends_at_its_end(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            item = video("a", media.video_a)
            renderer.play(item)
            await events.wait_for(lambda: any(map(is_final, events.seen)), "the end of the video")
            assert events.kinds() == ["Started", "Ended"]
            started, ended = events.seen
            assert isinstance(started, Started) and isinstance(ended, Ended)
            assert started.item is item and ended.item is item
            assert started.length_ms == 1000  # the clip's length, read from the file
            assert started.at.tzinfo is not None and ended.at >= started.at
            assert 500 <= ended.played_ms <= 3000  # sanity only: the clip lasts 1 s
            assert renderer.state == RendererState.HELD

    run(scenario())


def test_video_with_a_duration_is_cut_there(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.play(video("long", media.video_long, duration_ms=300))
            await events.wait_for(lambda: any(map(is_final, events.seen)), "the cut")
            assert events.kinds() == ["Started", "Ended"]
            started, ended = events.seen
            assert isinstance(started, Started) and isinstance(ended, Ended)
            assert started.length_ms == 300
            assert ended.played_ms < 3000  # cut well before the clip's own end

    run(scenario())


@pytest.mark.parametrize("told", [True, False])
def test_a_video_told_to_come_after_an_image_is_ready_when_the_image_ends(
    told: bool, media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    """One player: told what comes next (`prepare`, as the engine does), the renderer
    opens the video under the image before the image ends, so play() finds its first
    picture out and the video starts without waiting for libvlc; not told, it waits."""

    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.play(image("red", media.red, 400))
            await events.wait_for(lambda: events.kinds() == ["Started"], "the image")
            clip = video("a", media.video_a)
            if told:
                renderer.prepare(clip)
            await events.wait_for(lambda: events.kinds() == ["Started", "Ended"], "its end")
            await asyncio.sleep(0.5)  # ample for libvlc to put a picture out, if it opened it
            renderer.play(clip)
            for _ in range(3):  # a few loop turns: no libvlc event can arrive in them
                await asyncio.sleep(0)
            started_at_once = events.kinds() == ["Started", "Ended", "Started"]
            assert started_at_once is told, events.seen
            await events.wait_for(lambda: len(events.seen) == 4, "the video's end")
            assert events.kinds() == ["Started", "Ended", "Started", "Ended"]
            assert [event.item.key for event in events.seen] == ["red", "red", "a", "a"]

    run(scenario())


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("garbage", "without showing a picture"),
        ("truncated_png", "without showing a picture"),
        ("missing", "file not found"),
        ("empty", "file is empty"),
    ],
)
def test_broken_files_fail_without_ever_starting(
    which: str, reason: str, media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            path = getattr(media, which)
            item = image("x", path, 1000) if path.suffix == ".png" else video("x", path)
            renderer.play(item)
            await events.wait_for(lambda: any(map(is_final, events.seen)), "the failure")
            assert events.kinds() == ["Failed"]
            failed = events.seen[0]
            assert isinstance(failed, Failed) and reason in failed.reason
            # A good file right after still plays: the player is not left broken.
            renderer.play(image("red", media.red, 100))
            await events.wait_for(lambda: len(events.seen) == 3, "the next item")
            assert events.kinds() == ["Failed", "Started", "Ended"]

    run(scenario())


def test_image_is_held_for_its_duration(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    """On-screen time measured from outside: the time between consecutive Started events."""

    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            stamps: list[float] = []
            durations = {"short": 300, "long": 900}
            for key in ["short", "long", "short"]:
                renderer.play(
                    image(key, media.red if key == "short" else media.blue, durations[key])
                )
                count = len(events.seen)
                await events.wait_for(lambda c=count: len(events.seen) >= c + 2, f"{key} to end")
                stamps.append(time.monotonic())
            assert events.kinds() == ["Started", "Ended"] * 3
            played = [e.played_ms for e in events.seen if isinstance(e, Ended)]
            for key, ms in zip(["short", "long", "short"], played, strict=True):
                assert 0.5 * durations[key] <= ms <= 3 * durations[key]
            # Three times as long on screen, within a wide margin.
            assert 2.0 <= (stamps[1] - stamps[0]) / (stamps[2] - stamps[1]) <= 4.5

    run(scenario())


def test_one_image_played_again_and_again_keeps_cycling(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            item = image("red", media.red, 150)
            for round_ in range(1, 4):
                renderer.play(item)
                await events.wait_for(lambda r=round_: len(events.seen) == 2 * r, "the image")
                assert renderer.state == RendererState.HELD
            assert events.kinds() == ["Started", "Ended"] * 3

    run(scenario())


def test_message_is_shown_and_a_snapshot_captures_it(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    message = ScreenMessage("Enroll this screen", "KXRT-9MBD", ("Enter this code",))

    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.show_message(message)
            deadline = time.monotonic() + GUARD_S
            while renderer.state != RendererState.MESSAGE and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert renderer.state == RendererState.MESSAGE and renderer.message == message
            snapshot = tmp_path / "shots" / "message.png"
            assert await renderer.snapshot(snapshot)
            with Image.open(snapshot) as shot:
                assert shot.size == (1920, 1080)
                assert ImageStat.Stat(shot.convert("L")).mean[0] < 60  # the dark message
            assert events.seen == []  # messages are not items: nothing for proof of play

            renderer.play(video("a", media.video_a, duration_ms=400))
            await events.wait_for(lambda: len(events.seen) == 1, "the video")
            video_shot = tmp_path / "shots" / "video.png"
            assert await renderer.snapshot(video_shot)
            with Image.open(video_shot) as shot:
                assert shot.size == (320, 240)

    run(scenario())


def test_unknown_vlc_option_is_a_clear_start_error(
    dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        renderer = VlcRenderer(
            video_output=dummy_output,
            messages_dir=tmp_path,
            extra_args=("--no-such-option-anywhere",),
        )
        with pytest.raises(VlcUnavailable, match="--no-such-option-anywhere"):
            await renderer.start(Events())
        await renderer.close()

    run(scenario())


def test_private_runtime_dir_replaces_an_unusable_one(
    dummy_output: VideoOutput, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))

    async def scenario() -> Path:
        async with open_renderer(dummy_output, tmp_path) as _:
            private = Path(os.environ["XDG_RUNTIME_DIR"])
            assert private != shared
            info = private.stat()
            assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
        return private

    private = run(scenario())
    assert not private.exists()  # removed on close


def test_close_is_idempotent_and_commands_after_it_are_refused(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        renderer = VlcRenderer(video_output=dummy_output, messages_dir=tmp_path)
        with pytest.raises(RendererError, match="start"):
            renderer.play(video("a", media.video_a))
        await renderer.start(Events())
        renderer.play(video("a", media.video_a))  # closing mid-play must not hang
        await renderer.close()
        await renderer.close()
        assert renderer.state == RendererState.CLOSED
        with pytest.raises(RendererError):
            renderer.play(video("a", media.video_a))
        assert not await renderer.snapshot(tmp_path / "x.png")

    run(scenario())
