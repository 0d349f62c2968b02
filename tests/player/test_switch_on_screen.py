"""Between two items of different colours the screen shows the first, then the second,
and never black in between: read from Xvfb's framebuffer every half millisecond while
the real renderer switches (window output, no window manager)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from player import (
    Ended,
    PlayableItem,
    RendererEvent,
    Started,
    VlcRenderer,
    choose_video_output,
)
from tests.player.conftest import image, run, video
from tests.player.test_vlc_renderer import Events
from tests.player.xvfb import Framebuffer, running_xvfb, xvfb_available
from tests.support.media import ffmpeg_available, make_image

pytestmark = [
    pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)"),
    pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make test media"),
]

RED, GREEN, BLUE = (200, 0, 0), (0, 180, 0), (0, 0, 200)
MIDDLE = (960, 540)


def solid_clip(path: Path, colour: tuple[int, int, int], seconds: float = 0.6) -> Path:
    """An H.264 clip of one colour (25 fps, 320x240)."""
    hex_colour = "0x" + "".join(f"{channel:02x}" for channel in colour)
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
        "-i", f"color=c={hex_colour}:s=320x240:r=25:d={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def name_of(pixel: tuple[int, int, int]) -> str:
    if max(pixel) < 16:
        return "black"
    for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        if all(abs(a - b) <= 40 for a, b in zip(pixel, colour, strict=True)):
            return name
    return "other"  # a blend while a picture is redrawn


@contextmanager
def watching(
    framebuffer: Framebuffer, changed_at: list[float] | None = None
) -> Iterator[list[str]]:
    """The colours the middle of the screen went through, each change once, up to and
    including what it shows when the block ends (one last sample after the stop: under
    load the sampler may not run between the caller seeing a colour and leaving). When
    given, `changed_at` gets the monotonic time each colour was first seen."""
    seen: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        while True:
            last = stop.is_set()
            name = name_of(framebuffer.pixel(*MIDDLE))
            if not seen or seen[-1] != name:
                seen.append(name)
                if changed_at is not None:
                    changed_at.append(time.monotonic())
            if last:
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=sample, name="framebuffer sampler", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


async def switch(
    renderer: VlcRenderer,
    events: Events,
    first: PlayableItem,
    second: PlayableItem,
    on_screen: Callable[[], bool] = lambda: False,
) -> None:
    """Show `first`, then `second` when `first` ends, as the engine does; return once
    `on_screen()` says the second is on screen (at most 5 s after it started, and at
    least 0.3 s: on a loaded machine the software GL output reaches the screen late)."""
    renderer.play(first)
    await events.wait_for(lambda: any(isinstance(e, Started) for e in events.seen), "first")
    renderer.prepare(second)  # a hint, as the engine gives it
    await events.wait_for(lambda: any(isinstance(e, Ended) for e in events.seen), "its end")
    renderer.play(second)
    await events.wait_for(
        lambda: sum(isinstance(e, Started) for e in events.seen) == 2, "the second"
    )
    await asyncio.sleep(0.3)
    deadline = time.monotonic() + 5.0
    while not on_screen() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def between(seen: list[str], first: str, second: str) -> list[str]:
    assert first in seen and second in seen[seen.index(first) :], seen
    start = seen.index(first)
    return seen[start : seen.index(second, start) + 1]


@pytest.mark.parametrize(
    ("kinds", "double_buffer"),
    [
        ("image->image", False),
        ("video->video", False),
        ("image->video", False),
        ("video->image", False),
        ("image->image", True),
        ("video->image", True),
    ],
)
def test_no_black_between_two_items(
    kinds: str, double_buffer: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def item(kind: str, name: str, colour: tuple[int, int, int]) -> PlayableItem:
        if kind == "image":
            return image(name, make_image(tmp_path / f"{name}.png", "", colour, (1280, 720)), 600)
        return video(name, solid_clip(tmp_path / f"{name}.mp4", colour))

    first_kind, second_kind = kinds.split("->")
    first = item(first_kind, "first", RED if first_kind == "image" else GREEN)
    second = item(second_kind, "second", BLUE)
    first_colour = "red" if first_kind == "image" else "green"

    async def scenario(framebuffer: Framebuffer) -> list[str]:
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        renderer = VlcRenderer(
            video_output=output, messages_dir=tmp_path / "m", double_buffer=double_buffer
        )
        events = Events()
        await renderer.start(events)
        try:
            with watching(framebuffer) as seen:
                await switch(renderer, events, first, second, lambda: "blue" in seen)
            return seen
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        monkeypatch.setenv("DISPLAY", xvfb.display)
        seen = run(scenario(xvfb.framebuffer))
    assert "black" not in between(seen, first_colour, "blue"), seen


def test_a_video_opened_under_an_image_and_then_called_off_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One player opens a video under a still image before the image ends; when the next
    item changes meanwhile (`prepare(None)`: the playlist changed), that video is stopped
    there and then: it never shows. Played afterwards, it does."""
    picture = image("first", make_image(tmp_path / "first.png", "", RED, (1280, 720)), 50)
    clip = video("second", solid_clip(tmp_path / "second.mp4", GREEN, seconds=1.0))

    async def scenario(framebuffer: Framebuffer) -> tuple[list[str], list[str]]:
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "m")
        events = Events()
        loop = asyncio.get_running_loop()

        def emit(event: RendererEvent) -> None:
            events(event)
            if isinstance(event, Started) and event.item is picture:
                # Called off in the loop turn after the video was opened under the image.
                loop.call_soon(renderer.prepare, None)

        await renderer.start(emit)
        try:
            with watching(framebuffer) as seen:
                renderer.play(picture)
                # 50 ms is less than libvlc's start-up: the video opens under the image as
                # soon as the image is out.
                renderer.prepare(clip)
                await events.wait_for(lambda: events.kinds() == ["Started", "Ended"], "its end")
                await asyncio.sleep(1.5)  # longer than the clip
                called_off = list(seen)
                renderer.play(clip)
                await events.wait_for(lambda: len(events.seen) == 3, "the video")
                deadline = time.monotonic() + 5.0
                while "green" not in seen and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            assert events.kinds() == ["Started", "Ended", "Started"]
            return called_off, seen
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        monkeypatch.setenv("DISPLAY", xvfb.display)
        called_off, seen = run(scenario(xvfb.framebuffer))
    assert "green" not in called_off, called_off
    assert "green" in seen, seen  # the sampler does see the video when it plays


def two_colour_clip(path: Path, fps: int, first: int, last: int) -> Path:
    """An H.264 clip at `fps`: `first` green frames, then `last` blue ones."""
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=0x00b400:s=320x240:r={fps}:d={first / fps}",
        "-f", "lavfi", "-i", f"color=c=0x0000c8:s=320x240:r={fps}:d={last / fps}",
        "-filter_complex", "[0][1]concat=n=2:v=1", "-r", str(fps),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def test_a_video_at_a_low_frame_rate_plays_for_its_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libvlc 3 ends a video's input once its last pictures are handed to the output: at
    2 fps a 3 s clip ended within about a second of its start. The renderer keeps it on
    screen for its length (the next picture comes then, and `Ended` says so). Measured
    from the renderer's `Started` to the next picture on screen: the video stays at least
    2.8 s (2.05 s before). Not from the video's first colour on screen: on a loaded
    machine the software GL output showed it up to 0.75 s after `Started`."""
    clip = video("clip", two_colour_clip(tmp_path / "clip.mp4", fps=2, first=5, last=1))
    picture = image("next", make_image(tmp_path / "next.png", "", RED, (1280, 720)), 2000)

    async def scenario(framebuffer: Framebuffer) -> tuple[list[str], list[float], Events]:
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "m")
        events = Events()
        await renderer.start(events)
        changed_at: list[float] = []
        try:
            with watching(framebuffer, changed_at) as seen:
                await switch(renderer, events, clip, picture, lambda: "red" in seen)
            return seen, changed_at, events
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        monkeypatch.setenv("DISPLAY", xvfb.display)
        seen, changed_at, events = run(scenario(xvfb.framebuffer))
    assert "black" not in between(seen, "green", "red"), seen
    started_at = events.at[events.kinds().index("Started")]
    shown_s = changed_at[seen.index("red")] - started_at
    assert shown_s >= 2.8, f"the 3 s video was on screen {shown_s:.2f} s ({seen})"
    ended = next(event for event in events.seen if isinstance(event, Ended))
    assert ended.played_ms >= 2800, ended
