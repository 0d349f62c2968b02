"""Delta sync of groups, schedule entries and interrupts against the real cloud, read by a real
DPoP device: exactly what each write brings to each screen, what leaving takes away and what
stays, and full listings across every kind in small pages.

`Device.sync()` checks after every delta that the screen holds exactly what a fresh full
listing names, data included: a missed change (or a stray tombstone) fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from sync.models import StatePage
from tests.cloud.screen import (
    ADMIN,
    PNG_1X1,
    Device,
    Screen,
    add_entry,
    answer,
    assign,
    assign_group,
    create_group,
    create_playlist,
    interrupt,
    join,
    leave,
    listed_now,
    upload,
)
from tests.support.cloud import RunningCloud

LISTING_ORDER = ["device", "group", "schedule", "interrupt", "playlist", "asset"]


@dataclass
class Site:
    admin: httpx.Client
    screen: Screen
    assets: list[str]

    def playlist(self, name: str, *indexes: int) -> str:
        return create_playlist(self.admin, name, [{"asset_id": self.assets[i]} for i in indexes])


@pytest.fixture
def site(cloud: RunningCloud) -> Iterator[Site]:
    with cloud.admin() as admin, Screen(cloud.url) as screen:
        screen.enroll(cloud)
        assets = [
            upload(admin, f"a{i}.png", PNG_1X1 + bytes([i]), "image/png")["id"] for i in range(8)
        ]
        yield Site(admin, screen, assets)


def screens(cloud: RunningCloud, count: int) -> list[Screen]:
    enrolled = []
    for index in range(count):
        screen = Screen(cloud.url)
        screen.enroll(cloud, name=f"Screen {index}")
        enrolled.append(screen)
    return enrolled


def test_a_group_brings_its_default_entries_interrupt_playlists_and_assets_and_takes_them_back(
    site: Site,
) -> None:
    admin, a, me = site.admin, site.assets, site.screen.device_id
    for_group, for_entries, for_interrupt = (
        site.playlist("Group", 0, 1),
        site.playlist("Entries", 1, 2),
        site.playlist("Alert", 3),
    )
    device = Device(site.screen)

    # A group nobody is in concerns nobody, whatever it gets.
    group = create_group(admin, "North")
    assign_group(admin, group, for_group)
    group_entry = add_entry(admin, for_entries, group_id=group, days=["mon"], priority=3)
    group_interrupt = interrupt(admin, "groups", group, for_interrupt)["id"]
    assert device.sync() == set()

    own_entry = add_entry(admin, for_entries, device_id=me, from_time="09:00", to_time="17:00")
    assert device.sync() == {
        ("schedule", own_entry, False),
        ("playlist", for_entries, False),
        ("asset", a[1], False),
        ("asset", a[2], False),
    }

    join(admin, group, me)
    # The entries' playlist and its assets are held already: not sent again.
    assert device.sync() == {
        ("device", me, False),
        ("group", group, False),
        ("schedule", group_entry, False),
        ("interrupt", group_interrupt, False),
        ("playlist", for_group, False),
        ("playlist", for_interrupt, False),
        ("asset", a[0], False),
        ("asset", a[3], False),
    }
    held = device.held
    assert held["device", me].data["group_ids"] == [group]
    assert held["group", group].data == {"id": group, "name": "North", "playlist_id": for_group}
    assert held["schedule", group_entry].data["group_id"] == group
    assert held["schedule", group_entry].data["days"] == ["mon"]
    assert held["schedule", own_entry].data["group_id"] is None
    assert held["schedule", own_entry].data["from_time"] == "09:00"
    assert held["interrupt", group_interrupt].data["until"] is None

    leave(admin, group, me)
    # What only the group brought goes; the playlist of its own entry, and assets, stay.
    assert device.sync() == {
        ("device", me, False),
        ("group", group, True),
        ("schedule", group_entry, True),
        ("interrupt", group_interrupt, True),
        ("playlist", for_group, True),
        ("playlist", for_interrupt, True),
        ("asset", a[0], True),
        ("asset", a[3], True),
    }
    assert ("playlist", for_entries) in device.held
    assert ("asset", a[1]) in device.held
    assert device.held["device", me].data["group_ids"] == []


def test_a_group_default_reaches_every_member_and_no_one_else(
    cloud: RunningCloud, site: Site
) -> None:
    admin, a = site.admin, site.assets
    first, second = site.playlist("First", 0, 1), site.playlist("Second", 1, 2)
    members = screens(cloud, 2)
    outsider = site.screen
    try:
        group = create_group(admin, "South", *(s.device_id for s in members))
        # One member has Second as its own default already.
        assert assign(admin, members[1].device_id, second).status_code == 200
        synced = [Device(s) for s in members]
        watching = Device(outsider)

        assign_group(admin, group, first)
        assert synced[0].sync() == {
            ("group", group, False),
            ("playlist", first, False),
            ("asset", a[0], False),
            ("asset", a[1], False),
        }
        assert synced[1].sync() == {
            ("group", group, False),
            ("playlist", first, False),
            ("asset", a[0], False),  # a[1] is in Second already
        }
        assert watching.sync() == set()

        assign_group(admin, group, second)
        assert synced[0].sync() == {
            ("group", group, False),
            ("playlist", first, True),
            ("playlist", second, False),
            ("asset", a[0], True),
            ("asset", a[2], False),
        }
        assert synced[1].sync() == {
            ("group", group, False),
            ("playlist", first, True),
            ("asset", a[0], True),
        }
        assert watching.sync() == set()

        # A rename of a playlist held through the group reaches the members only.
        answer(admin.patch(f"{ADMIN}/playlists/{second}", json={"name": "Second 2"}))
        assert synced[0].sync() == {("playlist", second, False)}
        assert synced[1].sync() == {("playlist", second, False)}
        assert watching.sync() == set()

        answer(admin.delete(f"{ADMIN}/groups/{group}"))
        assert synced[0].sync() == {
            ("device", members[0].device_id, False),
            ("group", group, True),
            ("playlist", second, True),
            ("asset", a[1], True),
            ("asset", a[2], True),
        }
        # Its own default keeps Second on the other.
        assert synced[1].sync() == {("device", members[1].device_id, False), ("group", group, True)}
        assert watching.sync() == set()
    finally:
        for screen in members:
            screen.http.close()


def test_an_asset_two_playlists_use_stays_when_one_drops_it(site: Site) -> None:
    admin, a, me = site.admin, site.assets, site.screen.device_id
    default, scheduled = site.playlist("Default", 0, 1), site.playlist("Scheduled", 1, 2)
    assert assign(admin, me, default).status_code == 200
    add_entry(admin, scheduled, device_id=me)
    device = Device(site.screen)

    items = [{"asset_id": a[0]}]
    answer(admin.put(f"{ADMIN}/playlists/{default}/items", json={"items": items}))
    assert device.sync() == {("playlist", default, False)}  # a[1]: Scheduled still uses it
    assert ("asset", a[1]) in device.held

    answer(admin.put(f"{ADMIN}/playlists/{scheduled}/items", json={"items": items}))
    assert device.sync() == {
        ("playlist", scheduled, False),
        ("asset", a[1], True),
        ("asset", a[2], True),
    }


def test_an_interrupt_comes_is_replaced_and_cleared_as_tombstones(site: Site) -> None:
    admin, a, me = site.admin, site.assets, site.screen.device_id
    alert, calm = site.playlist("Alert", 3), site.playlist("Calm", 4)
    device = Device(site.screen)

    first = interrupt(admin, "devices", me, alert, for_s=3600)
    assert first["device_id"] == me and first["until"] is not None
    assert device.sync() == {
        ("interrupt", first["id"], False),
        ("playlist", alert, False),
        ("asset", a[3], False),
    }
    assert device.held["interrupt", first["id"]].data["playlist_id"] == alert

    second = interrupt(admin, "devices", me, alert)  # one per device: it replaces the first
    assert device.sync() == {("interrupt", first["id"], True), ("interrupt", second["id"], False)}

    third = interrupt(admin, "devices", me, calm)
    assert device.sync() == {
        ("interrupt", second["id"], True),
        ("interrupt", third["id"], False),
        ("playlist", alert, True),
        ("asset", a[3], True),
        ("playlist", calm, False),
        ("asset", a[4], False),
    }

    cleared = answer(admin.delete(f"{ADMIN}/devices/{me}/interrupt"))
    assert cleared["id"] == third["id"]
    assert device.sync() == {
        ("interrupt", third["id"], True),
        ("playlist", calm, True),
        ("asset", a[4], True),
    }
    assert list(device.held) == [("device", me)]


def test_settings_entries_and_windows_reach_the_device(site: Site) -> None:
    admin, a, me = site.admin, site.assets, site.screen.device_id
    device = Device(site.screen)
    settings = {"timezone": "Europe/Berlin", "on_switch": "finish", "rotation": 180, "volume": 20}
    record = answer(admin.patch(f"{ADMIN}/devices/{me}/settings", json=settings))
    assert (record["timezone"], record["on_switch"]) == ("Europe/Berlin", "finish")
    assert device.sync() == {("device", me, False)}
    held = device.held["device", me].data
    assert {key: held[key] for key in settings} == settings
    answer(admin.patch(f"{ADMIN}/devices/{me}/settings", json={"rotation": None}))
    assert device.sync() == {("device", me, False)}
    assert device.held["device", me].data["rotation"] is None  # the screen's own again

    items = [
        {"asset_id": a[0], "valid_from": "2026-12-01", "valid_until": "2026-12-24"},
        {"asset_id": a[1], "valid_until": "2026-12-31T18:00"},
        {"asset_id": a[2], "valid_from": "2027-01-01T00:00:00+01:00"},
        {"asset_id": a[3]},
    ]
    playlist = create_playlist(admin, "Windows", items)
    entry = add_entry(
        admin,
        playlist,
        device_id=me,
        days=["sat", "mon"],
        from_time="22:00",
        to_time="02:00",
        start_date="2026-12-01",
        end_date="2026-12-31",
        priority=-5,
        timezone="America/New_York",
        on_switch="cut",
    )
    device.sync()
    sent = device.held["playlist", playlist].data["items"]
    assert sent[0] == {
        "asset_id": a[0],
        "position": 0,
        "duration_ms": 10000,
        "valid_from": "2026-12-01",
        "valid_until": "2026-12-24",
    }
    assert sent[1]["valid_until"] == "2026-12-31T18:00:00" and "valid_from" not in sent[1]
    assert sent[2]["valid_from"] == "2027-01-01T00:00:00+01:00"
    assert "valid_from" not in sent[3] and "valid_until" not in sent[3]
    data = device.held["schedule", entry].data
    created_at = data.pop("created_at")
    assert created_at.endswith("+00:00")
    assert data == {
        "id": entry,
        "playlist_id": playlist,
        "group_id": None,
        "days": ["mon", "sat"],  # in week order
        "from_time": "22:00",
        "to_time": "02:00",
        "start_date": "2026-12-01",
        "end_date": "2026-12-31",
        "priority": -5,
        "timezone": "America/New_York",
        "on_switch": "cut",
    }

    answer(admin.delete(f"{ADMIN}/schedules/{entry}"))
    assert device.sync() == {("schedule", entry, True), ("playlist", playlist, True)} | {
        ("asset", asset, True) for asset in a[:4]
    }


def test_a_listing_of_every_kind_comes_whole_in_small_pages(
    cloud: RunningCloud, site: Site
) -> None:
    admin, me = site.admin, site.screen.device_id
    playlists = [site.playlist(f"P{i}", i, i + 1, 7) for i in range(6)]
    groups = [create_group(admin, f"G{i}", me) for i in range(3)]
    create_group(admin, "Empty")  # not the device's
    assign(admin, me, playlists[0])
    assign_group(admin, groups[0], playlists[1])
    entries = [add_entry(admin, playlists[2], device_id=me, priority=i) for i in range(3)]
    entries += [add_entry(admin, playlists[3], group_id=g) for g in groups[1:]]
    interrupts = [
        interrupt(admin, "devices", me, playlists[4])["id"],
        interrupt(admin, "groups", groups[2], playlists[5])["id"],
    ]
    expected = (
        {("device", me)}
        | {("group", g) for g in groups}
        | {("schedule", e) for e in entries}
        | {("interrupt", i) for i in interrupts}
        | {("playlist", p) for p in playlists}
        | {("asset", a) for a in site.assets}
    )
    whole = listed_now(site.screen)
    assert set(whole) == expected
    assert whole["device", me]["group_ids"] == groups  # the order they were joined

    for limit in (1, 3, 7):
        pages = site.screen.pages(limit=limit)
        assert all(page.full for page in pages)
        assert [page.more for page in pages] == [True] * (len(pages) - 1) + [False]
        assert all(len(page.changes) <= limit for page in pages)
        named = [(c.kind, c.id) for page in pages for c in page.changes]
        assert len(named) == len(set(named)) == len(expected)
        assert set(named) == expected
        order = [(LISTING_ORDER.index(kind), object_id) for kind, object_id in named]
        assert order == sorted(order)
        assert {(c.kind, c.id): c.data for p in pages for c in p.changes} == whole
        assert site.screen.get_state(pages[-1].cursor).status_code == 204


def test_a_listing_resumes_after_edits_made_between_its_pages(site: Site) -> None:
    admin, a, me = site.admin, site.assets, site.screen.device_id
    group = create_group(admin, "G", me)
    first = site.playlist("First", 0, 1)
    second = site.playlist("Second", 2)
    entry = add_entry(admin, first, group_id=group)
    page = site.screen.page(limit=2)  # the device and the group
    assert [(c.kind, c.id) for c in page.changes] == [("device", me), ("group", group)]
    # Meanwhile the group's entry goes and another playlist comes.
    answer(admin.delete(f"{ADMIN}/schedules/{entry}"))
    add_entry(admin, second, device_id=me)
    rest = site.screen.pages(page.cursor, limit=2)
    deltas = site.screen.pages(rest[-1].cursor)
    held: dict[tuple[str, str], object] = {}
    for one in [page, *rest, *deltas]:
        for change in one.changes:
            if change.deleted:
                held.pop((change.kind, change.id), None)
            else:
                held[change.kind, change.id] = change.data
    assert held == listed_now(site.screen)
    assert ("asset", a[2]) in held and ("playlist", first) not in held


def test_removing_a_device_takes_its_entries_interrupt_and_memberships(
    cloud: RunningCloud, site: Site
) -> None:
    admin, me = site.admin, site.screen.device_id
    playlist = site.playlist("P", 0)
    group = create_group(admin, "G", me)
    add_entry(admin, playlist, device_id=me)
    interrupt(admin, "devices", me, playlist)
    answer(admin.delete(f"{ADMIN}/devices/{me}"))
    assert answer(admin.get(f"{ADMIN}/groups"))[0]["devices"] == 0
    assert answer(admin.get(f"{ADMIN}/schedules")) == []
    assert answer(admin.get(f"{ADMIN}/interrupts")) == []
    # Nothing refers to the playlist any more: it can go.
    answer(admin.delete(f"{ADMIN}/playlists/{playlist}"))
    assert answer(admin.get(f"{ADMIN}/groups"))[0]["id"] == group


def test_a_long_poll_is_woken_by_a_change_of_its_group_only(
    cloud: RunningCloud, site: Site
) -> None:
    admin, me = site.admin, site.screen.device_id
    group = create_group(admin, "G", me)
    other = create_group(admin, "Other")
    playlist = site.playlist("P", 0)
    _, cursor = site.screen.listing()
    assign_group(admin, other, playlist)  # not this device's group: no wake
    quiet = site.screen.get_state(cursor, wait=1)
    assert quiet.status_code == 204
    assign_group(admin, group, playlist)
    woken = site.screen.get_state(cursor, wait=10)
    assert woken.status_code == 200
    page = StatePage.model_validate_json(woken.content)
    assert {(c.kind, c.id) for c in page.changes} == {
        ("group", group),
        ("playlist", playlist),
        ("asset", site.assets[0]),
    }
