"""The content cache: verified blobs on disk, named by their sha256. Its one owner.

Layout: `<state_dir>/content/<sha256>` for a verified blob, `<sha256>.part` while one
downloads (`sync.downloads` writes both and renames only after the hash matched). Nothing
else in the agent builds these paths: the daemon, `status` and the wipe on device removal
all ask this class.

Room: before a download, the cache makes sure the blob fits its quota (keep
`min_free_percent` of the filesystem free, and use at most `max_bytes`), evicting blobs
that nothing references, least recently played first (a blob's modification time is set
when it starts playing). A blob that still does not fit is refused (its items are skipped
and reported), never written into a full disk. Blobs nothing references are also deleted
once they have been unreferenced for `grace_s`, so a playlist switched back and forth is
not downloaded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sync.client import DeviceClient
from sync.downloads import blob_path, download_blob
from sync.errors import DownloadError

log = logging.getLogger(__name__)

CONTENT_DIR_NAME = "content"


@dataclass(frozen=True)
class Quota:
    min_free_percent: float = 10.0  # of the filesystem, always left free
    max_bytes: int = 0  # 0: no cap beyond the free space
    grace_s: float = 86_400.0  # how long an unreferenced blob is kept


class NoRoom(DownloadError):
    """The blob does not fit even after evicting everything unreferenced."""


@dataclass(frozen=True)
class Usage:
    used_bytes: int
    blobs: int
    limit_bytes: int  # what the cache may use now: its cap or what free space allows


class ContentCache:
    """The verified blobs of one device, under `<state_dir>/content`."""

    def __init__(
        self,
        state_dir: Path,
        *,
        quota: Quota | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = state_dir / CONTENT_DIR_NAME
        self.quota = quota or Quota()
        self._clock = clock
        self._sizes: dict[str, int] | None = None  # listed once, then kept up to date
        self._unreferenced_since: dict[str, float] = {}
        self._reserved = 0  # bytes promised to downloads in flight

    def path(self, sha256: str) -> Path:
        """Where the blob `sha256` lives once verified (it may not be there yet)."""
        return blob_path(self.root, sha256)

    def has(self, sha256: str) -> bool:
        return sha256 in self._listing()

    def missing(self, sha256s: Iterable[str]) -> set[str]:
        """The blobs of `sha256s` that are not in the cache yet."""
        present = self._listing()
        return {sha256 for sha256 in sha256s if sha256 not in present}

    def present(self) -> set[str]:
        """Every verified blob in the cache."""
        return set(self._listing())

    def _listing(self) -> dict[str, int]:
        """sha256 -> size: one listing at first use, then kept in step by `fetch` and deletes."""
        if self._sizes is None:
            self._sizes = {}
            try:
                entries = list(os.scandir(self.root))
            except FileNotFoundError:
                entries = []
            for entry in entries:
                if len(entry.name) == 64 and "." not in entry.name and entry.is_file():
                    self._sizes[entry.name] = entry.stat().st_size
        return self._sizes

    # --- filling -------------------------------------------------------------------------

    async def fetch(
        self, client: DeviceClient, sha256: str, size: int, *, keep: Iterable[str] = ()
    ) -> Path:
        """Download and verify `sha256` into the cache; raises `sync.errors.DownloadError`.

        Room is made first by evicting unreferenced blobs (never those in `keep`).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.make_room(size, keep=set(keep) | {sha256}, sha256=sha256)
        self._reserved += size  # downloads side by side must fit together, not each alone
        try:
            path = await download_blob(client, sha256, self.root, size=size)
        finally:
            self._reserved -= size
        self._listing()[sha256] = size
        return path

    def played(self, sha256: str) -> None:
        """Note that `sha256` started playing (eviction goes least recently played first)."""
        # gone meanwhile, or a read-only cache: eviction order is only a preference
        with contextlib.suppress(OSError):
            os.utime(self.path(sha256))

    # --- room ---------------------------------------------------------------------------

    def usage(self) -> Usage:
        sizes = self._listing()
        used = sum(sizes.values())
        return Usage(used_bytes=used, blobs=len(sizes), limit_bytes=used + self._room(used))

    def _room(self, used: int) -> int:
        """How many more bytes the cache may take now."""
        try:
            stats = os.statvfs(self.root if self.root.exists() else self.root.parent)
        except OSError:
            return 0
        total, free = stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize
        # downloads in flight have not written all their bytes yet: count them as used
        room = free - int(total * self.quota.min_free_percent / 100) - self._reserved
        if self.quota.max_bytes:
            room = min(room, self.quota.max_bytes - used - self._reserved)
        return max(0, room)

    def make_room(self, size: int, *, keep: set[str], sha256: str = "") -> None:
        """Evict unreferenced blobs, least recently played first, until `size` bytes fit."""
        used = sum(self._listing().values())
        if self._room(used) >= size:
            return
        candidates = []
        for candidate in self._listing().keys() - keep:
            try:
                stat = self.path(candidate).stat()
            except OSError:
                continue
            candidates.append((stat.st_mtime, candidate, stat.st_size))
        freed = 0
        for _, candidate, blob_size in sorted(candidates):
            self._delete(candidate)
            freed += blob_size
            log.info("evicted blob %s (%d bytes) to make room", candidate[:12], blob_size)
            if self._room(used - freed) >= size:
                return
        raise NoRoom(
            f"blob {sha256[:12] or '?'}: no room for {size} bytes in {self.root} "
            f"(quota: keep {self.quota.min_free_percent:g}% of the disk free"
            + (f", use at most {self.quota.max_bytes} bytes" if self.quota.max_bytes else "")
            + ")"
        )

    def collect(self, referenced: Iterable[str]) -> int:
        """Delete blobs unreferenced for longer than the grace period; returns how many."""
        now = self._clock()
        wanted = set(referenced)
        for sha256 in list(self._unreferenced_since):
            if sha256 in wanted:
                del self._unreferenced_since[sha256]
        removed = 0
        for sha256 in self._listing().keys() - wanted:
            since = self._unreferenced_since.setdefault(sha256, now)
            if now - since >= self.quota.grace_s:
                self._delete(sha256)
                removed += 1
        if removed:
            log.info("deleted %d blob(s) nothing has used for %.0f s", removed, self.quota.grace_s)
        return removed

    def drop_unreferenced(self, referenced: Iterable[str]) -> tuple[int, int]:
        """Delete every blob not in `referenced` now, grace period or not (the `clear-cache`
        command); returns how many blobs and bytes went."""
        wanted = set(referenced)
        removed = freed = 0
        for sha256, size in list(self._listing().items()):
            if sha256 not in wanted:
                self._delete(sha256)
                removed += 1
                freed += size
        if removed:
            log.info("cleared %d blob(s) nothing uses (%d bytes)", removed, freed)
        return removed, freed

    def _delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
        self._listing().pop(sha256, None)
        self._unreferenced_since.pop(sha256, None)

    def wipe(self) -> int:
        """Delete every file of the cache (the device was removed); returns how many."""
        removed = 0
        try:
            entries = list(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for path in entries:
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
        self._sizes = {}
        self._unreferenced_since.clear()
        return removed


async def collect_forever(
    cache: ContentCache, referenced: Callable[[], Iterable[str]], every_s: float = 600.0
) -> None:
    """Delete what nothing has used for the grace period: every `every_s` seconds, or every
    half grace period when that is shorter (at least once a second)."""
    interval = max(1.0, min(every_s, cache.quota.grace_s / 2))
    while True:
        await asyncio.sleep(interval)
        cache.collect(referenced())


__all__ = [
    "CONTENT_DIR_NAME",
    "ContentCache",
    "NoRoom",
    "Quota",
    "Usage",
    "collect_forever",
]
