"""The picture `identify` lays over the screen: a name in large type on a dark band.

libvlc's `logo` sub-source filter blends a PNG over whatever a player shows, in the pixels
of that picture, without touching the picture itself (docs/commands.md says why this and
not the `marq` text filter: it is turned with the screen and keeps the font of the
messages). So the overlay is drawn here for the size of the picture on screen, as the
viewer sees it, then turned by the screen's rotation like every picture (player.images).
Files are named after what they show and written to a temporary name and renamed, so a
half-written PNG is never blended.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from player.images import ROTATIONS
from player.messages import BOLD_FONT

TEXT_HEIGHT_SHARE = 1 / 6  # the type's size, of the picture's height as the viewer sees it
MAX_WIDTH_SHARE = 0.9  # the band's width at most, of the picture's width
BAND = (0, 0, 0, 170)  # black, two thirds opaque: readable over any content
TEXT = (255, 255, 255, 255)
MIN_FONT_PX = 10
# PIL turns counter-clockwise; rotations here are clockwise (as in player.images).
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if BOLD_FONT.is_file():
        return ImageFont.truetype(str(BOLD_FONT), size)
    return ImageFont.load_default(size=size)


def draw_identify(text: str, picture: tuple[int, int], rotation: int) -> Image.Image:
    """`text` on a dark band, sized for a picture of `picture` pixels turned `rotation`
    degrees clockwise on the screen (so the viewer reads it upright), as RGBA."""
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation}")
    width, height = picture if rotation in (0, 180) else (picture[1], picture[0])
    size = max(MIN_FONT_PX, round(height * TEXT_HEIGHT_SHARE))
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    while True:
        font = _font(size)
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        padding = max(2, size // 3)
        if size <= MIN_FONT_PX or right - left + 2 * padding <= width * MAX_WIDTH_SHARE:
            break
        size = max(MIN_FONT_PX, int(size * 0.9))
    band = Image.new("RGBA", (right - left + 2 * padding, bottom - top + 2 * padding), BAND)
    ImageDraw.Draw(band).text((padding - left, padding - top), text, font=font, fill=TEXT)
    if rotation:
        band = band.transpose(_TRANSPOSE[rotation])
    return band


def identify_overlay(text: str, picture: tuple[int, int], rotation: int, folder: Path) -> Path:
    """The PNG of `draw_identify(text, picture, rotation)` in `folder`, drawn unless there."""
    key = f"{text}\0{picture[0]}x{picture[1]}\0{rotation}".encode()
    target = folder / f"identify-{hashlib.sha256(key).hexdigest()[:20]}.png"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as file:
            draw_identify(text, picture, rotation).save(file, format="PNG")
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


__all__ = ["draw_identify", "identify_overlay"]
