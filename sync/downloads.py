"""Content-addressed blob downloads: resumed with Range, verified by sha256, renamed atomically.

A blob lives at `<cache>/<sha256>` only once its bytes hash to that name, so the player can
trust any file it finds there. Partial downloads are kept as `<sha256>.part` and resumed with
`Range` + `If-Range` (the blob's ETag is its hash, so a resumed download can never splice two
different files together).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from sync.client import DeviceClient
from sync.errors import DownloadError, HashMismatch
from sync.files import move_into_place

log = logging.getLogger(__name__)

CHUNK = 256 * 1024


def blob_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / sha256


def _hash_file(path: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest


def _resume_offset(final: Path, part: Path) -> int | None:
    """None when the blob is already in place, else how many bytes a previous attempt kept.

    Local file work in this module blocks the loop for at most milliseconds per chunk; libvlc
    plays in its own threads, so playback does not stall meanwhile.
    """
    if final.exists():
        return None
    part.parent.mkdir(parents=True, exist_ok=True)
    return part.stat().st_size if part.exists() else 0


async def download_blob(client: DeviceClient, sha256: str, cache_dir: Path) -> Path:
    """Make sure `<cache_dir>/<sha256>` holds the verified blob; return its path."""
    final = blob_path(cache_dir, sha256)
    part = cache_dir / f"{sha256}.part"
    offset = _resume_offset(final, part)
    if offset is None:
        return final
    headers = {"Range": f"bytes={offset}-", "If-Range": f'"{sha256}"'} if offset else None

    try:
        async with client.stream_blob(sha256, headers=headers) as response:
            resumed = response.status_code == 206 and offset > 0
            digest = _hash_file(part) if resumed else hashlib.sha256()
            with part.open("ab" if resumed else "wb") as f:
                async for chunk in response.aiter_bytes(CHUNK):
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
    except OSError as exc:
        raise DownloadError(f"cannot write blob {sha256[:12]} to {cache_dir}: {exc}") from exc

    actual = digest.hexdigest()
    if actual != sha256:
        part.unlink(missing_ok=True)
        raise HashMismatch(
            f"blob {sha256[:12]} arrived with sha256 {actual[:12]}: discarded, will fetch again"
        )
    move_into_place(part, final)
    if resumed:
        log.info("resumed blob %s from byte %d", sha256[:12], offset)
    return final


__all__ = ["blob_path", "download_blob"]
