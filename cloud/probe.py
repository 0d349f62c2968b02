"""What the player can show: an upload's bytes are read before it becomes an asset.

A picture is decoded with Pillow in a child Python process (`python -I` running this file),
so a hostile file meets a pixel limit, a deadline the parent enforces by killing the child,
and a memory limit, none of which a decode inside the server could have: Pillow cannot be
interrupted, and a JPEG of thousands of progressive scans decodes for minutes whatever its
size. A video is read with `ffprobe` (JSON, file protocol and the accepted demuxers only,
never through a shell) under a deadline: its container, its video stream's codec and size,
its length, and whether all the frames its index names are in the file.

At most `probes_at_once` children run at a time, whatever the number of uploads; the others
wait their turn in their worker thread for at most `wait_s`, then `ProbeBusy`.

This module imports nothing from `cloud` (it is also the child's script); `cloud.content`
turns `Refused` into a 415 and `ProbeBusy` into a 429. docs/media.md says what plays.

    ProbeError      base of this module's errors
    ├── Refused     the bytes are not something the player shows: `reason` says why
    └── ProbeBusy   every probe slot stayed taken for `wait_s`
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

# libvlc 3.0.24 here showed each of them, and so
# does the player's own Pillow path (pictures scaled or turned, player/images.py).
# Pillow format -> (a name ending, a Content-Type).
IMAGE_FORMATS = {
    "PNG": (".png", "image/png"),
    "JPEG": (".jpg", "image/jpeg"),
    "GIF": (".gif", "image/gif"),
    "BMP": (".bmp", "image/bmp"),
}
IMAGE_TYPES = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/jpg": "JPEG",
    "image/pjpeg": "JPEG",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/x-bmp": "BMP",
    "image/x-ms-bmp": "BMP",
}
_MP4, _MKV = "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
# ffprobe's demuxer (format_name) -> (how a person calls it, a name ending, a Content-Type).
CONTAINERS = {
    _MP4: ("an MP4/MOV file", ".mp4", "video/mp4"),
    _MKV: ("a WebM/MKV file", ".webm or .mkv", "video/webm"),
    "mpeg": ("an MPEG program stream", ".mpg", "video/mpeg"),
    "mpegts": ("an MPEG transport stream", ".ts", "video/mp2t"),
}
VIDEO_TYPES = {
    "video/mp4": _MP4,
    "video/x-m4v": _MP4,
    "video/quicktime": _MP4,
    "video/webm": _MKV,
    "video/x-matroska": _MKV,
    "video/mpeg": "mpeg",
    "video/mp2t": "mpegts",
}
# The demuxers ffprobe may use: anything else (HLS or concat playlists that would open
# other files or URLs, images, raw streams) is not read at all.
_DEMUXERS = "mov,matroska,mpeg,mpegts"
# ffprobe codec_name -> how a person calls it. libvlc decodes each on this machine; a Pi
# decodes H.264 (and HEVC from the Pi 4 on) in hardware, the others in software.
VIDEO_CODECS = {
    "h264": "H.264",
    "hevc": "HEVC",
    "vp8": "VP8",
    "vp9": "VP9",
    "mpeg2video": "MPEG-2",
    "mpeg4": "MPEG-4 Part 2",
}
# What some refused formats are called, found by their first bytes (see `sniff`).
_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF8", 0, "a GIF image"),
    (b"BM", 0, "a BMP image"),
    (b"WEBP", 8, "a WebP image"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"ftypheic", 4, "a HEIC image"),
    (b"ftypheix", 4, "a HEIC image"),
    (b"ftypmif1", 4, "a HEIF image"),
    (b"ftypavif", 4, "an AVIF image"),
    (b"%PDF", 0, "a PDF document"),
    (b"PK\x03\x04", 0, "a ZIP archive"),
]

_FFPROBE_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\] ")

MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; the largest screen is 8 MP
MAX_VIDEO_SIDE = 4096
MAX_VIDEO_PIXELS = 4096 * 2160  # DCI 4K; a Pi decodes at most 4K
MAX_VIDEO_S = 86_400.0  # one day, as sync.models.MAX_DURATION_MS for an item on screen
IMAGE_TIMEOUT_S = 15.0  # a 50 MP noisy PNG decodes in about 1 s here
VIDEO_TIMEOUT_S = 30.0  # ffprobe reads every packet's header, not the frames
CHILD_MEMORY_BYTES = 1024 * 1024 * 1024  # 50 MP as RGBA is 200 MB
WAIT_S = 60.0


def default_probes_at_once() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class ProbeError(Exception):
    """Base of this module's errors."""


class Refused(ProbeError):
    """The bytes are not something the player shows; `reason` completes "... because"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProbeBusy(ProbeError):
    """Every probe slot stayed taken for the whole wait."""


@dataclass(frozen=True)
class Probed:
    """What a probe found: `format` is Pillow's name or ffprobe's demuxer."""

    media_type: Literal["image", "video"]
    format: str
    width: int
    height: int
    codec: str | None = None
    duration_s: float | None = None


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file say it is ("an SVG drawing", "text"), if anything."""
    for signature, offset, what in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return what
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in head.lower()):
        return "an SVG drawing"
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end
                return None
        return "text"
    return None


def _head(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(512)


class MediaProbe(Protocol):
    """What `cloud.content` needs of a probe (tests of the database logic pass a stand-in)."""

    def probe(self, path: Path, *, media_type: str, content_type: str) -> Probed | None: ...


class Prober:
    """Probes uploads, at most `probes_at_once` at a time; one per cloud process."""

    def __init__(
        self,
        *,
        probes_at_once: int | None = None,
        ffprobe: str | None = "",
        python: str = sys.executable,
        image_timeout_s: float = IMAGE_TIMEOUT_S,
        video_timeout_s: float = VIDEO_TIMEOUT_S,
        wait_s: float = WAIT_S,
    ) -> None:
        # "" finds ffprobe on PATH; None means there is none (tests).
        self.ffprobe = shutil.which("ffprobe") if ffprobe == "" else ffprobe
        self._python = python
        self._slots = threading.BoundedSemaphore(probes_at_once or default_probes_at_once())
        self._image_timeout_s = image_timeout_s
        self._video_timeout_s = video_timeout_s
        self._wait_s = wait_s

    def probe(self, path: Path, *, media_type: str, content_type: str) -> Probed | None:
        """What the file at `path` is; `Refused` if the player cannot show it as declared.

        None for a video when this machine has no ffprobe: it is accepted unread (the
        player skips what it cannot decode), and a log line says so.
        Blocks (call it from a worker thread); raises `ProbeBusy` after `wait_s` in line.
        """
        if media_type == "video" and self.ffprobe is None:
            log.warning(
                "video %s accepted unread: ffprobe is not installed on this machine "
                "(apt-get install ffmpeg); a device skips what it cannot play",
                path.name,
            )
            return None
        if not self._slots.acquire(timeout=self._wait_s):
            raise ProbeBusy(f"every probe slot stayed taken for {self._wait_s:g} s")
        try:
            if media_type == "image":
                return self._probe_image(path, content_type)
            return self._probe_video(path, content_type)
        finally:
            self._slots.release()

    def _probe_image(self, path: Path, content_type: str) -> Probed:
        command = [self._python, "-I", str(Path(__file__).resolve()), str(path)]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self._image_timeout_s,
                check=False,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        except subprocess.TimeoutExpired as exc:
            raise Refused(f"decoding it took longer than {self._image_timeout_s:g} s") from exc
        except OSError as exc:  # no process could be started (out of memory or processes)
            log.warning("could not start the image decoder: %s", exc)
            raise ProbeBusy(f"could not start the image decoder: {exc.strerror or exc}") from exc
        try:
            facts: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            # Killed by its memory limit, or crashed in a decoder.
            lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
            log.warning("image decoder failed on %s: %s", path, lines[-1])
            raise Refused("it could not be decoded (see the cloud's log)") from None
        if "unreadable" in facts:
            raise Refused(_not_a_picture(sniff(_head(path)), str(facts["unreadable"])))
        image_format = facts["format"]
        width, height = facts["width"], facts["height"]
        if width * height > MAX_IMAGE_PIXELS:
            raise Refused(
                f"it is {width}x{height} pixels, more than {MAX_IMAGE_PIXELS // 1_000_000} "
                "megapixels: scale it down to the screen's size"
            )
        declared = IMAGE_TYPES.get(content_type)
        if declared is not None and declared != image_format:
            raise Refused(
                f"it is a {image_format} picture but was sent as {content_type}: "
                f"{_image_hint(image_format)}"
            )
        if "error" in facts:
            raise Refused(f"it is cut short or damaged ({facts['error']})")
        if image_format == "JPEG" and facts["mode"] == "CMYK":
            raise Refused("it is a CMYK (print) JPEG, which VLC shows as nothing: save it as RGB")
        if facts["animated"]:
            raise Refused(
                "it is an animated GIF, of which the player would show only the first "
                "picture: upload it as a video (ffmpeg -i in.gif -pix_fmt yuv420p out.mp4)"
            )
        return Probed(media_type="image", format=image_format, width=width, height=height)

    def _probe_video(self, path: Path, content_type: str) -> Probed:
        assert self.ffprobe is not None
        command = [
            self.ffprobe,
            "-v",
            "error",
            "-hide_banner",
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            _DEMUXERS,
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_packets",
            f"file:{path.resolve()}",
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self._video_timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise Refused(f"reading it took longer than {self._video_timeout_s:g} s") from exc
        except OSError as exc:  # no process could be started (out of memory or processes)
            log.warning("could not start ffprobe: %s", exc)
            raise ProbeBusy(f"could not start ffprobe: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            said = ffprobe_said(done.stderr) or f"exit status {done.returncode}"
            raise Refused(_not_a_video(sniff(_head(path)), said))
        return video_facts(json.loads(done.stdout), content_type)


def video_facts(report: dict[str, Any], content_type: str) -> Probed:
    """The checks on what ffprobe found (`-show_format -show_streams -count_packets`)."""
    container = str(report.get("format", {}).get("format_name", ""))
    declared = VIDEO_TYPES.get(content_type)
    if declared is not None and container != declared:
        shown, ending, right_type = CONTAINERS.get(container, (container, "", ""))
        raise Refused(
            f"it is {shown} but was sent as {content_type}: name it {ending} "
            f"(or send Content-Type {right_type})"
        )
    streams: list[dict[str, Any]] = report.get("streams", [])
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not videos:
        sounds = sorted(
            {str(s.get("codec_name")) for s in streams if s.get("codec_type") == "audio"}
        )
        if sounds:
            raise Refused(f"no video stream found, only sound ({', '.join(sounds)})")
        raise Refused("no video stream found")
    video = videos[0]
    codec = str(video.get("codec_name", "unknown"))
    if codec not in VIDEO_CODECS:
        raise Refused(
            f"its video is {codec}, which the player does not decode; it decodes "
            f"{', '.join(VIDEO_CODECS.values())} (ffmpeg -i in -c:v libx264 "
            "-pix_fmt yuv420p out.mp4 makes an H.264 MP4)"
        )
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise Refused("its video has no picture size")
    if max(width, height) > MAX_VIDEO_SIDE or width * height > MAX_VIDEO_PIXELS:
        raise Refused(
            f"its video is {width}x{height}, larger than 4K ({MAX_VIDEO_SIDE} pixels on a side "
            "and 4096x2160 in all): scale it down"
        )
    read = int(video.get("nb_read_packets") or 0)
    if read == 0:
        raise Refused("its video stream holds no frames")
    indexed = int(video.get("nb_frames") or 0)
    if indexed and read < indexed:
        raise Refused(
            f"it is cut short: {read} of the {indexed} frames its index names are in the "
            "file (an interrupted copy or download?)"
        )
    duration = _seconds(report.get("format", {}).get("duration")) or _seconds(video.get("duration"))
    if duration is None or duration <= 0:
        raise Refused(
            "its length is unknown (a recording that was never finished?): "
            "remux it (ffmpeg -i in -c copy out.mp4)"
        )
    if duration > MAX_VIDEO_S:
        raise Refused(f"it lasts {duration / 3600:.1f} hours, more than one day")
    return Probed(
        media_type="video",
        format=container,
        width=width,
        height=height,
        codec=codec,
        duration_s=duration,
    )


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


def _image_list() -> str:
    return ", ".join(IMAGE_FORMATS)


def _image_hint(image_format: str) -> str:
    ending, content_type = IMAGE_FORMATS[image_format]
    return f"name it {ending} (or send Content-Type {content_type})"


def _not_a_picture(what: str | None, why: str) -> str:
    if what == "text":
        return f"it is text, not a picture; the player shows {_image_list()} pictures"
    if what is None or what.split()[1] in IMAGE_FORMATS:
        return f"it is not a whole {_image_list()} picture ({why})"
    return f"it is {what}, which the player does not show: save it as PNG or JPEG"


def ffprobe_said(stderr: str) -> str:
    """ffprobe's error lines without their "[demuxer @ 0x...]" and file name prefixes."""
    said: list[str] = []
    for line in stderr.splitlines():
        line = _FFPROBE_PREFIX.sub("", line).strip()
        if line.startswith("file:"):
            line = line.rpartition(": ")[2]
        if line and line not in said:
            said.append(line)
    return "; ".join(said[-3:])


def _not_a_video(what: str | None, why: str) -> str:
    if what is not None and what.endswith(" image") and what.split()[1] in IMAGE_FORMATS:
        return f"it is {what}, not a video: upload it as an image, {_image_hint(what.split()[1])}"
    if what is not None:
        return f"it is {what}, not a video"
    return f"it is not a video file the player reads ({why})"


def _decode(path: str) -> dict[str, Any]:
    """In the child: open and decode the first picture of `path` with Pillow."""
    import resource

    from PIL import Image, UnidentifiedImageError

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    # Pillow's own bomb check would refuse with its own words before the size is known;
    # the size is checked here before anything is decoded (this process's globals are its
    # own: it decodes one file).
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(path, formats=list(IMAGE_FORMATS))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return {"unreadable": str(exc).replace(path, "the file") or type(exc).__name__}
    with image:
        facts: dict[str, Any] = {
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "animated": bool(getattr(image, "is_animated", False)),
        }
        if image.width * image.height <= MAX_IMAGE_PIXELS:
            started = time.monotonic()
            try:
                image.load()
            except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
                facts["error"] = str(exc) or type(exc).__name__
            facts["decode_s"] = round(time.monotonic() - started, 4)
    return facts


if __name__ == "__main__":
    # The image decoder's child process: `python -I cloud/probe.py FILE` prints JSON.
    print(json.dumps(_decode(sys.argv[1])))
