"""The content cache: verified blobs on disk, named by their sha256. Its one owner.

Layout: `<state_dir>/content/<sha256>` for a verified blob, `<sha256>.part` while one
downloads (`sync.downloads` writes both and renames only after the hash matched). Nothing
else in the agent builds these paths: the daemon, `status` and the wipe on device removal
all ask this class. Quota and eviction will live here too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from sync.client import DeviceClient
from sync.downloads import blob_path, download_blob

log = logging.getLogger(__name__)

CONTENT_DIR_NAME = "content"


class ContentCache:
    """The verified blobs of one device, under `<state_dir>/content`."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / CONTENT_DIR_NAME
        self._present: set[str] | None = None  # listed once, then kept up to date

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

    def _listing(self) -> set[str]:
        """One directory listing at first use, then kept in step by `fetch` and `wipe`."""
        if self._present is None:
            try:
                self._present = {
                    p.name for p in self.root.iterdir() if len(p.name) == 64 and "." not in p.name
                }
            except FileNotFoundError:
                self._present = set()
        return self._present

    async def fetch(self, client: DeviceClient, sha256: str, size: int) -> Path:
        """Download and verify `sha256` into the cache; raises `sync.errors.DownloadError`."""
        path = await download_blob(client, sha256, self.root, size=size)
        self._listing().add(sha256)
        return path

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
        self._present = set()
        return removed


__all__ = ["CONTENT_DIR_NAME", "ContentCache"]
