"""Reading a drawn screen back: QR codes decoded by `zbarimg` (Debian's zbar-tools), where
the QR code sits, and where the text is. No OCR: text is found as bright pixels."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from PIL import Image

needs_zbarimg = pytest.mark.skipif(
    shutil.which("zbarimg") is None,
    reason="zbarimg is needed to decode QR codes (apt-get install zbar-tools; bootstrap does)",
)


def decode_qr(picture: Path | Image.Image) -> list[str]:
    """The text of every QR code zbarimg finds in `picture` (other barcode kinds are off)."""
    with tempfile.TemporaryDirectory() as folder:
        if isinstance(picture, Image.Image):
            path = Path(folder) / "screen.png"
            picture.save(path)
        else:
            path = picture
        result = subprocess.run(
            ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", "-Sbinary", str(path)],
            capture_output=True,
            check=False,
            timeout=60,
        )
    # 0: found, 4: no symbol found; anything else is zbarimg failing (e.g. an unreadable file).
    assert result.returncode in (0, 4), result.stderr.decode(errors="replace")
    return result.stdout.decode().splitlines()


def dark_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the black pixels: the QR modules.

    A message's background is dark blue-grey and its text is anti-aliased onto it, so
    nothing but a QR module comes near black."""
    return image.convert("L").point(lambda value: 255 if value < 8 else 0).getbbox()


def bright_runs(image: Image.Image, left: int, right: int) -> list[tuple[int, int]]:
    """(top, bottom) of each run of rows holding near-white pixels between `left` and `right`:
    one per line of text."""
    bright = image.convert("L").crop((left, 0, right, image.height)).point(lambda v: v > 200)
    rows = [y for y in range(bright.height) if bright.crop((0, y, bright.width, y + 1)).getbbox()]
    runs: list[tuple[int, int]] = []
    for y in rows:
        if runs and y - runs[-1][1] <= 2:
            runs[-1] = (runs[-1][0], y)
        else:
            runs.append((y, y))
    return runs


__all__ = ["bright_runs", "dark_box", "decode_qr", "needs_zbarimg"]
