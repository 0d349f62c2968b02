"""Content-addressed blob downloads: resumed with Range, verified by sha256, renamed atomically.

A blob lives at `<cache>/<sha256>` only once its bytes hash to that name and their length is
the asset's `size`, so the player can trust any file it finds there. Partial downloads are
kept as `<sha256>.part` and resumed with `Range` + `If-Range` (the blob's ETag is its hash, so
a resumed download can never splice two different files together). A body longer than
`size` is cut off as soon as it passes it, and its partial file deleted.

Every failure of one blob raises a `DownloadError` naming the blob, so a caller can go on
with the next one; only `Unauthorized` (the device's tokens, not this blob) passes through.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import httpx

from sync.client import DeviceClient
from sync.errors import (
    BlobUnavailable,
    CloudResponseError,
    CloudUnreachable,
    DownloadError,
    DownloadInterrupted,
    HashMismatch,
    SizeMismatch,
    Unauthorized,
)
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


def _resume_offset(part: Path) -> int:
    """How many bytes a previous attempt kept (0: start afresh).

    Local file work in this module blocks the loop for at most milliseconds per chunk; libvlc
    plays in its own threads, so playback does not stall meanwhile.
    """
    part.parent.mkdir(parents=True, exist_ok=True)
    return part.stat().st_size if part.exists() else 0


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)


def _range_start(response: httpx.Response) -> int | None:
    """The first byte of a 206 answer (`Content-Range: bytes N-M/T`), None if unreadable."""
    unit, _, rest = response.headers.get("Content-Range", "").partition(" ")
    start = rest.partition("-")[0]
    return int(start) if unit == "bytes" and start.isdigit() else None


async def download_blob(client: DeviceClient, sha256: str, cache_dir: Path, *, size: int) -> Path:
    """Make sure `<cache_dir>/<sha256>` holds the verified blob of `size` bytes; its path.

    Raises a `DownloadError` for any failure of this blob: `BlobUnavailable` (the cloud
    answered another status, e.g. 404), `DownloadInterrupted` (network; the partial file is
    kept for a resumed attempt), `SizeMismatch` and `HashMismatch` (the bytes are wrong and
    are discarded), and `DownloadError` itself when the cache cannot be written.
    """
    blob = sha256[:12]
    final = blob_path(cache_dir, sha256)
    part = cache_dir / f"{sha256}.part"
    try:
        if final.exists():
            return final
        offset = _resume_offset(part)
        if offset >= size:  # nothing left to ask for: check what we have, or start over
            if offset == size and _hash_file(part).hexdigest() == sha256:
                move_into_place(part, final)
                return final
            part.unlink()
            offset = 0
        received, digest = await _fetch(client, sha256, part, offset=offset, size=size)
        if received != size:
            part.unlink(missing_ok=True)
            raise SizeMismatch(
                f"blob {blob} ended after {received} of its {size} bytes: discarded, "
                f"will fetch again"
            )
        actual = digest.hexdigest()
        if actual != sha256:
            part.unlink(missing_ok=True)
            raise HashMismatch(
                f"blob {blob} arrived with sha256 {actual[:12]}: discarded, will fetch again"
            )
        move_into_place(part, final)
    except OSError as exc:
        raise DownloadError(f"blob {blob}: cannot write it to {cache_dir}: {exc}") from exc
    return final


async def _fetch(
    client: DeviceClient, sha256: str, part: Path, *, offset: int, size: int
) -> tuple[int, hashlib._Hash]:
    """Append the blob's bytes from `offset` (or all of them) to `part`.

    Returns how many bytes `part` holds and their sha256 (so far).
    """
    blob = sha256[:12]
    headers = {"Range": f"bytes={offset}-", "If-Range": f'"{sha256}"'} if offset else None
    try:
        async with client.stream_blob(sha256, headers=headers) as response:
            resumed = offset > 0 and response.status_code == 206
            if resumed and _range_start(response) != offset:
                raise BlobUnavailable(
                    f"blob {blob}: asked for bytes from {offset}, the cloud answered "
                    f"Content-Range {response.headers.get('Content-Range', '')[:60]!r}"
                )
            received = offset if resumed else 0
            digest = _hash_file(part) if resumed else hashlib.sha256()
            with part.open("ab" if resumed else "wb") as f:
                async for chunk in response.aiter_bytes(CHUNK):
                    received += len(chunk)
                    if received > size:
                        raise SizeMismatch(
                            f"blob {blob} is longer than its announced {size} bytes: "
                            f"stopped and discarded"
                        )
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
    except SizeMismatch:
        _discard(part)
        raise
    except Unauthorized:
        raise  # the device's tokens, not this blob: the caller has to enroll again
    except CloudUnreachable as exc:
        raise DownloadInterrupted(f"blob {blob}: download interrupted ({exc})") from exc
    except CloudResponseError as exc:
        raise BlobUnavailable(f"blob {blob}: {exc}", exc.status_code) from exc
    if resumed:
        log.info("resumed blob %s from byte %d", blob, offset)
    return received, digest


__all__ = ["blob_path", "download_blob"]
