"""Streams: a `PlayableItem` of a URL, played by the real `VlcRenderer` (dummy output) from
an MPEG-TS stream, or an HLS playlist, that a small HTTP server of the test serves on
127.0.0.1.

The server plays the part of a live source: it sends a stream and keeps the connection
open (as a live source does between its pictures), stops sending midway and holds the
connection, closes it early, or is not there at all (a closed port); a bare listening
socket plays an RTSP camera that takes the connection and never answers.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from player import Ended, Failed, RendererState, Started, VideoOutput
from player.items import PlayableItem, url_for_log
from player.vlc import STOP_WAIT_S
from sync.models import stream_sha256
from tests.player.conftest import GUARD_S, Media, image, run, running_player
from tests.player.test_vlc_renderer import is_final, open_renderer
from tests.support.media import ffmpeg_available

STREAM_SECONDS = 4  # of the test stream; each server path sends a part of it
STALL_TIMEOUT_S = 2.0  # the renderer's, in these tests (5 s by default)


def stream(key: str, url: str, duration_ms: int) -> PlayableItem:
    return PlayableItem(key, f"{key} feed", stream_sha256(url), "stream", None, duration_ms, url)


# --- PlayableItem -------------------------------------------------------------------------


def test_a_stream_item_has_a_url_a_duration_and_no_path() -> None:
    item = stream("s", "http://127.0.0.1/live.ts", 30_000)
    assert item.planned_ms == 30_000 and item.path is None
    with pytest.raises(ValueError, match="needs duration_ms"):
        PlayableItem("s", "s", "0" * 64, "stream", None, None, "http://127.0.0.1/live.ts")
    with pytest.raises(ValueError, match="a stream has a url"):
        PlayableItem("s", "s", "0" * 64, "stream", None, 1000)
    with pytest.raises(ValueError, match="a stream has a url, and only a stream"):
        PlayableItem("v", "v", "0" * 64, "video", Path("/c/v.mp4"), None, "http://h/x")
    with pytest.raises(ValueError, match="no path"):
        PlayableItem("s", "s", "0" * 64, "stream", Path("/c/s"), 1000, "http://h/x")
    with pytest.raises(ValueError, match="needs its path"):
        PlayableItem("i", "i", "0" * 64, "image", None, 1000)
    with pytest.raises(ValueError, match="media_type"):
        PlayableItem("x", "x", "0" * 64, "audio", Path("/c/x"), 1000)  # type: ignore[arg-type]


def test_a_streams_url_in_logs_has_no_password() -> None:
    assert (
        url_for_log("rtsp://door:s3cret@camera:554/stream") == "rtsp://door:***@camera:554/stream"
    )
    assert (
        url_for_log("https://example.com/live/lobby.m3u8") == "https://example.com/live/lobby.m3u8"
    )
    assert url_for_log("http://token@example.com/a") == "http://token@example.com/a"  # no password
    long = url_for_log("http://example.com/" + "x" * 500)
    assert len(long) == 120 and long.endswith("…")


# --- a stream served from loopback ----------------------------------------------------------


@pytest.fixture(scope="session")
def transport_stream(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """STREAM_SECONDS of a 25 fps H.264 test pattern in MPEG-TS, a keyframe every second."""
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make a test stream")
    path = tmp_path_factory.mktemp("stream") / "live.ts"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={STREAM_SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
            "-f", "mpegts", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="session")
def hls_playlist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """An HLS playlist of STREAM_SECONDS one-second segments: file name -> bytes."""
    if not ffmpeg_available():
        pytest.skip("ffmpeg is needed to make a test stream")
    folder = tmp_path_factory.mktemp("hls")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={STREAM_SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
            "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
            "-hls_segment_filename", str(folder / "segment%d.ts"), str(folder / "index.m3u8"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@dataclass
class Source:
    """The loopback server: `url(path)` of each way a source behaves."""

    port: int
    stalled_at: dict[str, float]  # path -> monotonic time its last byte was sent

    def url(self, path: str, userinfo: str = "") -> str:
        return f"http://{userinfo}127.0.0.1:{self.port}/{path}"


@contextmanager
def serving(data: bytes, files: dict[str, bytes] | None = None) -> Iterator[Source]:
    """Serve `data` as MPEG-TS on 127.0.0.1 until the block ends:

    - /live.ts: all of it, then the connection stays open, quiet (a live source between
      its pictures, as far as the player can tell);
    - /stall.ts: the first half, then nothing while the connection stays open;
    - /quiet.ts: an eighth (half a second), then nothing;
    - /short.ts: a quarter (one second), then the connection closes;
    - /hls/NAME: `files[NAME]`, whole.
    """
    release = threading.Event()
    stalled_at: dict[str, float] = {}
    parts = {"/live.ts": 1.0, "/stall.ts": 0.5, "/quiet.ts": 0.125, "/short.ts": 0.25}
    hls = files or {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            name = self.path.removeprefix("/hls/")
            if name in hls:
                self.send_response(200)
                kind = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(hls[name])))
                self.end_headers()
                with suppress(ConnectionError):
                    self.wfile.write(hls[name])
                return
            part = parts.get(self.path)
            if part is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            with suppress(ConnectionError):
                self.wfile.write(data[: int(len(data) * part)])
                self.wfile.flush()
                stalled_at[self.path.strip("/")] = time.monotonic()
                if self.path != "/short.ts":
                    release.wait(GUARD_S)  # holds the connection open, sending nothing

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the player hung up: nothing to report

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test stream source")
    thread.start()
    try:
        yield Source(server.server_address[1], stalled_at)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(GUARD_S)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stream_starts_with_its_first_picture_and_is_cut_at_its_duration(
    transport_stream: bytes, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        with serving(transport_stream) as source:
            async with open_renderer(dummy_output, tmp_path) as (renderer, events):
                item = stream("live", source.url("live.ts"), 1500)
                asked = time.monotonic()
                renderer.play(item)
                await events.wait_for(lambda: len(events.seen) == 1, "the stream's start")
                started_after_s = time.monotonic() - asked
                assert renderer.state == RendererState.PLAYING
                await events.wait_for(lambda: any(map(is_final, events.seen)), "the cut")
                assert events.kinds() == ["Started", "Ended"]
                started, ended = events.seen
                assert isinstance(started, Started) and isinstance(ended, Ended)
                assert started.item is item and started.length_ms == 1500
                assert 1400 <= ended.played_ms <= 2500  # cut at its duration, not its end
                assert started_after_s < 3.0  # a second of network cache, and start-up
                assert renderer.recoveries == 0

    run(scenario())


def test_an_hls_playlist_plays_for_its_duration(
    hls_playlist: dict[str, bytes], dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        with serving(b"", hls_playlist) as source:
            async with open_renderer(dummy_output, tmp_path) as (renderer, events):
                renderer.play(stream("hls", source.url("hls/index.m3u8"), 1500))
                await events.wait_for(lambda: any(map(is_final, events.seen)), "the cut")
                assert events.kinds() == ["Started", "Ended"]
                ended = events.seen[1]
                assert isinstance(ended, Ended) and 1400 <= ended.played_ms <= 2500

    run(scenario())


def test_a_stream_that_stops_sending_fails_and_the_next_item_plays(
    transport_stream: bytes, media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    """The source keeps the connection open and sends nothing more: the picture stops, the
    stream fails within STALL_TIMEOUT_S of its last picture (plus the watchdog's second),
    and the same player plays on."""

    async def scenario() -> None:
        with serving(transport_stream) as source:
            settings = {"stall_timeout_s": STALL_TIMEOUT_S}
            async with open_renderer(dummy_output, tmp_path, **settings) as (renderer, events):
                url = source.url("stall.ts", userinfo="viewer:s3cret@")
                renderer.play(stream("stall", url, 60_000))
                await events.wait_for(lambda: len(events.seen) == 1, "the stream's start")
                assert events.kinds() == ["Started"], events.seen
                await events.wait_for(lambda: len(events.seen) == 2, "the stall")
                failed_at = time.monotonic()
                failed = events.seen[1]
                assert isinstance(failed, Failed) and failed.item.key == "stall"
                assert "stopped sending pictures" in failed.reason
                assert "s3cret" not in failed.reason and "viewer:***@127.0.0.1" in failed.reason
                assert "\n" not in failed.reason
                # Two seconds of stream were sent (the player shows them, less what it
                # keeps buffered), then STALL_TIMEOUT_S and up to a watchdog period more.
                quiet_s = failed_at - source.stalled_at["stall.ts"]
                assert quiet_s < 2.0 + STALL_TIMEOUT_S + 2.5, quiet_s
                assert renderer.recoveries == 0  # the source stalled, not the player
                assert renderer.state == RendererState.HELD

                renderer.play(image("red", media.red, 200))
                await events.wait_for(lambda: len(events.seen) == 4, "the next item")
                assert events.kinds()[2:] == ["Started", "Ended"]

    run(scenario())


def test_an_unreachable_stream_fails_at_once_with_a_readable_reason(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with open_renderer(dummy_output, tmp_path) as (renderer, events):
            url = f"http://127.0.0.1:{closed_port()}/live.ts"
            asked = time.monotonic()
            renderer.play(stream("gone", url, 30_000))
            await events.wait_for(lambda: len(events.seen) == 1, "the failure")
            assert time.monotonic() - asked < 2.0
            failed = events.seen[0]
            assert isinstance(failed, Failed)
            assert failed.reason.startswith(f"cannot open stream {url}: VLC could not connect")
            assert renderer.state == RendererState.IDLE  # nothing of it was shown
            renderer.play(image("red", media.red, 200))
            await events.wait_for(lambda: len(events.seen) == 3, "the next item")
            assert events.kinds() == ["Failed", "Started", "Ended"]

    run(scenario())


def test_a_stream_that_shows_no_picture_fails_at_the_start_timeout(
    transport_stream: bytes, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    """Half a second of stream, less than libvlc's network cache: libvlc announces a video
    output (its Vout event) but never shows a picture, so the stream never starts."""

    async def scenario() -> None:
        with serving(transport_stream) as source:
            settings = {"start_timeout_s": 2.0}
            async with open_renderer(dummy_output, tmp_path, **settings) as (renderer, events):
                url = source.url("quiet.ts")
                renderer.play(stream("quiet", url, 30_000))
                await events.wait_for(lambda: len(events.seen) == 1, "the start timeout")
                failed = events.seen[0]
                assert isinstance(failed, Failed)
                assert failed.reason.startswith(f"stream {url} showed no picture within 2 s")

    run(scenario())


def test_a_source_that_never_answers_fails_and_never_holds_up_the_loop(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    """An RTSP source that takes the connection and never answers: libvlc's stop() of it
    blocks for seconds here (VLC cannot interrupt ffmpeg's RTSP client), so the renderer
    stops it off the loop, and the next item gets a new player if the stop takes long."""

    async def scenario() -> None:
        gaps: list[float] = []

        async def tick() -> None:
            while True:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - before)

        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            url = f"rtsp://door:s3cret@127.0.0.1:{silent.getsockname()[1]}/stream"
            ticker = asyncio.create_task(tick())
            settings = {"start_timeout_s": 1.0}
            async with open_renderer(dummy_output, tmp_path, **settings) as (renderer, events):
                renderer.play(stream("door", url, 30_000))
                await events.wait_for(lambda: len(events.seen) == 1, "the start timeout")
                failed = events.seen[0]
                assert isinstance(failed, Failed)
                assert "showed no picture within 1 s" in failed.reason
                assert "s3cret" not in failed.reason
                asked = time.monotonic()
                renderer.play(image("red", media.red, 200))
                assert time.monotonic() - asked < 0.1  # play() never waits for libvlc's stop
                await events.wait_for(lambda: len(events.seen) == 3, "the next item")
                assert events.kinds() == ["Failed", "Started", "Ended"]
                assert time.monotonic() - asked < STOP_WAIT_S + 2.0
            ticker.cancel()
            assert max(gaps) < 0.5, f"the loop was held up for {max(gaps):.1f} s"

    run(scenario())


def test_a_stream_the_source_ends_before_its_duration_fails(
    transport_stream: bytes, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        with serving(transport_stream) as source:
            async with open_renderer(dummy_output, tmp_path) as (renderer, events):
                renderer.play(stream("short", source.url("short.ts"), 30_000))
                await events.wait_for(lambda: any(map(is_final, events.seen)), "its end")
                assert events.kinds() == ["Started", "Failed"], events.seen
                failed = events.seen[1]
                assert isinstance(failed, Failed)
                assert "ended after" in failed.reason and "of its 30 s" in failed.reason

    run(scenario())


def test_the_player_skips_an_unreachable_stream_and_plays_on(
    media: Media, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with running_player(dummy_output, tmp_path) as running:
            gone = stream("gone", f"http://127.0.0.1:{closed_port()}/live.ts", 30_000)
            running.player.set_playlist([gone, image("red", media.red, 300)])
            recorder = running.recorder
            await recorder.wait_for(lambda: len(recorder.keys("ended")) >= 1, "the picture")
            assert recorder.keys("failed") == ["gone"]  # tried once, then backing off
            assert recorder.keys("started")[0] == "red"
            [(_, reason)] = recorder.details("failed")
            assert "cannot open stream" in reason

    run(scenario())
