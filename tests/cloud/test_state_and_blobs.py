"""What a device reads: its state behind a cursor, and blobs with Range support."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from sync.models import Asset, Playlist
from tests.cloud.screen import (
    PNG_1X1,
    VIDEO_BYTES,
    Screen,
    assign,
    changes_of,
    create_playlist,
    upload,
)
from tests.support.cloud import RunningCloud


@pytest.fixture
def screen(cloud: RunningCloud) -> Iterator[Screen]:
    with Screen(cloud.url) as enrolled:
        enrolled.enroll(cloud)
        yield enrolled


def test_the_cursor_says_when_nothing_changed_and_the_delta_brings_an_assignment(
    cloud: RunningCloud, screen: Screen
) -> None:
    held, cursor = screen.listing()
    assert list(held) == [("device", screen.device_id)]
    assert held["device", screen.device_id].data == {
        "id": screen.device_id,
        "name": "Lobby",
        "tenant_id": cloud.tenant_id,
        "playlist_id": None,
        "group_ids": [],
        "timezone": "UTC",
        "on_switch": "cut",
        "rotation": None,  # the screen's own
        "volume": None,
    }

    unchanged = screen.get_state(cursor)
    assert unchanged.status_code == 204
    assert unchanged.content == b""
    assert unchanged.headers["DPoP-Nonce"]

    with cloud.admin() as admin:
        image = upload(admin, "welcome.png", PNG_1X1, "image/png")
        video = upload(admin, "clip.mp4", VIDEO_BYTES, "video/mp4")
        playlist_id = create_playlist(
            admin,
            "Loop",
            [
                {"asset_id": image["id"]},
                {"asset_id": video["id"]},
                {"asset_id": image["id"], "duration_s": 2.5},
            ],
        )
        # Uploads and a playlist nobody plays concern no device: still nothing new.
        assert screen.get_state(cursor).status_code == 204
        assert assign(admin, screen.device_id, playlist_id).status_code == 200

    pages = screen.pages(cursor)
    assert len(pages) == 1 and not pages[0].full and not pages[0].more
    changes = changes_of(pages)
    assert set(changes) == {
        ("device", screen.device_id),
        ("playlist", playlist_id),
        ("asset", image["id"]),
        ("asset", video["id"]),
    }
    assert changes["device", screen.device_id].data["playlist_id"] == playlist_id
    playlist = Playlist.model_validate(changes["playlist", playlist_id].data)
    assert playlist.name == "Loop"
    assert [(i.position, i.asset_id, i.duration_ms) for i in playlist.items] == [
        (0, image["id"], 10_000),  # an image without a duration: 10 s
        (1, video["id"], None),  # a video without a duration plays to its end
        (2, image["id"], 2_500),
    ]
    # Each asset comes once, however often the playlist uses it.
    assert Asset.model_validate(changes["asset", video["id"]].data) == Asset(
        id=video["id"],
        name="clip.mp4",
        sha256=video["sha256"],
        media_type="video",
        size=len(VIDEO_BYTES),
    )
    # One write, one version, newer than what the listing said.
    assert {c.version for c in changes.values()} == {pages[0].changes[0].version}
    assert pages[0].changes[0].version > held["device", screen.device_id].version
    assert screen.get_state(pages[-1].cursor).status_code == 204


def test_an_admin_change_for_another_tenant_does_not_move_the_cursor(
    cloud: RunningCloud, screen: Screen
) -> None:
    _, cursor = screen.listing()
    _, other_key = cloud.create_tenant("Other")
    with cloud.admin() as admin:
        admin.headers["Authorization"] = f"Bearer {other_key}"
        upload(admin, "theirs.png", PNG_1X1, "image/png")
    assert screen.get_state(cursor).status_code == 204


def test_the_admin_sees_when_a_screen_was_last_heard_from(
    cloud: RunningCloud, screen: Screen
) -> None:
    with cloud.admin() as admin:
        before = admin.get("/api/v3/admin/devices").json()
        assert before[0]["last_seen_at"] is None
        screen.listing()
        after = admin.get("/api/v3/admin/devices").json()
    assert after[0]["id"] == screen.device_id
    assert after[0]["last_seen_at"] is not None


def test_a_blob_downloads_whole_or_resumes_from_an_offset(
    cloud: RunningCloud, screen: Screen
) -> None:
    with cloud.admin() as admin:
        video = upload(admin, "clip.mp4", VIDEO_BYTES, "video/mp4")
    sha256 = video["sha256"]

    whole = screen.get_blob(sha256)
    assert whole.status_code == 200
    assert whole.content == VIDEO_BYTES
    assert whole.headers["ETag"] == f'"{sha256}"'
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert hashlib.sha256(whole.content).hexdigest() == sha256

    part = screen.get_blob(sha256, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == VIDEO_BYTES[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(VIDEO_BYTES)}"

    rest = screen.get_blob(sha256, headers={"Range": "bytes=16000-", "If-Range": f'"{sha256}"'})
    assert rest.status_code == 206
    assert rest.content == VIDEO_BYTES[16000:]

    # A stale validator means "send it all again", not a piece of something else.
    stale = screen.get_blob(sha256, headers={"Range": "bytes=16000-", "If-Range": '"other"'})
    assert stale.status_code == 200
    assert stale.content == VIDEO_BYTES


def test_an_unknown_blob_is_not_found(screen: Screen) -> None:
    missing = screen.get_blob(hashlib.sha256(b"never uploaded").hexdigest())
    assert missing.status_code == 404
    assert screen.get_blob("not-a-sha256").status_code == 422
