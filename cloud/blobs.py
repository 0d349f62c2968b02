"""Content-addressed blob storage: `blobs/<sha256[:2]>/<sha256>` in the data dir.

An upload is streamed into a temp file under `blobs/.incoming/` while it is hashed, then
fsynced and renamed to its address, so a blob at its address is always complete and its
name is the truth about its bytes. The same bytes uploaded twice are stored once. Blobs
are shared between tenants on disk, but a tenant can only reach a blob through one of its
own asset rows.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sync.files import move_into_place

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    path: Path


class BlobWriter:
    """One upload in progress; `commit()` or `abort()` it exactly once."""

    def __init__(self, store: BlobStore, tmp_path: Path) -> None:
        self._store = store
        self._tmp_path = tmp_path
        self._file = open(tmp_path, "xb")  # noqa: SIM115 - closed by commit() or abort()
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def commit(self) -> StoredBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._hash.hexdigest()
        path = self._store.path_for(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        move_into_place(self._tmp_path, path)
        return StoredBlob(sha256=sha256, size=self.size, path=path)

    def abort(self) -> None:
        self._file.close()
        self._tmp_path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._incoming = root / ".incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)
        # Uploads cut off by a crash leave temp files behind; nothing else writes there.
        for leftover in self._incoming.iterdir():
            leftover.unlink(missing_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def writer(self) -> BlobWriter:
        return BlobWriter(self, self._incoming / f"{secrets.token_hex(8)}.part")


__all__ = ["BlobStore", "BlobWriter", "StoredBlob"]
