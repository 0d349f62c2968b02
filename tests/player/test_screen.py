"""What reaches the screen: pictures fitted and letterboxed in a window under a bare X
server, snapshots, rotation, and the watchdog (real libvlc, real media)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from player import (
    Failed,
    Recovered,
    RendererEvent,
    Started,
    VideoOutput,
    VlcRenderer,
    choose_video_output,
)
from player.images import fitted_image
from tests.player.conftest import GUARD_S, Media, image, run, video
from tests.player.test_switch_on_screen import between, solid_clip, watching
from tests.player.test_vlc_renderer import Events, open_renderer
from tests.player.xvfb import (
    Framebuffer,
    move_pointer,
    running_xvfb,
    top_level_windows,
    xvfb_available,
)
from tests.support.media import ffmpeg_available, make_image, make_video

REPO = Path(__file__).resolve().parents[2]


def near(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + GUARD_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_a_window_without_window_manager_shows_every_item_fitted_and_letterboxed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = make_image(tmp_path / "wide.png", "", (0, 160, 0), size=(1280, 720))
    four_three = make_video(tmp_path / "43.mp4", seconds=3.0, size=(640, 480))

    async def scenario(display: str, framebuffer) -> None:  # type: ignore[no-untyped-def]
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        async with open_renderer(output, tmp_path) as (renderer, events):
            renderer.play(image("wide", wide, 5000))
            await events.wait_for(lambda: len(events.seen) == 1, "the image")
            await until(lambda: near(framebuffer.pixel(960, 540), (0, 160, 0)), "it on screen")
            # 1280x720 scaled up to the whole 1920x1080 screen: its colour reaches every edge.
            for x, y in [(2, 2), (1917, 2), (2, 1077), (1917, 1077), (960, 540)]:
                assert near(framebuffer.pixel(x, y), (0, 160, 0)), (x, y)

            renderer.play(video("43", four_three))
            await events.wait_for(lambda: len(events.seen) == 3, "the video")
            await until(lambda: framebuffer.pixel(100, 540) == (0, 0, 0), "the video on screen")
            shot = framebuffer.screenshot()
            # 4:3 on 16:9: 1440x1080 in the middle, black bars of 240 px left and right.
            column_means = [
                ImageStat.Stat(shot.crop((x, 0, x + 40, 1080))).mean
                for x in (0, 200, 260, 1620, 1680, 1880)
            ]
            assert max(column_means[0]) < 8 and max(column_means[1]) < 8  # left bar
            assert max(column_means[4]) < 8 and max(column_means[5]) < 8  # right bar
            assert sum(column_means[2]) > 60 and sum(column_means[3]) > 60  # picture
            rows = [ImageStat.Stat(shot.crop((300, y, 1600, y + 4))).mean for y in (0, 1076)]
            assert all(sum(row) > 60 for row in rows)  # full height: no bars top or bottom

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_no_mouse_pointer_shows_over_a_held_picture_when_the_mouse_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    green = make_image(tmp_path / "green.png", "", (0, 160, 0), size=(1920, 1080))

    def pointer_pixels(framebuffer) -> int:  # type: ignore[no-untyped-def]
        """Pixels around the pointer (at 960,540) that are not the picture's green."""
        box = framebuffer.screenshot().crop((930, 510, 990, 570))
        return sum(
            1
            for y in range(box.height)
            for x in range(box.width)
            if not near(box.getpixel((x, y)), (0, 160, 0))
        )

    async def scenario(display: str, framebuffer) -> int:  # type: ignore[no-untyped-def]
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        async with open_renderer(output, tmp_path) as (renderer, events):
            renderer.play(image("green", green, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            await until(lambda: near(framebuffer.pixel(960, 540), (0, 160, 0)), "it on screen")
            # Someone nudges a mouse plugged into the screen's computer.
            move_pointer(display, [(900, 500), (930, 520), (960, 540)])
            await asyncio.sleep(0.5)
            moved = pointer_pixels(framebuffer)
            # libvlc shows the pointer by giving the player's window the cursor None (the
            # parent's), and hides it after 1 s, but not while its player is paused on a
            # held picture: a pointer shown just before the pause stayed (seen under load).
            move_pointer(display, [(950, 530), (960, 540)], show_over_windows=True)
            await asyncio.sleep(0.5)
            return moved + pointer_pixels(framebuffer)

    with running_xvfb() as xvfb:
        assert run(scenario(xvfb.display, xvfb.framebuffer)) == 0


def held_player_stopped(renderer: VlcRenderer) -> bool:
    """The front player is stopped on its still picture: no libvlc video output alive."""
    front = renderer._front
    if front is None or not front.held or front.stopping is not None:
        return False
    state = front.player.get_state()
    return state.value in (0, 5)  # NothingSpecial, Stopped


def native_threads() -> int:
    """Threads of this process that Python did not start: libvlc's (and other C libraries')."""
    return len(os.listdir("/proc/self/task")) - threading.active_count()


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make test media")
def test_a_held_picture_stays_in_the_window_with_its_player_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    red = make_image(tmp_path / "red.png", "", (200, 0, 0), size=(1920, 1080))
    blue = solid_clip(tmp_path / "blue.mp4", (0, 0, 200))

    async def scenario(display: str, framebuffer: Framebuffer) -> list[str]:
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        async with open_renderer(output, tmp_path) as (renderer, events):
            idle_threads = native_threads()
            renderer.play(image("red", red, 60_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the picture")
            await until(lambda: held_player_stopped(renderer), "its player stopped")
            # No libvlc output (or input) thread is left: no wake-ups while it is held
            # (a stopped thread may take a moment to exit on a loaded machine).
            await until(lambda: native_threads() <= idle_threads, "libvlc's threads to end")
            loop = asyncio.get_running_loop()
            until_s = loop.time() + 2.0
            while loop.time() < until_s:
                assert near(framebuffer.pixel(960, 540), (200, 0, 0))
                assert near(framebuffer.pixel(3, 3), (200, 0, 0))
                await asyncio.sleep(0.05)
            assert held_player_stopped(renderer)

            shot = tmp_path / "held.png"  # the picture file, there is no output to ask
            assert await renderer.snapshot(shot)
            with Image.open(shot) as picture:
                mean = ImageStat.Stat(picture.convert("RGB")).mean
            assert near(tuple(round(c) for c in mean), (200, 0, 0), 25), mean

            with watching(framebuffer) as seen:  # the next item draws over the kept picture
                renderer.play(video("blue", blue))
                await events.wait_for(lambda: len(events.seen) == 2, "the video")
                await until(lambda: near(framebuffer.pixel(960, 540), (0, 0, 200)), "it shown")
            assert events.kinds() == ["Started", "Started"]
            return seen

    with running_xvfb() as xvfb:
        seen = run(scenario(xvfb.display, xvfb.framebuffer))
    assert "black" not in between(seen, "red", "blue"), seen


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg is needed to make test media")
def test_the_last_picture_stays_on_screen_while_the_agent_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renderer's process killed with SIGKILL leaves its picture on the screen, not the
    bare X server's black, until the next renderer draws over it; that one frees what the
    killed one left. A cleanly closed renderer leaves its last picture too, and
    `signage-agent release-screen` takes it off."""
    red_rgb, blue_rgb = (200, 0, 0), (0, 0, 200)
    red = make_image(tmp_path / "red.png", "", red_rgb, size=(1920, 1080))
    blue = solid_clip(tmp_path / "blue.mp4", blue_rgb, seconds=2.0)

    def release_screen() -> str:
        command = [sys.executable, "-m", "agent", "release-screen"]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=GUARD_S)
        assert done.returncode == 0, done.stderr
        return done.stdout

    async def scenario(display: str, framebuffer: Framebuffer) -> list[str]:
        monkeypatch.setenv("DISPLAY", display)
        command = [sys.executable, "-m", "tests.player.hold_on_screen", "image", str(red)]
        first = subprocess.Popen(
            [*command, str(tmp_path / "first")], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        try:
            assert first.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(first.stdout.readline), GUARD_S)
            assert line.strip() == "shown"
            await until(lambda: near(framebuffer.pixel(960, 540), red_rgb), "the picture")
            with watching(framebuffer) as seen:
                first.kill()
                await asyncio.to_thread(first.wait, GUARD_S)
                for _ in range(20):  # its process is gone, its picture is not
                    assert near(framebuffer.pixel(960, 540), red_rgb)
                    assert near(framebuffer.pixel(3, 3), red_rgb)
                    await asyncio.sleep(0.05)
                assert top_level_windows(display) == 1

                output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
                async with open_renderer(output, tmp_path) as (renderer, events):
                    # Its own window is over the killed one's, which is freed.
                    assert top_level_windows(display) == 1
                    assert near(framebuffer.pixel(960, 540), red_rgb)
                    renderer.play(video("blue", blue))
                    await events.wait_for(lambda: len(events.seen) == 1, "the video")
                    await until(lambda: near(framebuffer.pixel(960, 540), blue_rgb), "it shown")
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
            if first.stdout is not None:
                first.stdout.close()
        # Closed: its last picture stays until an agent, or an operator, takes it off.
        await asyncio.sleep(0.3)
        assert near(framebuffer.pixel(960, 540), blue_rgb)
        assert top_level_windows(display) == 1
        assert "took the picture" in await asyncio.to_thread(release_screen)
        await until(lambda: max(framebuffer.pixel(960, 540)) < 16, "the bare screen")
        assert top_level_windows(display) == 0
        assert "no picture" in await asyncio.to_thread(release_screen)
        return seen

    with running_xvfb() as xvfb:
        seen = run(scenario(xvfb.display, xvfb.framebuffer))
    assert "black" not in between(seen, "red", "blue"), seen


class OnScreenAtStart(Events):
    """Events, and what the middle of the screen showed at the instant of each `Started`."""

    def __init__(self, framebuffer: Framebuffer) -> None:
        super().__init__()
        self.framebuffer = framebuffer
        self.at_start: list[tuple[int, int, int]] = []

    def __call__(self, event: RendererEvent) -> None:
        if isinstance(event, Started):
            self.at_start.append(self.framebuffer.pixel(960, 540))
        super().__call__(event)


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_a_picture_is_on_screen_when_its_start_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the window the renderer draws pictures itself, so an image's `Started` (what
    proof of play records) comes once it is on the screen, told what comes next or not. A
    file that is no picture fails with a reason and leaves the screen as it was."""
    colours = [(200, 0, 0), (0, 180, 0), (0, 0, 200)]
    paths = [
        make_image(tmp_path / f"{index}.png", "", colour, size=(1280, 720))
        for index, colour in enumerate(colours)
    ]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a picture" * 100)

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "messages")
        events = OnScreenAtStart(framebuffer)
        await renderer.start(events)
        try:
            for round_, told in enumerate((False, True)):
                for index, path in enumerate(paths):
                    if told:  # as the engine does once the previous one is on screen
                        renderer.prepare(image(f"{index}", path, 60_000))
                        await asyncio.sleep(0.3)
                    renderer.play(image(f"{index}", path, 60_000))
                    count = 3 * round_ + index + 1
                    await events.wait_for(lambda: len(events.at_start) == count, "its start")  # noqa: B023
            for shown, colour in zip(events.at_start, colours * 2, strict=True):
                assert near(shown, colour), (events.at_start, colours)
            renderer.play(image("broken", broken, 60_000))
            await events.wait_for(lambda: isinstance(events.seen[-1], Failed), "its failure")
            failed = events.seen[-1]
            assert isinstance(failed, Failed) and "broken.png" in failed.reason, failed
            await asyncio.sleep(0.3)
            assert near(framebuffer.pixel(960, 540), colours[-1])  # the screen as it was
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_a_stopped_held_picture_cycles_and_turns_in_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = Image.new("RGB", (1920, 1080), (220, 0, 0))  # top half red
    pattern.paste((0, 0, 220), (0, 540, 1920, 1080))  # bottom half blue
    path = tmp_path / "pattern.png"
    pattern.save(path)

    async def scenario(display: str, framebuffer: Framebuffer) -> None:
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        async with open_renderer(output, tmp_path) as (renderer, events):
            item = image("pattern", path, 1200)
            for round_ in range(1, 4):  # a one-item playlist: the same picture again
                renderer.play(item)
                ended = 2 * round_
                await events.wait_for(lambda: len(events.seen) == ended, "its end")  # noqa: B023
                assert near(framebuffer.pixel(960, 200), (220, 0, 0))
            assert events.kinds() == ["Started", "Ended"] * 3
            assert held_player_stopped(renderer)

            renderer.play(image("pattern", path, 60_000))
            await events.wait_for(lambda: len(events.seen) == 7, "it shown again")
            await until(lambda: held_player_stopped(renderer), "its player stopped")
            renderer.set_rotation(90)  # opened again, turned, then stopped again
            # Clockwise: the top is now on the right, the bottom on the left (607 px wide).
            await until(
                lambda: (
                    near(framebuffer.pixel(1100, 540), (220, 0, 0))
                    and near(framebuffer.pixel(820, 540), (0, 0, 220))
                ),
                "the picture turned",
            )
            await until(lambda: held_player_stopped(renderer), "its player stopped again")
            assert near(framebuffer.pixel(1100, 540), (220, 0, 0))
            assert events.kinds() == ["Started", "Ended"] * 3 + ["Started"]

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display, xvfb.framebuffer))


def test_a_snapshot_of_a_coloured_item_has_its_colour(
    dummy_output: VideoOutput, tmp_path: Path
) -> None:
    orange = make_image(tmp_path / "orange.png", "", (230, 120, 20), size=(640, 360))

    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.play(image("orange", orange, 3000))
            await events.wait_for(lambda: len(events.seen) == 1, "the image")
            shot = tmp_path / "shot.png"
            assert await renderer.snapshot(shot)
            with Image.open(shot) as picture:
                mean = ImageStat.Stat(picture.convert("RGB")).mean
            assert near(tuple(round(c) for c in mean), (230, 120, 20), 25), mean

    run(scenario())


def test_rotation_90_turns_the_picture_clockwise(dummy_output: VideoOutput, tmp_path: Path) -> None:
    pattern = Image.new("RGB", (400, 200), (220, 0, 0))  # top half red
    pattern.paste((0, 0, 220), (0, 100, 400, 200))  # bottom half blue
    path = tmp_path / "pattern.png"
    pattern.save(path)

    async def shot_of(renderer: VlcRenderer, name: str) -> Image.Image:
        target = tmp_path / f"{name}.png"
        assert await renderer.snapshot(target)
        with Image.open(target) as picture:
            return picture.convert("RGB")

    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            renderer.play(image("pattern", path, 20_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the pattern")
            upright = await shot_of(renderer, "upright")
            assert upright.width > upright.height
            assert near(upright.getpixel((200, 20)), (220, 0, 0))  # red on top

            renderer.set_rotation(90)  # applied to the picture on screen, no restart
            assert renderer.rotation == 90
            await asyncio.sleep(0.5)
            turned = await shot_of(renderer, "turned")
            assert turned.height > turned.width
            width, height = turned.size
            # Clockwise: the top is now on the right, the bottom on the left (607 px wide).
            assert near(turned.getpixel((width * 3 // 4, height // 2)), (220, 0, 0))
            assert near(turned.getpixel((width // 4, height // 2)), (0, 0, 220))
            assert [type(e).__name__ for e in events.seen] == ["Started"]  # still one item

            renderer.set_volume(40)
            assert renderer.volume == 40
            with pytest.raises(ValueError):
                renderer.set_rotation(45)

    run(scenario())


def test_watchdog_recovers_a_video_whose_picture_stopped(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        renderer = VlcRenderer(
            video_output=dummy_output, messages_dir=tmp_path / "m", stall_timeout_s=1.5
        )
        events = Events()
        await renderer.start(events)
        try:
            renderer.play(video("long", media.video_long))
            await events.wait_for(lambda: len(events.seen) == 1, "the video")
            assert isinstance(events.seen[0], Started)
            # Freeze the picture from outside, as a stuck decoder would.
            front = renderer._front
            assert front is not None
            front.player.set_pause(1)
            await events.wait_for(lambda: len(events.seen) >= 3, "the recovery")
            recovered, failed = events.seen[1:3]
            assert isinstance(recovered, Recovered) and "no new video frame" in recovered.reason
            assert isinstance(failed, Failed) and failed.item.key == "long"
            assert renderer.recoveries == 1 and renderer._front is not front
            # The new player plays.
            renderer.play(image("red", media.red, 200))
            await events.wait_for(lambda: len(events.seen) >= 5, "the next item")
            assert [type(e).__name__ for e in events.seen[3:5]] == ["Started", "Ended"]
        finally:
            await renderer.close()

    run(scenario())


def test_pictures_larger_than_the_screen_are_scaled_down_once(tmp_path: Path) -> None:
    big = make_image(tmp_path / "big.png", "BIG", (10, 20, 30), size=(4000, 3000))
    small = make_image(tmp_path / "small.png", "S", (10, 20, 30), size=(640, 480))
    cache = tmp_path / "cache"
    fitted = fitted_image(big, screen=(1920, 1080), rotation=0, cache_dir=cache, sha256="ab" * 32)
    assert fitted.parent == cache
    with Image.open(fitted) as picture:
        assert picture.size == (1440, 1080)  # aspect kept, inside the screen
    mtime = fitted.stat().st_mtime_ns
    again = fitted_image(big, screen=(1920, 1080), rotation=0, cache_dir=cache, sha256="ab" * 32)
    assert again == fitted and again.stat().st_mtime_ns == mtime  # not redone
    assert fitted_image(small, screen=(1920, 1080), rotation=0, cache_dir=cache) == small
    turned = fitted_image(small, screen=(1920, 1080), rotation=270, cache_dir=cache)
    with Image.open(turned) as picture:
        assert picture.size == (480, 640)
