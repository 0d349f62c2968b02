"""Crash-safe file replacement: temp file beside the target, fsync, rename, fsync the folder.

A Pi loses power without warning; after a reboot a file is either the old version or the
new one, never half of each.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data`; the file is created with `mode` from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed or widened what O_CREAT gave
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def move_into_place(tmp: Path, path: Path) -> None:
    """Atomically rename an already fsynced `tmp` onto `path` and make the rename durable."""
    os.replace(tmp, path)
    fsync_dir(path.parent)
