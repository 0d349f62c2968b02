"""What remote commands do to the screen (`player.renderer.RemoteControls` on the real
`VlcRenderer`): `identify` lays the screen's name over whatever plays and takes it off,
checked on the pixels of a real X screen (Xvfb); a snapshot leaves nothing on screen;
`set_volume` reaches libvlc at once and stays for the next item."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from player import VideoOutput, VlcRenderer, choose_video_output
from player.overlay import draw_identify
from tests.player.conftest import GUARD_S, Media, image, run, video
from tests.player.test_vlc_renderer import Events, open_renderer
from tests.player.xvfb import Framebuffer, running_xvfb, xvfb_available
from tests.support.media import ffmpeg_available, make_image, make_video

needs_xvfb = pytest.mark.skipif(
    not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)"
)
GREEN = (0, 160, 0)


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def white_pixels(framebuffer: Framebuffer, box: tuple[int, int, int, int] | None = None) -> int:
    """How many pixels of the screen (or of `box`) are near white: the identify text."""
    shot = framebuffer.screenshot().convert("L")
    if box is not None:
        shot = shot.crop(box)
    return sum(shot.histogram()[230:])


def white_box(framebuffer: Framebuffer) -> tuple[int, int, int, int] | None:
    """The bounding box of the near-white pixels on screen."""
    return framebuffer.screenshot().convert("L").point(lambda v: 255 if v >= 230 else 0).getbbox()


async def until(condition, what: str) -> float:  # type: ignore[no-untyped-def]
    """Wait for `condition`; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > GUARD_S:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return loop.time() - started


async def steadily(condition, hold_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Wait until `condition` has held for `hold_s`; returns the loop time it began to."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD_S
    since: float | None = None
    while since is None or loop.time() - since < hold_s:
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        now = loop.time()
        if not condition():
            since = None
        elif since is None:
            since = now
        await asyncio.sleep(0.02)
    return since


def window_output(display: str, monkeypatch: pytest.MonkeyPatch) -> VideoOutput:
    monkeypatch.setenv("DISPLAY", display)
    return choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))


def test_the_overlay_is_drawn_for_the_picture_and_turned_with_the_screen() -> None:
    upright = draw_identify("Lobby screen", (1920, 1080), 0)
    assert upright.width > upright.height
    assert upright.height <= 1080 // 6 + 2 * (1080 // 6 // 3) + 60  # the type is 1/6 high
    assert upright.width <= 0.9 * 1920
    turned = draw_identify("Lobby screen", (1080, 1920), 90)  # a portrait screen, turned
    assert turned.height > turned.width
    # a long name shrinks to fit the width instead of running off the screen
    long = draw_identify("The screen in the north lobby by the lifts " * 2, (640, 360), 0)
    assert long.width <= 0.9 * 640
    corner = upright.getpixel((2, 2))
    assert isinstance(corner, tuple) and corner[3] < 255  # the band lets the picture through
    with pytest.raises(ValueError):
        draw_identify("x", (10, 10), 45)


@needs_xvfb
def test_identify_shows_the_name_over_a_held_picture_then_takes_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    green = make_image(tmp_path / "green.png", "", GREEN, size=(1920, 1080))
    timings: dict[str, float] = {}

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        output = window_output(display, monkeypatch)
        async with open_renderer(output, tmp_path) as (renderer, events):
            renderer.play(image("green", green, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            await until(lambda: near(framebuffer.pixel(960, 540), GREEN), "it on screen")
            await asyncio.sleep(0.8)  # a held picture's player is paused by now
            assert white_pixels(framebuffer) == 0

            asked_at = asyncio.get_running_loop().time()
            assert renderer.identify("Lobby screen", 2.0)
            timings["shown"] = await until(
                lambda: white_pixels(framebuffer) > 5000, "the name on screen"
            )
            box = white_box(framebuffer)
            assert box is not None
            left, top, right, bottom = box
            # large type in the middle of the screen, the rest of the picture untouched
            assert right - left > 600 and bottom - top > 100
            assert abs((left + right) / 2 - 960) < 40 and abs((top + bottom) / 2 - 540) < 60
            assert near(framebuffer.pixel(20, 20), GREEN)
            assert near(framebuffer.pixel(1900, 1060), GREEN)
            # the band darkens what is under it
            assert sum(framebuffer.pixel(left - 10, (top + bottom) // 2)) < sum(GREEN) - 40

            # libvlc leaves overlays out of snapshots: the shot is the picture alone
            shot = tmp_path / "shot.png"
            assert await renderer.snapshot(shot)
            with Image.open(shot) as picture:
                assert max(picture.convert("L").getextrema()) < 230

            # The frame libvlc takes the snapshot of is shown without the overlay (it blinks
            # once, maybe a little after snapshot() returned): gone is gone for good.
            gone_at = await steadily(lambda: white_pixels(framebuffer) == 0, 0.4, "it to go")
            timings["gone"] = gone_at - asked_at
            assert near(framebuffer.pixel(960, 540), GREEN)
            assert events.kinds() == ["Started"]  # no switch, nothing for proof of play

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))
    print(f"identify over a held picture: shown after {timings['shown'] * 1000:.0f} ms, "
          f"gone {timings['gone'] * 1000:.0f} ms after identify(…, 2.0)")  # fmt: skip
    assert timings["shown"] < 1.5
    assert 1.9 < timings["gone"] < 3.0


@needs_xvfb
def test_identify_stays_across_a_switch_to_a_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make test media")
    green = make_image(tmp_path / "green.png", "", GREEN, size=(1280, 720))
    clip = make_video(tmp_path / "clip.mp4", seconds=4.0, size=(320, 240))

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        output = window_output(display, monkeypatch)
        async with open_renderer(output, tmp_path) as (renderer, events):
            renderer.play(image("green", green, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            assert renderer.identify("Lobby", 6.0)
            await until(lambda: white_pixels(framebuffer) > 2000, "the name over the picture")
            renderer.play(video("clip", clip))
            await events.wait_for(lambda: len(events.seen) == 2, "the video")
            await asyncio.sleep(0.5)
            # over the video too, drawn for its 320x240 picture and scaled with it
            box = white_box(framebuffer)
            assert box is not None
            assert abs((box[0] + box[2]) / 2 - 960) < 60
            assert box[2] - box[0] > 300

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


@needs_xvfb
def test_identify_on_a_screen_mounted_portrait_reads_upright(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    green = make_image(tmp_path / "green.png", "", GREEN, size=(1080, 1920))

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        output = window_output(display, monkeypatch)
        renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "messages", rotation=90)
        events = Events()
        await renderer.start(events)
        try:
            renderer.play(image("green", green, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            assert renderer.identify("Lobby screen", 5.0)
            await until(lambda: white_pixels(framebuffer) > 3000, "the name on screen")
            box = white_box(framebuffer)
            assert box is not None
            # turned with the screen: on the panel, the text runs top to bottom
            assert box[3] - box[1] > 2 * (box[2] - box[0])
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


@needs_xvfb
def test_a_snapshot_leaves_nothing_on_the_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libvlc writes a snapshot's file name over the picture unless told --no-osd."""
    green = make_image(tmp_path / "green.png", "", GREEN, size=(1920, 1080))

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        output = window_output(display, monkeypatch)
        async with open_renderer(output, tmp_path) as (renderer, events):
            renderer.play(image("green", green, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            await until(lambda: near(framebuffer.pixel(960, 540), GREEN), "it on screen")
            for n in range(3):
                assert await renderer.snapshot(tmp_path / f"shot-{n}.png")
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                assert white_pixels(framebuffer) == 0
                await asyncio.sleep(0.1)

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


def test_identify_on_the_dummy_output_touches_nothing(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        renderer = VlcRenderer(video_output=dummy_output, messages_dir=tmp_path / "m")
        assert not renderer.identify("before start", 1.0)
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.play(image("red", media.red, 1500))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            assert renderer.identify("Lobby\nscreen\x00", 0.3)
            assert list((tmp_path / "messages" / "overlays").glob("identify-*.png"))
            await events.wait_for(lambda: len(events.seen) == 2, "the picture's end")
            assert events.kinds() == ["Started", "Ended"]  # its timing untouched

    run(scenario())


def alsa_null_output(dummy: VideoOutput) -> VideoOutput:
    """The dummy output, but audio to ALSA's null device: libvlc then applies (and reports)
    a volume, which its dummy audio output does not."""
    args = tuple(a for a in dummy.vlc_args if not a.startswith("--aout"))
    return VideoOutput("dummy", (*args, "--aout=alsa", "--alsa-audio-device=null"), "test")


def test_set_volume_reaches_libvlc_at_once_and_stays_for_the_next_item(
    dummy_output: VideoOutput, tmp_path: Path
) -> None:
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make test media")
    clip = tmp_path / "tone.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=160x120:rate=25:duration=2", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip)],
        check=True,
    )  # fmt: skip

    async def scenario() -> None:
        renderer = VlcRenderer(
            video_output=alsa_null_output(dummy_output), messages_dir=tmp_path / "m", volume=100
        )
        events = Events()
        await renderer.start(events)
        try:
            player = renderer._slots[0].player  # what libvlc itself reports
            renderer.play(video("tone", clip))
            await events.wait_for(lambda: len(events.seen) == 1, "the clip")
            await until(lambda: player.audio_get_volume() == 100, "libvlc's volume")
            renderer.set_volume(30)
            # libvlc reports the new volume once its audio output has taken it: on a loaded
            # machine (CI) not always before set_volume returned.
            await until(lambda: player.audio_get_volume() == 30, "the new volume in libvlc")
            await events.wait_for(lambda: len(events.seen) == 2, "the clip's end")
            renderer.play(video("tone-again", clip))
            await events.wait_for(lambda: len(events.seen) == 3, "the clip again")
            await until(lambda: player.audio_get_volume() != -1, "an audio output")
            assert player.audio_get_volume() == 30
            assert renderer.volume == 30
        finally:
            await renderer.close()

    run(scenario())
