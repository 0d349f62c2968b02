"""`agent.content_cache`: what is present, room under a quota, the grace period, the wipe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.content_cache import ContentCache, NoRoom, Quota

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def filled(tmp_path: Path, blobs: dict[str, int], **quota: float) -> ContentCache:
    root = tmp_path / "content"
    root.mkdir(exist_ok=True)
    for age, (sha, size) in enumerate(blobs.items()):
        path = root / sha
        path.write_bytes(b"x" * size)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))  # listed order = played order
    return ContentCache(tmp_path, quota=Quota(min_free_percent=0, **quota))  # type: ignore[arg-type]


def test_only_verified_blobs_count_as_present_and_the_wipe_removes_everything(
    tmp_path: Path,
) -> None:
    assert ContentCache(tmp_path).present() == set()  # no folder yet: nothing, no error
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / A).write_bytes(b"verified")
    (tmp_path / "content" / f"{B}.part").write_bytes(b"half")
    cache = ContentCache(tmp_path)
    assert cache.present() == {A}
    assert cache.missing([A, B]) == {B}
    assert cache.has(A) and not cache.has(B)
    assert cache.wipe() == 2
    assert list(cache.root.iterdir()) == [] and cache.present() == set()


def test_room_is_made_by_evicting_the_least_recently_played_blob_nothing_uses(
    tmp_path: Path,
) -> None:
    cache = filled(tmp_path, {A: 400, B: 400, C: 400}, max_bytes=1500)
    cache.played(A)  # A played just now: B is now the least recently played
    cache.make_room(400, keep={C, D}, sha256=D)
    assert cache.present() == {A, C}
    assert cache.usage().used_bytes == 800


def test_a_blob_that_cannot_fit_is_refused_and_what_is_used_stays(tmp_path: Path) -> None:
    cache = filled(tmp_path, {A: 400, B: 400}, max_bytes=1000)
    with pytest.raises(NoRoom, match=f"blob {D[:12]}: no room for 900 bytes"):
        cache.make_room(900, keep={A, B, D}, sha256=D)
    assert cache.present() == {A, B}


def test_unreferenced_blobs_go_only_after_the_grace_period(tmp_path: Path) -> None:
    now = [0.0]
    cache = filled(tmp_path, {A: 10, B: 10}, grace_s=100)
    cache._clock = lambda: now[0]
    assert cache.collect([A]) == 0  # B just became unreferenced
    now[0] = 50
    assert cache.collect([A, B]) == 0  # used again: its grace restarts later
    now[0] = 120
    assert cache.collect([A]) == 0
    now[0] = 221
    assert cache.collect([A]) == 1
    assert cache.present() == {A}
