"""Uploads the player cannot show are refused with a 415 that says why (docs/media.md).

Every file here is real, made with Pillow or ffmpeg, and sent to a real cloud on loopback.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cloud.admin_client import UPLOAD_TRIES, AdminClient
from cloud.errors import AdminClientError
from cloud.probe import ProbeBusy, Prober, Refused
from tests.support.cloud import ROOT, RunningCloud, clean_environ, running_cloud
from tests.support.media import (
    ffmpeg_available,
    make_cut_copy,
    make_encoded_video,
    make_garbage,
    make_image,
    make_picture,
    make_png_bomb,
    make_sound,
    make_svg,
    make_video,
)

pytestmark = pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg makes the test videos")

ASSETS = "/api/v3/admin/assets"


@dataclass(frozen=True)
class Upload:
    name: str  # the asset's name, which also gives the type when content_type is None
    make: Callable[[Path], Path]
    content_type: str | None = None


def _text(path: Path) -> Path:
    path.write_text("Opening hours: 9 to 5, Monday to Friday.\n" * 20)
    return path


def _fast_clip(seconds: float) -> Callable[[Path], Path]:
    return lambda p: make_video(p, seconds=seconds, size=(640, 360))


# Refused: what is sent, and what the 415's detail says.
REFUSED: dict[str, tuple[Upload, str]] = {
    "webp": (
        Upload("logo.webp", lambda p: make_picture(p, "WEBP")),
        "logo.webp: WebP is not supported; upload PNG, JPEG, GIF or BMP",
    ),
    "webp-named-png": (
        Upload("logo.png", lambda p: make_picture(p, "WEBP")),
        "logo.png is not an image the player can show: it is a WebP image, which the "
        "player does not show: save it as PNG or JPEG",
    ),
    "svg": (Upload("logo.svg", make_svg), "logo.svg: SVG is not supported; upload PNG, JPEG"),
    "svg-as-png": (
        Upload("logo.png", make_svg, "image/png"),
        "logo.png is not an image the player can show: it is an SVG drawing",
    ),
    "random-mp4": (
        Upload("clip.mp4", make_garbage),
        "clip.mp4 is not a video the player can show: it is not a video file the player reads",
    ),
    "text-png": (
        Upload("notes.png", _text),
        "notes.png is not an image the player can show: it is text, not a picture",
    ),
    "sound-only-mp4": (
        Upload("jingle.mp4", make_sound),
        "jingle.mp4 is not a video the player can show: no video stream found, only sound (aac)",
    ),
    "mp4-cut-in-half": (
        Upload("cut.mp4", lambda p: make_cut_copy(_fast_clip(4.0)(p.with_suffix(".whole.mp4")), p)),
        "cut.mp4 is not a video the player can show: it is cut short: ",
    ),
    "mp4-cut-before-its-index": (
        Upload(
            "cut.mp4",
            lambda p: make_cut_copy(make_encoded_video(p.with_suffix(".whole.mp4"), "libx264"), p),
        ),
        "cut.mp4 is not a video the player can show: it is not a video file the player reads "
        "(moov atom not found",
    ),
    "png-as-mp4": (
        Upload("welcome.mp4", lambda p: make_image(p, "hi", "navy"), "video/mp4"),
        "welcome.mp4 is not a video the player can show: it is a PNG image, not a video: "
        "upload it as an image, name it .png (or send Content-Type image/png)",
    ),
    "png-bomb": (
        Upload("huge.png", make_png_bomb),
        "huge.png is not an image the player can show: it is 30000x30000 pixels, "
        "more than 50 megapixels",
    ),
    "jpeg-as-png": (
        Upload("photo.png", lambda p: make_picture(p, "JPEG")),
        "photo.png is not an image the player can show: it is a JPEG picture but was sent as "
        "image/png: name it .jpg (or send Content-Type image/jpeg)",
    ),
    "cmyk-jpeg": (
        Upload("print.jpg", lambda p: make_picture(p, "JPEG", mode="CMYK")),
        "print.jpg is not an image the player can show: it is a CMYK (print) JPEG",
    ),
    "animated-gif": (
        Upload("spinner.gif", lambda p: make_picture(p, "GIF", frames=3)),
        "spinner.gif is not an image the player can show: it is an animated GIF",
    ),
    "mpeg1-video": (
        Upload("old.mp4", lambda p: make_encoded_video(p, "mpeg1video")),
        "old.mp4 is not a video the player can show: its video is mpeg1video, which the player "
        "does not decode",
    ),
    "mp4-as-webm": (
        Upload("clip.webm", lambda p: _fast_clip(1.0)(p.with_suffix(".mp4"))),
        "clip.webm is not a video the player can show: it is an MP4/MOV file but was sent as "
        "video/webm: name it .mp4 (or send Content-Type video/mp4)",
    ),
}

ACCEPTED: dict[str, tuple[Upload, str]] = {
    "png": (Upload("welcome.png", lambda p: make_image(p, "hi", "navy")), "image"),
    "jpeg": (Upload("photo.jpg", lambda p: make_picture(p, "JPEG", (1920, 1080))), "image"),
    "gif": (Upload("still.gif", lambda p: make_picture(p, "GIF")), "image"),
    "bmp": (Upload("old.bmp", lambda p: make_picture(p, "BMP")), "image"),
    "mp4-h264": (Upload("clip.mp4", _fast_clip(2.0)), "video"),
    "webm-vp9": (
        Upload(
            "clip.webm",
            lambda p: make_encoded_video(p, "libvpx-vp9", 1.0, (320, 240), "-deadline", "realtime"),
        ),
        "video",
    ),
}


@pytest.fixture(scope="module")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    """One cloud for the module: each test checks only the blob and asset of its own file."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_environ(monkeypatch)
        with running_cloud(tmp_path_factory.mktemp("cloud")) as running:
            yield running


def blob_path(cloud: RunningCloud, data: bytes) -> Path:
    sha256 = hashlib.sha256(data).hexdigest()
    return cloud.data_dir / "blobs" / sha256[:2] / sha256


def send(cloud: RunningCloud, upload: Upload, folder: Path) -> tuple[bytes, dict[str, object]]:
    data = upload.make(folder / upload.name).read_bytes()
    headers = {"Content-Type": upload.content_type} if upload.content_type else {}
    with cloud.admin() as admin:
        response = admin.post(ASSETS, params={"name": upload.name}, content=data, headers=headers)
    return data, {"status": response.status_code, **response.json()}


def asset_names(cloud: RunningCloud) -> set[str]:
    with cloud.admin() as admin:
        return {asset["name"] for asset in admin.get(ASSETS).json()}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_what_the_player_cannot_show_is_refused_and_not_kept(
    shared_cloud: RunningCloud, tmp_path: Path, case: str
) -> None:
    upload, detail = REFUSED[case]
    before = asset_names(shared_cloud)
    data, answer = send(shared_cloud, upload, tmp_path)
    assert answer["status"] == 415, answer
    assert str(answer["detail"]).startswith(detail), answer["detail"]
    assert "\n" not in str(answer["detail"])
    assert not blob_path(shared_cloud, data).exists()
    assert not list((shared_cloud.data_dir / "blobs" / ".incoming").iterdir())
    assert asset_names(shared_cloud) == before


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_what_the_player_shows_is_accepted(
    shared_cloud: RunningCloud, tmp_path: Path, case: str
) -> None:
    upload, media_type = ACCEPTED[case]
    data, answer = send(shared_cloud, upload, tmp_path)
    assert answer["status"] == 200, answer
    assert (answer["media_type"], answer["size"]) == (media_type, len(data))
    assert blob_path(shared_cloud, data).read_bytes() == data


def test_refusing_bytes_an_asset_already_names_keeps_them(
    shared_cloud: RunningCloud, tmp_path: Path
) -> None:
    picture = Upload("kept.png", lambda p: make_image(p, "kept", "teal"))
    data, first = send(shared_cloud, picture, tmp_path)
    assert first["status"] == 200, first
    _, again = send(shared_cloud, Upload("kept.mp4", picture.make, "video/mp4"), tmp_path)
    assert again["status"] == 415, again
    assert blob_path(shared_cloud, data).read_bytes() == data
    assert "kept.png" in asset_names(shared_cloud)


def test_the_cli_prints_the_refusal_in_one_line_and_fails(
    shared_cloud: RunningCloud, tmp_path: Path
) -> None:
    picture = make_picture(tmp_path / "logo.webp", "WEBP")
    clip = make_garbage(tmp_path / "clip.mp4")
    env = {
        **os.environ,
        "SIGNAGE_ADMIN_URL": shared_cloud.url,
        "SIGNAGE_ADMIN_KEY": shared_cloud.admin_key,
    }
    for path, detail in (
        (picture, "logo.webp: WebP is not supported; upload PNG, JPEG, GIF or BMP"),
        (clip, "clip.mp4 is not a video the player can show: it is not a video file"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cloud", "asset", "add", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, done
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert detail in lines[0]


# The probe itself: its bounds, with a stand-in ffprobe where a real one cannot show them.


def fake_ffprobe(folder: Path, seconds: float) -> tuple[str, Path]:
    """A script standing in for ffprobe that logs its start and end and answers no streams."""
    log = folder / "runs.log"
    script = folder / "ffprobe"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "start $(date +%s.%N)" >> "{log}"\n'
        f"sleep {seconds}\n"
        f'echo "end $(date +%s.%N)" >> "{log}"\n'
        'echo \'{"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2"}, "streams": []}\'\n'
    )
    script.chmod(0o755)
    return str(script), log


def most_at_once(log: Path) -> int:
    events = sorted(
        (float(stamp), 1 if kind == "start" else -1)
        for kind, stamp in (line.split() for line in log.read_text().splitlines())
    )
    running = highest = 0
    for _, step in events:
        running += step
        highest = max(highest, running)
    return highest


def test_a_flood_of_uploads_runs_at_most_the_bound_of_probes_at_once(tmp_path: Path) -> None:
    ffprobe, log = fake_ffprobe(tmp_path, 0.3)
    prober = Prober(probes_at_once=2, ffprobe=ffprobe)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    refusals: list[str] = []

    def probe() -> None:
        try:
            prober.probe(video, media_type="video", content_type="video/mp4")
        except Refused as exc:
            refusals.append(exc.reason)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert refusals == ["no video stream found"] * 8
    assert most_at_once(log) == 2


def test_a_probe_that_waits_too_long_for_its_turn_is_busy(tmp_path: Path) -> None:
    ffprobe, _ = fake_ffprobe(tmp_path, 1.0)
    prober = Prober(probes_at_once=1, ffprobe=ffprobe, wait_s=0.2)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)

    def hold_the_only_slot() -> None:
        with pytest.raises(Refused):
            prober.probe(video, media_type="video", content_type="video/mp4")

    first = threading.Thread(target=hold_the_only_slot)
    first.start()
    time.sleep(0.2)
    with pytest.raises(ProbeBusy):
        prober.probe(video, media_type="video", content_type="video/mp4")
    first.join(timeout=10)


def test_a_probe_past_its_deadline_is_refused(tmp_path: Path) -> None:
    prober = Prober(video_timeout_s=0.01, image_timeout_s=0.01)
    clip = make_video(tmp_path / "clip.mp4", seconds=1.0)
    picture = make_image(tmp_path / "still.png", "hi", "navy")
    with pytest.raises(Refused, match=r"reading it took longer than 0\.01 s"):
        prober.probe(clip, media_type="video", content_type="video/mp4")
    with pytest.raises(Refused, match=r"decoding it took longer than 0\.01 s"):
        prober.probe(picture, media_type="image", content_type="image/png")


def test_without_ffprobe_videos_are_accepted_unread_and_pictures_still_decoded(
    tmp_path: Path,
) -> None:
    prober = Prober(ffprobe=None)
    garbage = make_garbage(tmp_path / "clip.mp4")
    assert prober.probe(garbage, media_type="video", content_type="video/mp4") is None
    with pytest.raises(Refused, match="it is text"):
        prober.probe(_text(tmp_path / "notes.png"), media_type="image", content_type="image/png")
    picture = prober.probe(
        make_image(tmp_path / "still.png", "hi", "navy", (64, 48)),
        media_type="image",
        content_type="image/png",
    )
    assert picture is not None
    assert (picture.format, picture.width, picture.height) == ("PNG", 64, 48)


class BusyFirst(httpx.BaseTransport):
    """The real cloud behind a transport that first answers `busy` uploads with the cloud's
    own 429 (a fault the real cloud gives only under load)."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.uploads = 0
        self._real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/assets"):
            self.uploads += 1
            if self.uploads <= self.busy:
                request.read()
                return httpx.Response(
                    429,
                    headers={"Retry-After": "0.2"},
                    json={"detail": "a.png: the cloud is busy checking other uploads; try again"},
                )
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()


@pytest.mark.parametrize("busy", [1, UPLOAD_TRIES - 1])
def test_an_upload_the_cloud_is_too_busy_to_check_is_sent_again(
    shared_cloud: RunningCloud, tmp_path: Path, busy: int
) -> None:
    picture = make_picture(tmp_path / "a.png", "PNG")
    waits: list[tuple[str, float]] = []
    transport = BusyFirst(busy)
    with AdminClient(shared_cloud.url, shared_cloud.admin_key, transport=transport) as client:
        created = client.add_asset(picture, on_wait=lambda *wait: waits.append(wait))
        assert created.id in {asset.id for asset in client.list_assets()}
    assert transport.uploads == busy + 1
    assert [seconds for _, seconds in waits] == [0.2] * busy
    assert "busy checking other uploads" in waits[0][0]


def test_an_upload_still_refused_as_busy_after_its_tries_says_so(
    shared_cloud: RunningCloud, tmp_path: Path
) -> None:
    picture = make_picture(tmp_path / "a.png", "PNG")
    transport = BusyFirst(UPLOAD_TRIES)
    client = AdminClient(shared_cloud.url, shared_cloud.admin_key, transport=transport)
    with client, pytest.raises(AdminClientError, match="busy checking other uploads"):
        client.add_asset(picture)
    assert transport.uploads == UPLOAD_TRIES
