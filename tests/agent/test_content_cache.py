"""`agent.content_cache`: what is present, and the wipe when a device is removed."""

from __future__ import annotations

from pathlib import Path

from agent.content_cache import ContentCache


def test_only_verified_blobs_count_as_present_and_the_wipe_removes_everything(
    tmp_path: Path,
) -> None:
    cache = ContentCache(tmp_path)
    assert cache.present() == set() and cache.wipe() == 0  # no folder yet: nothing, no error
    cache.root.mkdir()
    done, partial = "a" * 64, "b" * 64
    cache.path(done).write_bytes(b"verified")
    (cache.root / f"{partial}.part").write_bytes(b"half")
    assert cache.present() == {done}
    assert cache.missing([done, partial]) == {partial}
    assert cache.has(done) and not cache.has(partial)
    assert cache.wipe() == 2
    assert list(cache.root.iterdir()) == []
