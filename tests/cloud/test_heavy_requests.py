"""One tenant's heavy request does not hold up another tenant's, and lists are bounded."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing

import httpx

from sync.models import ADMIN_PREFIX, MAX_PLAYLIST_ITEMS, Playlist
from tests.cloud.screen import PNG_1X1, Screen, assign, create_playlist, upload
from tests.support.cloud import RunningCloud


def wait_until(condition: object, future: Future[httpx.Response]) -> None:
    """Wait for `condition()` (or for `future` to end early); not a timing assertion."""
    deadline = time.monotonic() + 30
    while not condition() and not future.done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the upload never reached the cloud's database"
        time.sleep(0.01)


def test_another_tenants_request_is_answered_while_a_write_waits(cloud: RunningCloud) -> None:
    _, key_b = cloud.create_tenant("Other")
    data = PNG_1X1 + os.urandom(4096)  # a picture (the cloud probes uploads), unique
    sha256 = hashlib.sha256(data).hexdigest()
    blob = cloud.data_dir / "blobs" / sha256[:2] / sha256
    # Hold SQLite's write lock: tenant A's upload then stops inside its database write,
    # which comes right after its blob is renamed into place.
    with (
        closing(sqlite3.connect(cloud.data_dir / "cloud.db", isolation_level=None)) as lock,
        ThreadPoolExecutor(1) as pool,
        cloud.admin() as a,
        httpx.Client(
            base_url=cloud.url, headers={"Authorization": f"Bearer {key_b}"}, timeout=60
        ) as b,
    ):
        lock.execute("BEGIN IMMEDIATE")
        try:
            upload_a = pool.submit(
                a.post,
                f"{ADMIN_PREFIX}/assets",
                params={"name": "a.png"},
                content=data,
                headers={"Content-Type": "image/png"},
                timeout=60,
            )
            wait_until(blob.exists, upload_a)
            assert not upload_a.done(), upload_a.result().text

            devices_b = b.get(f"{ADMIN_PREFIX}/devices")

            assert devices_b.status_code == 200, devices_b.text
            assert devices_b.json() == []
            assert not upload_a.done()  # B was answered while A's request was still at work
        finally:
            lock.execute("ROLLBACK")
        uploaded = upload_a.result()
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["sha256"] == sha256


def test_the_largest_playlist_allowed_is_created_and_served(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        asset = upload(admin, "a.png", PNG_1X1, "image/png")["id"]
        items = [{"asset_id": asset, "duration_s": 1 + i % 7} for i in range(MAX_PLAYLIST_ITEMS)]
        playlist = create_playlist(admin, "Everything", items)
        too_many = admin.post(
            f"{ADMIN_PREFIX}/playlists",
            json={"name": "Too much", "items": [*items, {"asset_id": asset}]},
        )
        assert too_many.status_code == 422
        assert f"at most {MAX_PLAYLIST_ITEMS} items" in too_many.json()["detail"]
        with Screen(cloud.url) as screen:
            screen.enroll(cloud)
            assert assign(admin, screen.device_id, playlist).status_code == 200
            held, _ = screen.listing()
    served = Playlist.model_validate(held["playlist", playlist].data)
    assert len(served.items) == MAX_PLAYLIST_ITEMS
    assert [item.duration_ms for item in served.items[:8]] == [
        1000,
        2000,
        3000,
        4000,
        5000,
        6000,
        7000,
        1000,
    ]
