"""Streams in the cloud: an asset played from a URL, with no blob (docs/media.md#streams)."""

from __future__ import annotations

import json
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from cloud import store
from cloud.store import MIGRATIONS, Database
from sync.models import ADMIN_PREFIX, Asset, stream_sha256
from tests.cloud.screen import (
    PNG_1X1,
    Device,
    Screen,
    answer,
    assign,
    create_playlist,
    upload,
)
from tests.cloud.test_cli import assert_one_line_error, ok, signage_cloud
from tests.cloud.test_hostile_input import assert_no_traceback, reason
from tests.support.cloud import RunningCloud

STREAMS = f"{ADMIN_PREFIX}/assets/streams"
ASSETS = f"{ADMIN_PREFIX}/assets"
HLS = "https://example.com/live/lobby.m3u8"
CAMERA = "rtsp://door:s3cret@camera.local:554/stream1"
NEEDS_DURATION = "a stream plays for its item's duration: give duration_s"


def add_stream(admin: httpx.Client, url: str, name: str = "Feed") -> dict[str, object]:
    body: dict[str, object] = answer(admin.post(STREAMS, json={"name": name, "url": url}))
    return body


def test_a_stream_is_added_listed_renamed_and_deleted_without_the_cloud_touching_it(
    cloud: RunningCloud,
) -> None:
    with socket.socket() as listener:
        # Where the stream "is": a port on loopback that must never see a connection.
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/live/index.m3u8"
        with cloud.admin() as admin:
            created = add_stream(admin, url, "Lobby feed")
            camera = add_stream(admin, CAMERA, "Door camera")
            again = add_stream(admin, url, "Lobby feed, again")
            image = upload(admin, "welcome.png", PNG_1X1)
            listed = {a["id"]: a for a in answer(admin.get(ASSETS))}
            renamed = answer(admin.patch(f"{ASSETS}/{camera['id']}", json={"name": "Door"}))
            deleted = answer(admin.delete(f"{ASSETS}/{again['id']}"))
            after = {a["id"]: a["name"] for a in answer(admin.get(ASSETS))}
        with pytest.raises(BlockingIOError):
            listener.accept()

    assert created == {
        "id": created["id"],
        "name": "Lobby feed",
        "sha256": stream_sha256(url),
        "media_type": "stream",
        "size": 0,
        "url": url,
    }
    # The same URL twice: two assets, as the same bytes uploaded twice are.
    assert again["id"] != created["id"] and again["sha256"] == created["sha256"]
    assert {i: (a["media_type"], a["url"], a["size"]) for i, a in listed.items()} == {
        created["id"]: ("stream", url, 0),
        camera["id"]: ("stream", CAMERA, 0),
        again["id"]: ("stream", url, 0),
        image["id"]: ("image", None, len(PNG_1X1)),
    }
    assert (renamed["name"], renamed["url"]) == ("Door", CAMERA)
    assert (deleted["id"], deleted["url"]) == (again["id"], url)
    assert after == {created["id"]: "Lobby feed", camera["id"]: "Door", image["id"]: "welcome.png"}
    log = cloud.log()
    assert "rtsp://door:***@camera.local:554/stream1" in log
    assert "s3cret" not in log


HOSTILE: list[tuple[str, object, str]] = [
    ("a file URL", {"name": "x", "url": "file:///etc/passwd"}, "starts with http://"),
    ("javascript", {"name": "x", "url": "javascript:alert(1)"}, "starts with http://"),
    ("another scheme", {"name": "x", "url": "udp://239.0.0.1:1234"}, "starts with http://"),
    ("no scheme", {"name": "x", "url": "example.com/live.m3u8"}, "starts with http://"),
    ("no host", {"name": "x", "url": "http:///live.m3u8"}, "names a host"),
    ("only a user", {"name": "x", "url": "rtsp://user@/stream"}, "names a host"),
    ("only a port", {"name": "x", "url": "http://:8080/live"}, "names a host"),
    ("a space", {"name": "x", "url": "http://example.com/my live.m3u8"}, "no spaces"),
    ("a tab", {"name": "x", "url": "http://example.com/\tlive"}, "U+0009"),
    ("a newline", {"name": "x", "url": "http://example.com/\nforged log line"}, "U+000A"),
    ("a NUL", {"name": "x", "url": "http://example.com/\x00"}, "U+0000"),
    ("a line separator", {"name": "x", "url": "http://example.com/\u2028"}, "U+2028"),
    ("3000 characters", {"name": "x", "url": "http://example.com/" + "a" * 2981}, "2048"),
    ("a port too large", {"name": "x", "url": "rtsp://camera:99999/s"}, "port"),
    ("a broken IPv6 host", {"name": "x", "url": "http://[::1/live"}, "IPv6"),
    ("not a string", {"name": "x", "url": ["http://example.com/"]}, "url"),
    ("no url", {"name": "x"}, "url: Field required"),
    ("an empty name", {"name": "", "url": HLS}, "name"),
    ("no name", {"url": HLS}, "name: Field required"),
]


def test_hostile_stream_urls_are_refused_with_one_line_and_nothing_is_stored(
    cloud: RunningCloud,
) -> None:
    with cloud.admin() as admin:
        for what, body, said in HOSTILE:
            response = admin.post(STREAMS, json=body)
            assert response.status_code == 422, (what, response.text)
            detail = reason(response)
            assert said in detail, (what, detail)
            assert len(detail) <= 500, what
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            not_json = admin.post(
                STREAMS, content=b"url=http://example.com/", headers={"Content-Type": content_type}
            )
            assert not_json.status_code == 422, (content_type, not_json.text)
            reason(not_json)  # one line
        broken = admin.post(
            STREAMS, content=b'{"url": "http://ex', headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 422, broken.text
        assert "not valid JSON" in reason(broken)
        assert answer(admin.get(ASSETS)) == []
    assert_no_traceback(cloud)


def test_a_stream_item_needs_a_duration(cloud: RunningCloud) -> None:
    with cloud.admin() as admin:
        stream = add_stream(admin, HLS)
        image = upload(admin, "welcome.png", PNG_1X1)
        items = [{"asset_id": image["id"]}, {"asset_id": stream["id"]}]
        refused = admin.post(f"{ADMIN_PREFIX}/playlists", json={"name": "Loop", "items": items})
        assert refused.status_code == 422, refused.text
        assert reason(refused) == f"items[1] ({stream['id']}): {NEEDS_DURATION}"
        assert answer(admin.get(f"{ADMIN_PREFIX}/playlists")) == []

        items[1]["duration_s"] = 30
        playlist = create_playlist(admin, "Loop", items)
        shown = answer(admin.get(f"{ADMIN_PREFIX}/playlists/{playlist}"))
        assert [i["duration_ms"] for i in shown["items"]] == [10_000, 30_000]

        # Replacing the items checks the same.
        replaced = admin.put(
            f"{ADMIN_PREFIX}/playlists/{playlist}/items",
            json={"items": [{"asset_id": stream["id"]}]},
        )
        assert replaced.status_code == 422, replaced.text
        assert reason(replaced) == f"items[0] ({stream['id']}): {NEEDS_DURATION}"
        shown = answer(admin.get(f"{ADMIN_PREFIX}/playlists/{playlist}"))
        assert [i["duration_ms"] for i in shown["items"]] == [10_000, 30_000]


def test_a_device_receives_the_stream_with_its_url_and_has_no_blob_to_fetch(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    screen = screens[0]
    with cloud.admin() as admin:
        stream = add_stream(admin, CAMERA, "Door camera")
        image = upload(admin, "welcome.png", PNG_1X1)
        items = [{"asset_id": stream["id"], "duration_s": 60}, {"asset_id": image["id"]}]
        playlist = create_playlist(admin, "Door", items)
        device = Device(screen)
        assert device.held.keys() == {("device", screen.device_id)}
        answer(assign(admin, screen.device_id, playlist))
        changed = device.sync()
        assert ("asset", stream["id"], False) in changed
        sent = device.held["asset", str(stream["id"])].data
        assert sent == {
            "id": stream["id"],
            "name": "Door camera",
            "sha256": stream_sha256(CAMERA),
            "media_type": "stream",
            "size": 0,
            "url": CAMERA,
        }
        Asset.model_validate(sent)  # what the agent checks it with
        # A file's asset is what it was before streams: no url at all.
        assert "url" not in device.held["asset", str(image["id"])].data
        items_sent = device.held["playlist", playlist].data["items"]
        assert [(i["asset_id"], i["duration_ms"]) for i in items_sent] == [
            (stream["id"], 60_000),
            (image["id"], 10_000),
        ]

        answer(admin.patch(f"{ASSETS}/{stream['id']}", json={"name": "Front door"}))
        assert device.sync() == {("asset", stream["id"], False)}
        assert device.held["asset", str(stream["id"])].data["url"] == CAMERA

    blob = screen.get_blob(stream_sha256(CAMERA))
    assert blob.status_code == 404, blob.text
    assert blob.json()["detail"] == (
        f"no asset with sha256 {stream_sha256(CAMERA)} for this device"
    )
    assert screen.get_blob(str(image["sha256"])).content == PNG_1X1
    assert_no_traceback(cloud)


def test_the_command_line_adds_and_lists_a_stream(
    cloud: RunningCloud, admin_env: dict[str, str]
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    stream = run("asset", "add-stream", HLS, "--name", "Lobby feed")
    assert stream.startswith("ast_") and "\n" not in stream
    listed = json.loads(run("asset", "list", "--json"))
    assert [(a["id"], a["media_type"], a["url"], a["sha256"]) for a in listed] == [
        (stream, "stream", HLS, stream_sha256(HLS))
    ]
    table = run("asset", "list").splitlines()
    assert table[0].split() == ["ID", "NAME", "TYPE", "BYTES", "PLAYLISTS", "URL"]
    assert table[1].split() == [stream, "Lobby", "feed", "stream", "0", "0", HLS]

    bad = signage_cloud("asset", "add-stream", "file:///etc/passwd", "--name", "x", env=admin_env)
    assert assert_one_line_error(bad) == (
        "signage-cloud: error: url: a stream URL starts with http://, https://, rtsp://"
    )
    no_name = signage_cloud("asset", "add-stream", HLS, env=admin_env)
    assert no_name.returncode == 2
    assert "--name" in no_name.stderr and "Traceback" not in no_name.stderr

    no_seconds = signage_cloud("playlist", "create", "Loop", "--item", stream, env=admin_env)
    assert assert_one_line_error(no_seconds) == (
        f"signage-cloud: error: items[0] ({stream}): {NEEDS_DURATION}"
    )
    playlist = run("playlist", "create", "Loop", "--item", f"{stream}:45")
    assert run("playlist", "show", playlist).splitlines()[-1].split() == ["0", stream, "45"]
    assert len(json.loads(run("asset", "list", "--json"))) == 1


def test_a_viewer_cannot_add_a_stream_and_an_editor_can(cloud: RunningCloud) -> None:
    _, viewer = cloud.create_key("viewer")
    _, editor = cloud.create_key("editor")
    body = {"name": "Feed", "url": HLS}
    with httpx.Client(base_url=cloud.url) as http:
        refused = http.post(STREAMS, json=body, headers={"Authorization": f"Bearer {viewer}"})
        assert refused.status_code == 403, refused.text
        assert "needs the editor role" in reason(refused)
        listed = http.get(ASSETS, headers={"Authorization": f"Bearer {viewer}"})
        assert answer(listed) == []
        added = http.post(STREAMS, json=body, headers={"Authorization": f"Bearer {editor}"})
        assert answer(added)["url"] == HLS
        listed = http.get(ASSETS, headers={"Authorization": f"Bearer {viewer}"})
        assert [a["url"] for a in answer(listed)] == [HLS]


def test_another_tenants_device_never_sees_the_stream(cloud: RunningCloud) -> None:
    _, other_key = cloud.create_tenant("Other")
    with (
        cloud.admin() as admin,
        httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}) as other,
        Screen(cloud.url) as ours,
        Screen(cloud.url) as theirs,
    ):
        ours.enroll(cloud, name="Ours")
        theirs.enroll(cloud, name="Theirs", admin_key=other_key)
        stream = add_stream(admin, CAMERA, "Door camera")
        answer(assign(admin, ours.device_id, create_playlist(admin, "Door", [
            {"asset_id": stream["id"], "duration_s": 60}
        ])))  # fmt: skip

        # The other tenant cannot see, use or touch it: as if it did not exist.
        assert answer(other.get(ASSETS)) == []
        body = {"name": "Stolen", "items": [{"asset_id": stream["id"], "duration_s": 60}]}
        stolen = other.post(f"{ADMIN_PREFIX}/playlists", json=body)
        assert stolen.status_code == 422 and str(stream["id"]) in reason(stolen)
        renamed = other.patch(f"{ASSETS}/{stream['id']}", json={"name": "Mine"})
        assert renamed.status_code == 404, renamed.text
        assert other.delete(f"{ASSETS}/{stream['id']}").status_code == 404

        # The same URL in the other tenant is the other tenant's own asset.
        theirs_stream = add_stream(other, CAMERA, "Their camera")
        playlist = create_playlist(
            other, "Theirs", [{"asset_id": theirs_stream["id"], "duration_s": 5}]
        )
        answer(assign(other, theirs.device_id, playlist))

        their_view = {key: change.data for key, change in theirs.listing()[0].items()}
        our_view = {key: change.data for key, change in ours.listing()[0].items()}
        assert ("asset", stream["id"]) in our_view
        assert ("asset", stream["id"]) not in their_view
        assert ("asset", theirs_stream["id"]) in their_view
        assert ("asset", theirs_stream["id"]) not in our_view
        assert their_view["asset", theirs_stream["id"]]["name"] == "Their camera"
        assert theirs.get_blob(stream_sha256(CAMERA)).status_code == 404
        assert [a["name"] for a in answer(admin.get(ASSETS))] == ["Door camera"]


def test_the_migration_keeps_every_asset_and_item_and_lets_streams_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cloud.db"
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:7])  # before 0008_streams
    db = Database(path)
    with db.write():
        db.execute(
            "INSERT INTO tenants (id, name, admin_key_sha256, revision, created_at)"
            " VALUES ('ten_old', 'Old', 'x', 0, '2026-01-01T00:00:00+00:00')"
        )
        db.execute(
            "INSERT INTO assets VALUES ('ast_old', 'ten_old', 'clip.mp4', 'ab', 'video',"
            " 'video/mp4', 42, '2026-01-01T00:00:00+00:00')"
        )
        db.execute(
            "INSERT INTO playlists VALUES ('pl_old', 'ten_old', 'Loop', '2026-01-01T00:00:00')"
        )
        db.execute(
            "INSERT INTO playlist_items (tenant_id, playlist_id, position, asset_id,"
            " duration_ms, valid_from) VALUES ('ten_old', 'pl_old', 0, 'ast_old', 5000,"
            " '2026-12-01')"
        )
    db.close()
    monkeypatch.undo()

    db = Database(path)  # applies 0008_streams
    try:
        assert db.all("SELECT id, media_type, content_type, size, url FROM assets") == [
            {"id": "ast_old", "media_type": "video", "content_type": "video/mp4", "size": 42,
             "url": None}
        ]  # fmt: skip
        assert db.all("SELECT asset_id, duration_ms, valid_from FROM playlist_items") == [
            {"asset_id": "ast_old", "duration_ms": 5000, "valid_from": "2026-12-01"}
        ]
        with db.write():
            db.execute(
                "INSERT INTO assets (id, tenant_id, name, sha256, media_type, size,"
                " created_at, url) VALUES ('ast_s', 'ten_old', 'Feed', ?, 'stream', 0, 'now', ?)",
                (stream_sha256(HLS), HLS),
            )
        with pytest.raises(sqlite3.IntegrityError), db.write():  # a stream without its url
            db.execute(
                "INSERT INTO assets (id, tenant_id, name, sha256, media_type, size,"
                " created_at) VALUES ('ast_t', 'ten_old', 'Feed', 'ab', 'stream', 0, 'now')"
            )
        with pytest.raises(sqlite3.IntegrityError), db.write():  # items still point at assets
            db.execute(
                "INSERT INTO playlist_items (tenant_id, playlist_id, position, asset_id)"
                " VALUES ('ten_old', 'pl_old', 1, 'ast_missing')"
            )
    finally:
        db.close()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {row[1] for row in raw.execute("PRAGMA index_list(assets)")}
        assert "assets_by_sha256" in indexes
        names = [row[0] for row in raw.execute("SELECT name FROM _migrations ORDER BY name")]
        assert "0008_streams" in names and names[-1] == MIGRATIONS[-1][0]
