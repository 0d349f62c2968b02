"""Delta sync against the real cloud: full listings in pages, the exact changes of every
admin edit and delete, cursors that are gone, replay, retention and compaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cloud.screen import (
    PNG_1X1,
    Device,
    Screen,
    assign,
    changes_of,
    create_playlist,
    data_of,
    held_after,
    listed_now,
    upload,
)
from tests.support.cloud import RunningCloud, running_cloud

ADMIN = "/api/v3/admin"


@dataclass
class Setup:
    admin: httpx.Client
    screen: Screen
    assets: list[str]
    lobby_list: str  # assets 0, 1, 2; played by the screen
    spare_list: str  # assets 2, 3; played by nobody


@pytest.fixture
def setup(cloud: RunningCloud) -> Iterator[Setup]:
    with cloud.admin() as admin, Screen(cloud.url) as screen:
        screen.enroll(cloud)
        assets = [
            upload(admin, f"a{i}.png", PNG_1X1 + bytes([i]), "image/png")["id"] for i in range(5)
        ]
        lobby_list = create_playlist(admin, "Lobby", [{"asset_id": a} for a in assets[:3]])
        spare_list = create_playlist(admin, "Spare", [{"asset_id": a} for a in assets[2:4]])
        assert assign(admin, screen.device_id, lobby_list).status_code == 200
        yield Setup(admin, screen, assets, lobby_list, spare_list)


def test_a_full_listing_comes_in_pages_and_names_everything(cloud: RunningCloud) -> None:
    with cloud.admin() as admin, Screen(cloud.url) as screen:
        screen.enroll(cloud)
        assets = [
            upload(admin, f"{i}.png", PNG_1X1 + bytes([i]), "image/png")["id"] for i in range(25)
        ]
        playlist = create_playlist(admin, "All", [{"asset_id": a} for a in assets])
        assert assign(admin, screen.device_id, playlist).status_code == 200
        pages = screen.pages(limit=4)
        cursor = pages[-1].cursor
        assert screen.get_state(cursor).status_code == 204  # the last cursor is a delta one
    assert len(pages) == 7  # 27 objects, 4 a page
    assert all(page.full for page in pages)
    assert [page.more for page in pages] == [True] * 6 + [False]
    assert all(len(page.changes) <= 4 for page in pages)
    named = [(c.kind, c.id) for page in pages for c in page.changes]
    assert len(named) == len(set(named))
    assert named[:2] == [("device", screen.device_id), ("playlist", playlist)]
    assert set(named[2:]) == {("asset", a) for a in assets}
    assert all(not c.deleted for page in pages for c in page.changes)


def test_edits_made_while_a_listing_is_read_are_replayed_after_it(setup: Setup) -> None:
    admin, screen, assets = setup.admin, setup.screen, setup.assets
    first = screen.page(limit=2)  # the device and its playlist
    assert first.full and first.more
    # Meanwhile: an asset renamed, one taken out of the playlist, one brought in.
    admin.patch(f"{ADMIN}/assets/{assets[2]}", json={"name": "renamed"}).raise_for_status()
    items = [{"asset_id": assets[0]}, {"asset_id": assets[2]}, {"asset_id": assets[4]}]
    admin.put(f"{ADMIN}/playlists/{setup.lobby_list}/items", json={"items": items})
    rest = screen.pages(first.cursor, limit=2)
    assert all(page.full for page in rest)
    held = held_after([first, *rest])
    deltas = screen.pages(rest[-1].cursor)
    assert deltas, "the edits made during the listing must come again as deltas"
    held = held_after(deltas, held)
    assert data_of(held) == listed_now(screen)
    assert held["asset", assets[2]].data["name"] == "renamed"
    assert ("asset", assets[1]) not in held


def test_each_admin_edit_brings_exactly_its_changes(setup: Setup) -> None:
    admin, screen, a = setup.admin, setup.screen, setup.assets
    lobby, spare, me = setup.lobby_list, setup.spare_list, setup.screen.device_id
    device = Device(screen)

    admin.patch(f"{ADMIN}/assets/{a[0]}", json={"name": "Welcome"}).raise_for_status()
    assert device.sync() == {("asset", a[0], False)}
    assert device.held["asset", a[0]].data["name"] == "Welcome"

    # Nothing this screen holds: no change, not even a page.
    admin.patch(f"{ADMIN}/assets/{a[4]}", json={"name": "unused"}).raise_for_status()
    admin.patch(f"{ADMIN}/playlists/{spare}", json={"name": "Spare 2"}).raise_for_status()
    items = [{"asset_id": a[3]}, {"asset_id": a[4]}]
    admin.put(f"{ADMIN}/playlists/{spare}/items", json={"items": items}).raise_for_status()
    assert device.sync() == set()

    admin.patch(f"{ADMIN}/playlists/{lobby}", json={"name": "Lobby 2"}).raise_for_status()
    assert device.sync() == {("playlist", lobby, False)}

    items = [{"asset_id": a[0]}, {"asset_id": a[3], "duration_s": 3}]
    admin.put(f"{ADMIN}/playlists/{lobby}/items", json={"items": items}).raise_for_status()
    assert device.sync() == {
        ("playlist", lobby, False),
        ("asset", a[3], False),  # came in
        ("asset", a[1], True),  # went
        ("asset", a[2], True),
    }

    refused = admin.delete(f"{ADMIN}/assets/{a[3]}")
    assert refused.status_code == 409, refused.text
    assert "--force" in refused.json()["detail"]
    assert device.sync() == set()
    admin.delete(f"{ADMIN}/assets/{a[3]}", params={"force": "true"}).raise_for_status()
    assert device.sync() == {("asset", a[3], True), ("playlist", lobby, False)}
    assert [i["asset_id"] for i in device.held["playlist", lobby].data["items"]] == [a[0]]

    admin.patch(f"{ADMIN}/devices/{me}", json={"name": "Front door"}).raise_for_status()
    assert device.sync() == {("device", me, False)}
    assert device.held["device", me].data["name"] == "Front door"

    items = [{"asset_id": a[0]}, {"asset_id": a[4]}]
    admin.put(f"{ADMIN}/playlists/{spare}/items", json={"items": items}).raise_for_status()
    assert assign(admin, me, spare).status_code == 200
    # a[0] is in both playlists: it is not sent again.
    assert device.sync() == {
        ("device", me, False),
        ("playlist", lobby, True),
        ("playlist", spare, False),
        ("asset", a[4], False),
    }
    assert device.held["device", me].data["playlist_id"] == spare

    assert admin.delete(f"{ADMIN}/playlists/{spare}").status_code == 409
    assert assign(admin, me, None).status_code == 200
    assert device.sync() == {
        ("device", me, False),
        ("playlist", spare, True),
        ("asset", a[0], True),
        ("asset", a[4], True),
    }
    assert list(device.held) == [("device", me)]
    # Deleting what the screen no longer holds: nothing for it.
    admin.delete(f"{ADMIN}/playlists/{spare}").raise_for_status()
    admin.delete(f"{ADMIN}/assets/{a[0]}", params={"force": "true"}).raise_for_status()
    assert device.sync() == set()


def test_replaying_a_cursor_gives_the_same_answer(setup: Setup) -> None:
    admin, screen, a = setup.admin, setup.screen, setup.assets
    _, cursor = screen.listing()
    admin.patch(f"{ADMIN}/assets/{a[1]}", json={"name": "B"}).raise_for_status()
    items = [{"asset_id": a[1]}, {"asset_id": a[4]}]
    admin.put(f"{ADMIN}/playlists/{setup.lobby_list}/items", json={"items": items})
    first = screen.get_state(cursor, limit=2)
    again = screen.get_state(cursor, limit=2)
    assert first.status_code == 200
    assert first.content == again.content
    listing = screen.get_state(limit=3)
    assert listing.content == screen.get_state(limit=3).content


@pytest.mark.parametrize(
    "make_cursor",
    [
        lambda good: "garbage",
        lambda good: "",
        lambda good: "d1.00000000." + good.split(".")[2],  # another database's epoch
        lambda good: good + "0000",  # a change that never happened
        lambda good: good.replace("d1.", "f1.", 1),  # a listing that names no position
        lambda good: good + ".asset." + "x" * 300,  # too long
        lambda good: good + ".release.x",  # a kind this cloud does not list
        lambda good: good.replace("d1.", "d1.\u00e9", 1),
    ],
)
def test_a_cursor_the_cloud_did_not_make_is_gone(setup: Setup, make_cursor: Any) -> None:
    _, good = setup.screen.listing()
    gone = setup.screen.get_state(make_cursor(good), wait=5)
    assert gone.status_code == 410, gone.text
    detail = gone.json()["detail"]
    assert "without a cursor" in detail and "\n" not in detail
    assert ("playlist", setup.lobby_list) in listed_now(setup.screen)


def test_an_expired_cursor_is_gone_and_the_log_stays_bounded(tmp_path: Path) -> None:
    env = {"SIGNAGE_CLOUD_CHANGE_RETENTION_S": "1"}
    with running_cloud(tmp_path / "cloud", env=env) as cloud, cloud.admin() as admin:
        with Screen(cloud.url) as screen:
            screen.enroll(cloud)
            asset = upload(admin, "a.png", PNG_1X1, "image/png")["id"]
            playlist = create_playlist(admin, "P", [{"asset_id": asset}])
            _, old = screen.listing()
            assert assign(admin, screen.device_id, playlist).status_code == 200
            current = screen.pages(old)[-1].cursor
            time.sleep(1.2)  # past the retention window: the next write prunes what is older
            for round_ in range(30):  # and the same object changing keeps one row
                rename = admin.patch(
                    f"{ADMIN}/devices/{screen.device_id}", json={"name": f"{round_}"}
                )
                rename.raise_for_status()
            gone = screen.get_state(old)
            assert gone.status_code == 410, gone.text
            assert "older than the changes the cloud keeps" in gone.json()["detail"]
            pages = screen.pages(current)  # nothing it needs was pruned
            assert {(c.kind, c.id) for c in changes_of(pages).values()} == {
                ("device", screen.device_id)
            }
            held, _ = screen.listing()
            assert set(held) == {
                ("device", screen.device_id),
                ("playlist", playlist),
                ("asset", asset),
            }
        with closing(
            sqlite3.connect(f"file:{cloud.data_dir / 'cloud.db'}?mode=ro", uri=True)
        ) as db:
            rows = db.execute("SELECT kind FROM device_changes").fetchall()
    assert rows == [("device",)]


def test_another_tenants_edits_never_reach_a_device(setup: Setup, cloud: RunningCloud) -> None:
    device = Device(setup.screen)
    _, other_key = cloud.create_tenant("Other")
    with cloud.admin() as other, Screen(cloud.url) as theirs:
        other.headers["Authorization"] = f"Bearer {other_key}"
        theirs.enroll(cloud, name="Theirs", admin_key=other_key)
        asset = upload(other, "theirs.png", PNG_1X1, "image/png")["id"]
        playlist = create_playlist(other, "Theirs", [{"asset_id": asset}])
        assert assign(other, theirs.device_id, playlist).status_code == 200
        # The other tenant cannot edit this tenant's objects either.
        assert (
            other.patch(f"{ADMIN}/assets/{setup.assets[0]}", json={"name": "x"}).status_code == 404
        )
        assert other.delete(f"{ADMIN}/playlists/{setup.lobby_list}").status_code == 404
        assert (
            other.patch(f"{ADMIN}/devices/{setup.screen.device_id}", json={"name": "x"}).status_code
            == 404
        )
    assert device.sync() == set()
    ids = {object_id for _, object_id in device.held}
    assert not ids & {asset, playlist, theirs.device_id}
