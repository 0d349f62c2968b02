"""Real media for tests and demos, generated on the fly (never committed).

- `make_video`: an H.264 mp4 of ffmpeg's `testsrc` pattern, whose counter shows the
  seconds played, so a person watching a demo can see every clip start from zero.
- `make_image`: a PNG of one colour with a line of text.
- `make_garbage`: random bytes with a media file name, which VLC "plays" for ~40 ms
  without a picture and without an error event.
- `make_picture`: a picture in any format Pillow writes (JPEG, GIF, BMP, WebP, ...).
- `make_svg`, `make_sound` (an MP4 with only an AAC track), `make_encoded_video` (any
  encoder, container by the name's ending, index at the end), `make_cut_copy` (the first
  part of a file), `make_png_bomb` (a valid PNG of huge size in a small file), and
  `small_video_bytes` (a real H.264 MP4, made once per process).
"""

from __future__ import annotations

import functools
import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def make_video(
    path: Path,
    seconds: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
) -> Path:
    """Write an H.264/mp4 test pattern with a visible counter to `path`."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size={width}x{height}:rate={fps}:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make {path}: {result.stderr.strip()}")
    return path


def make_image(
    path: Path,
    text: str,
    color: str | tuple[int, int, int],
    size: tuple[int, int] = (320, 240),
) -> Path:
    """Write a PNG of `color` with `text` in white in the middle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(image)
    font_size = max(size[1] // 6, 10)
    if FONT.is_file():
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(
            str(FONT), font_size
        )
    else:
        font = ImageFont.load_default(size=font_size)
    draw.text((size[0] // 2, size[1] // 2), text, font=font, fill="white", anchor="mm")
    image.save(path, format="PNG")
    return path


def make_garbage(path: Path, size: int = 64 * 1024) -> Path:
    """Write `size` random bytes to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def make_picture(
    path: Path,
    image_format: str,
    size: tuple[int, int] = (320, 240),
    mode: str = "RGB",
    frames: int = 1,
) -> Path:
    """Write a picture of two rectangles in `image_format` (a Pillow format name).

    `mode` "CMYK" makes a print JPEG; `frames` > 1 an animated GIF.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures = []
    for frame in range(frames):
        image = Image.new("RGB", size, (200, 30 + 60 * frame % 200, 30))
        ImageDraw.Draw(image).rectangle(
            (size[0] // 6, size[1] // 5, size[0] * 2 // 3, size[1] * 2 // 3), fill=(20, 200, 20)
        )
        pictures.append(image.convert(mode))
    extra = {"save_all": True, "append_images": pictures[1:], "duration": 200} if frames > 1 else {}
    pictures[0].save(path, format=image_format, **extra)
    return path


def make_svg(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """Write an SVG drawing of a rectangle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    path.write_text(
        f'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}"><rect width="{width}" height="{height}" fill="#c81e1e"/></svg>\n'
    )
    return path


def _ffmpeg(path: Path, *arguments: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not make {path}: {result.stderr.strip()}")
    return path


def make_sound(path: Path, seconds: float = 1.0) -> Path:
    """Write an MP4 holding only a sine tone in AAC: sound, no video stream."""
    return _ffmpeg(path, "-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac")


def make_encoded_video(
    path: Path,
    encoder: str,
    seconds: float = 1.0,
    size: tuple[int, int] = (320, 240),
    *options: str,
) -> Path:
    """Write ffmpeg's `testsrc` with `encoder` (libx264, libvpx-vp9, mjpeg, ...) to `path`.

    The container follows the name's ending; an MP4's index is written at its end.
    """
    width, height = size
    source = f"testsrc=size={width}x{height}:rate=25:duration={seconds}"
    return _ffmpeg(
        path, "-f", "lavfi", "-i", source, "-c:v", encoder, "-pix_fmt", "yuv420p", *options
    )


def make_cut_copy(source: Path, path: Path, fraction: float = 0.5) -> Path:
    """Write the first `fraction` of `source`'s bytes to `path`: an interrupted copy."""
    data = source.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def make_png_bomb(path: Path, width: int = 30_000, height: int = 30_000) -> Path:
    """Write a valid black 1-bit PNG of `width` x `height`: 900 megapixels in ~100 KiB.

    Written chunk by chunk, so making it needs no more memory than one row.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter type 0, then the row's bits
    compressed = [packer.compress(row) for _ in range(height)]
    compressed.append(packer.flush())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", b"".join(compressed))
        + chunk(b"IEND", b"")
    )
    return path


@functools.cache
def small_video_bytes(seconds: float = 2.0) -> bytes:
    """The bytes of a real 320x240 H.264 MP4 (about 35 KB for 2 s), made once per process."""
    with tempfile.TemporaryDirectory() as folder:
        return make_video(Path(folder) / "small.mp4", seconds=seconds).read_bytes()


__all__ = [
    "ffmpeg_available",
    "make_cut_copy",
    "make_encoded_video",
    "make_garbage",
    "make_image",
    "make_picture",
    "make_png_bomb",
    "make_sound",
    "make_svg",
    "make_video",
    "small_video_bytes",
]


class AcceptEveryUpload:
    """`cloud.probe.MediaProbe` for tests of the cloud's database logic, whose blobs are
    names and sizes, not files: every upload reads as accepted, unprobed. Tests of what
    the cloud accepts use the real `cloud.probe.Prober` (tests/cloud/test_upload_probe.py)."""

    def probe(self, path: Path, *, media_type: str, content_type: str) -> None:
        return None
