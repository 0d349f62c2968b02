"""Drawing a `ScreenMessage` as a full-screen PNG the renderer can show like any image.

1920x1080, a dark background, a large high-contrast headline (the enrollment code must
be readable from across a room), a title above it and smaller lines below. A message with
a `qr` (the enrollment screen's activation link) gets a QR code on its right, black on
white with its quiet zone, about 600 px square: some 38 cm on a 55" screen, which a phone
reads from 3-4 m. The file is named after a hash of the message, so showing the same
message again reuses it, and it is written to a temporary name and renamed, so a
half-written PNG is never shown.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from player.items import ScreenMessage

SCREEN_SIZE = (1920, 1080)
BACKGROUND = (16, 20, 28)
TITLE_COLOR = (170, 180, 195)
HEADLINE_COLOR = (255, 255, 255)
LINE_COLOR = (215, 222, 232)
BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
REGULAR_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

QR_SIDE = 600  # px, quiet zone included; the largest square the layout leaves beside the text
QR_QUIET_ZONE = 4  # modules of white around the code, the minimum ISO/IEC 18004 asks for
QR_DARK = (0, 0, 0)
QR_LIGHT = (255, 255, 255)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

log = logging.getLogger(__name__)


def _font(path: Path, size: int) -> Font:
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _fitted_font(draw: ImageDraw.ImageDraw, text: str, path: Path, size: int, width: int) -> Font:
    """The largest font of at most `size` px in which `text` fits in `width` px."""
    while True:
        font = _font(path, size)
        if size <= 16 or draw.textlength(text, font=font) <= width:
            return font
        size = int(size * 0.9)


def qr_image(data: str, side: int = QR_SIDE) -> Image.Image | None:
    """`data` as a QR code of at most `side` px, quiet zone included, in whole pixels per
    module (a blurred module edge is what makes a camera fail); None if it cannot be encoded."""
    try:
        code = segno.make_qr(data, error="m")
    except segno.DataOverflowError:
        log.warning("the QR code is left out: %d characters do not fit in one", len(data))
        return None
    rows = list(code.matrix_iter(scale=1, border=QR_QUIET_ZONE))
    modules = len(rows)
    small = Image.new("RGB", (modules, modules), QR_LIGHT)
    small.putdata([QR_DARK if dark else QR_LIGHT for row in rows for dark in row])
    scale = max(side // modules, 1)
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def message_file_name(message: ScreenMessage) -> str:
    fields = [
        message.title, message.headline, list(message.lines), message.qr, list(SCREEN_SIZE)
    ]  # fmt: skip
    digest = hashlib.sha256(json.dumps(fields).encode()).hexdigest()
    return f"message-{digest[:20]}.png"


def draw_message(message: ScreenMessage) -> Image.Image:
    """The message as an RGB image of SCREEN_SIZE: the text centred, or in the left part
    beside the QR code when the message has one."""
    width, height = SCREEN_SIZE
    margin = width // 16
    left, right = margin, width - margin
    image = Image.new("RGB", SCREEN_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    qr = qr_image(message.qr) if message.qr else None
    if qr is not None:
        qr_left = right - qr.width
        image.paste(qr, (qr_left, (height - qr.height) // 2))
        right = qr_left - margin // 2
    usable = right - left
    centre = (left + right) // 2

    title_font = _fitted_font(draw, message.title, REGULAR_FONT, 64, usable)
    headline_font = _fitted_font(draw, message.headline, BOLD_FONT, 220, usable)

    # Lay the blocks out top to bottom, then centre the whole stack vertically.
    blocks: list[tuple[str, Font, tuple[int, int, int], int]] = []
    if message.title:
        blocks.append((message.title, title_font, TITLE_COLOR, 60))
    blocks.append((message.headline, headline_font, HEADLINE_COLOR, 70))
    for line in message.lines:
        blocks.append((line, _fitted_font(draw, line, REGULAR_FONT, 52, usable), LINE_COLOR, 24))
    # One height per font, descender included, so lines without one are spaced alike.
    heights = [draw.textbbox((0, 0), "Ág", font=font)[3] for _, font, _, _ in blocks]
    total = sum(heights) + sum(gap for *_, gap in blocks[:-1])
    y = max((height - total) // 2, margin // 2)
    for (text, font, color, gap), block_height in zip(blocks, heights, strict=True):
        draw.text((centre, y), text, font=font, fill=color, anchor="ma")
        y += block_height + gap
    return image


def render_message(message: ScreenMessage, messages_dir: Path) -> Path:
    """The PNG showing `message` in `messages_dir`, drawn now unless it already exists."""
    target = messages_dir / message_file_name(message)
    if target.is_file():
        return target
    messages_dir.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as file:
            draw_message(message).save(file, format="PNG")
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


__all__ = [
    "QR_SIDE",
    "SCREEN_SIZE",
    "draw_message",
    "message_file_name",
    "qr_image",
    "render_message",
]
