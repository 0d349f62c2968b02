"""Drawing a `ScreenMessage` as a full-screen PNG the renderer can show like any image.

1920x1080, a dark background, a large high-contrast headline (the enrollment code must
be readable from across a room), a title above it and smaller lines below. The file is
named after a hash of the message, so showing the same message again reuses it, and it
is written to a temporary name and renamed, so a half-written PNG is never shown.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from player.items import ScreenMessage

SCREEN_SIZE = (1920, 1080)
BACKGROUND = (16, 20, 28)
TITLE_COLOR = (170, 180, 195)
HEADLINE_COLOR = (255, 255, 255)
LINE_COLOR = (215, 222, 232)
BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
REGULAR_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


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


def message_file_name(message: ScreenMessage) -> str:
    fields = [message.title, message.headline, list(message.lines), list(SCREEN_SIZE)]
    digest = hashlib.sha256(json.dumps(fields).encode()).hexdigest()
    return f"message-{digest[:20]}.png"


def draw_message(message: ScreenMessage) -> Image.Image:
    """The message as an RGB image of SCREEN_SIZE."""
    width, height = SCREEN_SIZE
    margin = width // 16
    usable = width - 2 * margin
    image = Image.new("RGB", SCREEN_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)

    title_font = _fitted_font(draw, message.title, REGULAR_FONT, 64, usable)
    headline_font = _fitted_font(draw, message.headline, BOLD_FONT, 220, usable)

    # Lay the blocks out top to bottom, then centre the whole stack vertically.
    blocks: list[tuple[str, Font, tuple[int, int, int], int]] = []
    if message.title:
        blocks.append((message.title, title_font, TITLE_COLOR, 60))
    blocks.append((message.headline, headline_font, HEADLINE_COLOR, 70))
    for line in message.lines:
        blocks.append((line, _fitted_font(draw, line, REGULAR_FONT, 52, usable), LINE_COLOR, 24))
    heights = [draw.textbbox((0, 0), text, font=font)[3] for text, font, _, _ in blocks]
    total = sum(heights) + sum(gap for *_, gap in blocks[:-1])
    y = max((height - total) // 2, margin // 2)
    for (text, font, color, gap), block_height in zip(blocks, heights, strict=True):
        draw.text((width // 2, y), text, font=font, fill=color, anchor="ma")
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


__all__ = ["SCREEN_SIZE", "draw_message", "message_file_name", "render_message"]
