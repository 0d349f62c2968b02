"""Real media for tests and demos, generated on the fly (never committed).

- `make_video`: an H.264 mp4 of ffmpeg's `testsrc` pattern, whose counter shows the
  seconds played, so a person watching a demo can see every clip start from zero.
- `make_image`: a PNG of one colour with a line of text.
- `make_garbage`: random bytes with a media file name, which VLC "plays" for ~40 ms
  without a picture and without an error event.
"""

from __future__ import annotations

import os
import shutil
import subprocess
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


__all__ = ["ffmpeg_available", "make_garbage", "make_image", "make_video"]
