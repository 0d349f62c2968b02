"""Pictures prepared for the screen before libvlc sees them: scaled down, turned.

libvlc keeps each decoded picture at its own size, so a 6000x4000 photo costs about
100 MiB of decoder and output buffers however small the screen is; the renderer's
memory would be set by the largest picture in the playlist. `fitted_image` writes a copy
no larger than the screen (aspect kept) and turned by the configured rotation, once, in a
cache folder, and returns it; a picture that already fits and needs no turning is used
as it is. A copy is written to a temporary name and renamed, so a half-written file is
never shown, and named after the original's identity (sha256 or path and mtime), the
screen size and the rotation, so a change of any of them makes a new copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

ROTATIONS = (0, 90, 180, 270)
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL turns counter-clockwise; 90 here is clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}
# Decoding refuses pictures above this many pixels (Pillow's own bomb guard is a warning).
MAX_PIXELS = 200_000_000


def _identity(path: Path, sha256: str | None) -> str:
    if sha256:
        return sha256[:32]
    info = path.stat()
    key = f"{path.resolve()}:{info.st_size}:{info.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def fitted_image(
    path: Path,
    *,
    screen: tuple[int, int],
    rotation: int,
    cache_dir: Path,
    sha256: str | None = None,
) -> Path:
    """`path`, or a copy of it scaled into `screen` and turned by `rotation` degrees.

    Falls back to `path` itself when it cannot be read as a picture (libvlc then decides
    whether it can show it) or the cache cannot be written.
    """
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation}")
    # A picture turned by 90 or 270 degrees must fit the screen once turned.
    width, height = screen if rotation in (0, 180) else (screen[1], screen[0])
    try:
        with Image.open(path) as probe:
            size = probe.size
            if size[0] <= width and size[1] <= height and rotation == 0:
                return path
            target = (
                cache_dir / f"{_identity(path, sha256)}-{screen[0]}x{screen[1]}-r{rotation}.png"
            )
            if target.is_file():
                return target
            if size[0] * size[1] > MAX_PIXELS:
                log.warning("%s is %dx%d: too large to prepare, given to VLC as is", path, *size)
                return path
            probe.draft("RGB", (width, height))  # JPEG: decode at a reduced size at once
            picture = probe.convert("RGBA" if "A" in probe.getbands() else "RGB")
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        log.debug("cannot prepare %s for the screen (%s); VLC gets it as is", path, exc)
        return path
    picture.thumbnail((width, height), Image.Resampling.LANCZOS)
    if rotation:
        picture = picture.transpose(_TRANSPOSE[rotation])
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as file:
            picture.save(file, format="PNG", compress_level=1)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(target)
    except OSError as exc:
        log.warning("cannot write a screen-sized copy of %s in %s (%s)", path, cache_dir, exc)
        return path
    finally:
        temporary.unlink(missing_ok=True)
    log.info("prepared %s for the screen: %dx%d -> %s", path.name, *size, target.name)
    return target


def screen_pixels(path: Path, screen: tuple[int, int]) -> bytes:
    """`path` scaled to fill `screen` with its aspect kept, centred on black (letterboxed),
    as the screen's BGRX pixels: what libvlc's output would show of it, ready to copy to
    an X11 window (`X11Screen.upload_picture`). Transparent parts show black.

    Raises OSError (with the reason) when the file cannot be decoded as a picture.
    """
    try:
        with Image.open(path) as picture:
            if picture.width * picture.height > MAX_PIXELS:
                raise OSError(f"{picture.width}x{picture.height} is too large to show")
            picture.draft("RGB", screen)
            rgba = picture.convert("RGBA")
    except (UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
        raise OSError(str(exc) or type(exc).__name__) from exc
    return letterboxed(rgba, screen).tobytes("raw", "BGRX")


def letterboxed(picture: Image.Image, screen: tuple[int, int]) -> Image.Image:
    """An RGBA `picture` scaled up or down to fill `screen` with its aspect kept, centred
    on black, as it is shown; transparent parts are black."""
    fitted = ImageOps.contain(picture, screen, Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", screen)
    offset = ((screen[0] - fitted.width) // 2, (screen[1] - fitted.height) // 2)
    canvas.paste(fitted, offset, fitted)  # its own alpha as the mask: transparent is black
    return canvas


__all__ = ["ROTATIONS", "fitted_image", "letterboxed", "screen_pixels"]
