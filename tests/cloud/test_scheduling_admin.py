"""The admin API of groups, schedule entries, interrupts, device settings and item windows,
against the real cloud: round trips, every refusal as a one-line 4xx, tenants kept apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sync.models import MAX_GROUPS_PER_DEVICE
from tests.cloud.screen import (
    ADMIN,
    PNG_1X1,
    Screen,
    add_entry,
    answer,
    assign,
    assign_group,
    create_group,
    create_playlist,
    interrupt,
    join,
    upload,
)
from tests.cloud.test_hostile_input import assert_no_traceback, assert_refused
from tests.support.cloud import RunningCloud


@dataclass
class Tenant:
    admin: httpx.Client
    device: str
    asset: str
    playlist: str


@pytest.fixture
def tenant(cloud: RunningCloud) -> Iterator[Tenant]:
    with cloud.admin() as admin, Screen(cloud.url) as screen:
        screen.enroll(cloud)
        asset = upload(admin, "a.png", PNG_1X1, "image/png")["id"]
        playlist = create_playlist(admin, "P", [{"asset_id": asset}])
        yield Tenant(admin, screen.device_id, asset, playlist)


def test_groups_are_created_filled_assigned_listed_and_deleted(
    cloud: RunningCloud, tenant: Tenant
) -> None:
    admin, me = tenant.admin, tenant.device
    created = answer(admin.post(f"{ADMIN}/groups", json={"name": "North"}))
    group = created["id"]
    assert group.startswith("grp_")
    assert (created["name"], created["devices"], created["playlist_id"]) == ("North", 0, None)

    with Screen(cloud.url) as other:
        other.enroll(cloud, name="Hall")
        assert join(admin, group, me, other.device_id)["devices"] == 2
        assert join(admin, group, me)["devices"] == 2  # already in: nothing changes
        body = {"add": [], "remove": [other.device_id]}
        assert answer(admin.patch(f"{ADMIN}/groups/{group}/devices", json=body))["devices"] == 1
    assert assign_group(admin, group, tenant.playlist)["playlist_id"] == tenant.playlist
    listed = answer(admin.get(f"{ADMIN}/groups"))
    assert [(g["id"], g["name"], g["devices"], g["playlist_id"]) for g in listed] == [
        (group, "North", 1, tenant.playlist)
    ]
    # The group's default and its entry hold the playlist: it cannot go.
    add_entry(admin, tenant.playlist, group_id=group)
    refused = assert_refused(admin.delete(f"{ADMIN}/playlists/{tenant.playlist}"), 409)
    assert "the default of 1 group(s)" in refused and "1 schedule entries" in refused
    assert "`signage-cloud group assign`" in refused
    assert answer(admin.get(f"{ADMIN}/playlists"))[0]["devices"] == 1  # held through the group

    deleted = answer(admin.delete(f"{ADMIN}/groups/{group}"))
    assert deleted["id"] == group
    assert answer(admin.get(f"{ADMIN}/groups")) == []
    assert answer(admin.get(f"{ADMIN}/schedules")) == []  # its entries went with it
    answer(admin.delete(f"{ADMIN}/playlists/{tenant.playlist}"))


def test_a_device_is_in_at_most_so_many_groups_in_the_order_it_joined(
    cloud: RunningCloud, tenant: Tenant
) -> None:
    admin, me = tenant.admin, tenant.device
    groups = [create_group(admin, f"G{i}") for i in range(MAX_GROUPS_PER_DEVICE + 1)]
    for group in reversed(groups[:MAX_GROUPS_PER_DEVICE]):
        join(admin, group, me)
    refused = assert_refused(
        admin.patch(f"{ADMIN}/groups/{groups[-1]}/devices", json={"add": [me]}), 422
    )
    assert f"already in {MAX_GROUPS_PER_DEVICE} groups" in refused
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert shown["group_ids"] == list(reversed(groups[:MAX_GROUPS_PER_DEVICE]))


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"add": ["ME", "dev_nobody"]}, "no device dev_nobody"),
        ({"add": ["ME"], "remove": ["dev_nobody"]}, "no device dev_nobody"),
        ({"add": ["ME", "x" * 65]}, "add[1]"),
        ({"add": ["ME"], "remove": ["ME"]}, "both added and removed"),
    ],
)
def test_group_members_that_cannot_be_are_refused_and_nothing_changes(
    cloud: RunningCloud, tenant: Tenant, body: dict[str, list[str]], problem: str
) -> None:
    group = create_group(tenant.admin, "G")
    body = {key: [tenant.device if i == "ME" else i for i in ids] for key, ids in body.items()}
    refused = tenant.admin.patch(f"{ADMIN}/groups/{group}/devices", json=body)
    assert problem in assert_refused(refused)
    assert answer(tenant.admin.get(f"{ADMIN}/groups"))[0]["devices"] == 0
    assert_no_traceback(cloud)


def test_device_settings_are_set_one_or_both_and_checked(tenant: Tenant) -> None:
    admin, me = tenant.admin, tenant.device
    url = f"{ADMIN}/devices/{me}/settings"
    record = answer(admin.patch(url, json={"timezone": "Asia/Kolkata"}))
    assert (record["timezone"], record["on_switch"], record["id"]) == ("Asia/Kolkata", "cut", me)
    assert (record["rotation"], record["volume"]) == (None, None)  # the screen's own
    record = answer(admin.patch(url, json={"on_switch": "finish"}))
    assert (record["timezone"], record["on_switch"]) == ("Asia/Kolkata", "finish")
    record = answer(admin.patch(url, json={"rotation": 270, "volume": 0}))
    assert (record["rotation"], record["volume"], record["on_switch"]) == (270, 0, "finish")
    record = answer(admin.patch(url, json={"volume": None}))  # back to the screen's own
    assert (record["rotation"], record["volume"]) == (270, None)
    for bad, field in [
        ({"timezone": "Mars/Olympus_Mons"}, "not a time zone this cloud knows"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "localtime"}, "not a time zone this cloud knows"),
        ({"on_switch": "fade"}, "on_switch"),
        ({"rotation": 45}, "rotation"),
        ({"rotation": "90"}, "rotation"),
        ({"rotation": True}, "rotation"),
        ({"volume": 101}, "volume"),
        ({"volume": -1}, "volume"),
        ({"volume": 50.5}, "volume"),
        ({}, "give timezone, on_switch, rotation or volume"),
        ({"timezone": None}, "give timezone, on_switch, rotation or volume"),
    ]:
        assert field in assert_refused(admin.patch(url, json=bad), 422)
    assert_refused(
        admin.patch(f"{ADMIN}/devices/dev_nobody/settings", json={"on_switch": "cut"}), 404
    )
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert (shown["timezone"], shown["on_switch"]) == ("Asia/Kolkata", "finish")
    assert (shown["rotation"], shown["volume"]) == (270, None)


def test_schedule_entries_round_trip_and_list_by_device_or_group(tenant: Tenant) -> None:
    admin, me, playlist = tenant.admin, tenant.device, tenant.playlist
    group = create_group(admin, "G")
    body = {
        "device_id": me,
        "playlist_id": playlist,
        "days": ["fri", "mon"],
        "from_time": "22:30",
        "to_time": "06:00",
        "start_date": "2026-12-01",
        "end_date": "2027-01-06",
        "priority": 7,
        "timezone": "Europe/London",
        "on_switch": "finish",
    }
    before = datetime.now(UTC) - timedelta(seconds=1)
    created = answer(admin.post(f"{ADMIN}/schedules", json=body))
    assert created["id"].startswith("sch_")
    assert before <= datetime.fromisoformat(created["created_at"]) <= datetime.now(UTC)
    for key, value in body.items():
        assert created[key] == (["mon", "fri"] if key == "days" else value), key
    assert created["group_id"] is None
    for_group = add_entry(admin, playlist, group_id=group)
    listed = answer(admin.get(f"{ADMIN}/schedules"))
    assert [e["id"] for e in listed] == [created["id"], for_group]
    mine = answer(admin.get(f"{ADMIN}/schedules", params={"device_id": me}))
    assert [e["id"] for e in mine] == [created["id"]]
    theirs = answer(admin.get(f"{ADMIN}/schedules", params={"group_id": group}))
    assert [(e["id"], e["group_id"], e["device_id"]) for e in theirs] == [(for_group, group, None)]
    defaults = theirs[0]
    assert (defaults["days"], defaults["from_time"], defaults["priority"]) == ([], None, 0)
    assert (defaults["timezone"], defaults["on_switch"]) == (None, None)
    assert_refused(
        admin.get(f"{ADMIN}/schedules", params={"device_id": me, "group_id": group}), 422
    )
    assert_refused(admin.get(f"{ADMIN}/schedules", params={"group_id": "grp_nobody"}), 404)

    assert answer(admin.delete(f"{ADMIN}/schedules/{created['id']}"))["id"] == created["id"]
    assert_refused(admin.delete(f"{ADMIN}/schedules/{created['id']}"), 404)
    assert [e["id"] for e in answer(admin.get(f"{ADMIN}/schedules"))] == [for_group]


BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"from_time": "25:00", "to_time": "26:00"}, "from_time"),
    ({"from_time": "9:00", "to_time": "17:00"}, "is not a time of day HH:MM"),
    ({"from_time": "09:00:00", "to_time": "17:00"}, "is not a time of day HH:MM"),
    ({"from_time": "09:00"}, "from_time and to_time come together"),
    ({"start_date": "2026-12-24", "end_date": "2026-12-01"}, "end_date is before start_date"),
    ({"start_date": "2026-02-30"}, "start_date"),
    ({"start_date": "1999-12-31"}, "outside 2000..2200"),
    ({"days": ["mon", "mon"]}, "the same day twice"),
    ({"days": ["funday"]}, "days[0]"),
    ({"priority": 1_000_001}, "priority"),
    ({"timezone": "Europe/Atlantis"}, "not a time zone this cloud knows"),
    ({"on_switch": "fade"}, "on_switch"),
    ({"device_id": None}, "give device_id or group_id"),
    ({"group_id": "grp_x"}, "give device_id or group_id"),
]


@pytest.mark.parametrize(("fields", "problem"), BAD_ENTRIES)
def test_an_entry_the_model_refuses_is_a_one_line_422(
    cloud: RunningCloud, tenant: Tenant, fields: dict[str, Any], problem: str
) -> None:
    body = {"device_id": tenant.device, "playlist_id": tenant.playlist, **fields}
    body = {key: value for key, value in body.items() if value is not None}
    refused = assert_refused(tenant.admin.post(f"{ADMIN}/schedules", json=body), 422)
    assert problem in refused
    assert answer(tenant.admin.get(f"{ADMIN}/schedules")) == []
    assert_no_traceback(cloud)


def test_unknown_and_foreign_ids_are_404_everywhere(cloud: RunningCloud, tenant: Tenant) -> None:
    admin, me, playlist = tenant.admin, tenant.device, tenant.playlist
    group = create_group(admin, "Ours", me)
    entry = add_entry(admin, playlist, device_id=me)
    interrupt(admin, "devices", me, playlist)
    _, other_key = cloud.create_tenant("Other")
    with httpx.Client(
        base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}
    ) as other:
        theirs = create_playlist(
            other, "Theirs", [{"asset_id": upload(other, "t.png", PNG_1X1)["id"]}]
        )
        their_group = create_group(other, "Theirs")
        calls = [
            ("PATCH", f"/groups/{group}/devices", {"add": []}),
            ("PUT", f"/groups/{group}/playlist", {"playlist_id": theirs}),
            ("DELETE", f"/groups/{group}", None),
            ("PUT", f"/groups/{group}/interrupt", {"playlist_id": theirs}),
            ("DELETE", f"/groups/{group}/interrupt", None),
            ("PATCH", f"/groups/{their_group}/devices", {"add": [me]}),
            ("GET", f"/devices/{me}", None),
            ("PATCH", f"/devices/{me}/settings", {"timezone": "UTC"}),
            ("PUT", f"/devices/{me}/interrupt", {"playlist_id": theirs}),
            ("DELETE", f"/devices/{me}/interrupt", None),
            ("DELETE", f"/schedules/{entry}", None),
            ("GET", f"/schedules?device_id={me}", None),
            ("POST", "/schedules", {"device_id": me, "playlist_id": theirs}),
            ("POST", "/schedules", {"group_id": their_group, "playlist_id": playlist}),
            ("PUT", f"/groups/{their_group}/playlist", {"playlist_id": playlist}),
        ]
        for method, path, body in calls:
            refused = other.request(method, ADMIN + path, json=body)
            assert assert_refused(refused, 404), (method, path)
        assert answer(other.get(f"{ADMIN}/schedules")) == []
        assert answer(other.get(f"{ADMIN}/interrupts")) == []
        assert [g["id"] for g in answer(other.get(f"{ADMIN}/groups"))] == [their_group]
    # Ours: untouched; and our own unknown ids are 404 too.
    assert [e["id"] for e in answer(admin.get(f"{ADMIN}/schedules"))] == [entry]
    assert len(answer(admin.get(f"{ADMIN}/interrupts"))) == 1
    for method, path, body in [
        ("PUT", "/groups/grp_nobody/playlist", {"playlist_id": playlist}),
        ("PUT", f"/groups/{group}/playlist", {"playlist_id": "pl_nobody"}),
        ("POST", "/schedules", {"device_id": "dev_nobody", "playlist_id": playlist}),
        ("POST", "/schedules", {"device_id": me, "playlist_id": "pl_nobody"}),
        ("PUT", "/devices/dev_nobody/interrupt", {"playlist_id": playlist}),
        ("PUT", f"/devices/{me}/interrupt", {"playlist_id": "pl_nobody"}),
        ("GET", "/devices/dev_nobody", None),
    ]:
        assert_refused(admin.request(method, ADMIN + path, json=body), 404)


def test_interrupts_last_until_a_time_a_duration_or_clearing(tenant: Tenant) -> None:
    admin, me, playlist = tenant.admin, tenant.device, tenant.playlist
    group = create_group(admin, "G", me)
    later = datetime.now(UTC) + timedelta(hours=2)
    by_time = interrupt(admin, "groups", group, playlist, until=later.isoformat())
    assert (by_time["group_id"], by_time["device_id"]) == (group, None)
    assert datetime.fromisoformat(by_time["until"]) == later
    started = datetime.fromisoformat(by_time["starts_at"])
    assert abs(started - datetime.now(UTC)) < timedelta(seconds=5)

    timed = interrupt(admin, "devices", me, playlist, for_s=90)
    length = datetime.fromisoformat(timed["until"]) - datetime.fromisoformat(timed["starts_at"])
    assert length == timedelta(seconds=90)
    endless = interrupt(admin, "devices", me, playlist)
    assert endless["until"] is None
    listed = answer(admin.get(f"{ADMIN}/interrupts"))
    assert [i["id"] for i in listed] == [by_time["id"], endless["id"]]  # the timed one was replaced

    assert answer(admin.delete(f"{ADMIN}/groups/{group}/interrupt"))["id"] == by_time["id"]
    assert "has no interrupt" in assert_refused(
        admin.delete(f"{ADMIN}/groups/{group}/interrupt"), 404
    )
    # The playlist is played by an interrupt: it cannot go.
    assert "played by 1 interrupt(s)" in assert_refused(
        admin.delete(f"{ADMIN}/playlists/{playlist}"), 409
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"until": "2020-01-01T00:00:00Z"}, "is not in the future"),
        ({"until": "2026-01-01T00:00:00"}, "needs a UTC offset"),
        ({"until": "2999-01-01T00:00:00Z"}, "outside 2000..2200"),
        ({"for_s": 0}, "for_s"),
        ({"for_s": -5}, "for_s"),
        ({"for_s": 1e99}, "for_s"),
        ({"until": "2100-01-01T00:00:00Z", "for_s": 5}, "not both"),
    ],
)
def test_an_interrupt_that_cannot_be_is_refused(
    cloud: RunningCloud, tenant: Tenant, body: dict[str, Any], problem: str
) -> None:
    refused = tenant.admin.put(
        f"{ADMIN}/devices/{tenant.device}/interrupt",
        json={"playlist_id": tenant.playlist, **body},
    )
    assert problem in assert_refused(refused, 422)
    assert answer(tenant.admin.get(f"{ADMIN}/interrupts")) == []
    assert_no_traceback(cloud)


def test_an_until_in_the_past_says_what_the_clock_says(tenant: Tenant) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    refused = tenant.admin.put(
        f"{ADMIN}/devices/{tenant.device}/interrupt",
        json={"playlist_id": tenant.playlist, "until": past},
    )
    assert "is not in the future (the cloud's clock says" in assert_refused(refused, 422)


def test_an_expired_interrupt_is_not_listed_and_frees_its_playlist(tenant: Tenant) -> None:
    admin = tenant.admin
    interrupt(admin, "devices", tenant.device, tenant.playlist, for_s=0.5)
    assert len(answer(admin.get(f"{ADMIN}/interrupts"))) == 1
    time.sleep(0.7)
    assert answer(admin.get(f"{ADMIN}/interrupts")) == []
    answer(admin.delete(f"{ADMIN}/playlists/{tenant.playlist}"))


def moment(text: str) -> date | datetime:
    return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)


def test_item_windows_are_stored_shown_and_checked(cloud: RunningCloud, tenant: Tenant) -> None:
    admin, asset = tenant.admin, tenant.asset
    windows = [
        ({"valid_from": "2026-12-24", "valid_until": "2026-12-24"}, True),  # the whole day
        ({"valid_from": "2026-12-01T08:00", "valid_until": "2026-12-01T09:00"}, True),
        ({"valid_until": "2026-12-31T18:00:00+01:00"}, True),
        # A local start against an instant: empty only if empty in every time zone.
        ({"valid_from": "2026-12-02T10:00", "valid_until": "2026-12-02T00:00:00Z"}, True),
        ({"valid_from": "2026-12-02T14:00", "valid_until": "2026-12-02T00:00:00Z"}, False),
        ({"valid_from": "2026-12-02", "valid_until": "2026-12-01"}, False),
        ({"valid_from": "2026-12-01T09:00", "valid_until": "2026-12-01T09:00"}, False),
        ({"valid_from": "2026-12-01T10:00Z", "valid_until": "2026-12-01T09:00Z"}, False),
        ({"valid_from": "2026-13-01"}, False),
        ({"valid_from": "next tuesday"}, False),
        ({"valid_until": "1999-12-31"}, False),
    ]
    for window, allowed in windows:
        body = {"name": "W", "items": [{"asset_id": asset, **window}]}
        response = admin.post(f"{ADMIN}/playlists", json=body)
        if allowed:
            shown = answer(admin.get(f"{ADMIN}/playlists/{answer(response)['id']}"))
            item = shown["items"][0]
            assert {key: moment(item[key]) for key in window} == {
                key: moment(value) for key, value in window.items()
            }
        else:
            assert "valid_" in assert_refused(response, 422), window
    playlist = create_playlist(admin, "Set", [{"asset_id": asset}])
    items = {"items": [{"asset_id": asset, "valid_from": "2027-01-01"}]}
    answer(admin.put(f"{ADMIN}/playlists/{playlist}/items", json=items))
    assert answer(admin.get(f"{ADMIN}/playlists/{playlist}"))["items"][0]["valid_from"] == (
        "2027-01-01"
    )
    assert_no_traceback(cloud)


def test_device_show_says_what_plays_now_and_next_and_why(tenant: Tenant) -> None:
    admin, me, playlist = tenant.admin, tenant.device, tenant.playlist
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert (shown["now"]["reason"], shown["now"]["playlist_id"], shown["next"]) == (
        "nothing",
        None,
        None,
    )

    other = create_playlist(admin, "Other", [{"asset_id": tenant.asset}])
    group = create_group(admin, "G", me)
    assign_group(admin, group, other)
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert shown["now"]["reason"] == "group default"
    assert (shown["now"]["playlist_id"], shown["now"]["source_id"]) == (other, group)

    assert assign(admin, me, playlist).status_code == 200
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert (shown["now"]["reason"], shown["now"]["playlist_id"]) == ("device default", playlist)
    assert shown["now"]["items"] == 1

    # An entry active now, all day every day, for the group: it beats the default.
    entry = add_entry(admin, other, group_id=group, priority=2)
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert (shown["now"]["reason"], shown["now"]["source_id"]) == ("schedule", entry)
    assert entry in shown["now"]["why"]

    # An interrupt beats everything, and when it ends the entry is back.
    timed = interrupt(admin, "devices", me, playlist, for_s=3600)
    shown = answer(admin.get(f"{ADMIN}/devices/{me}"))
    assert (shown["now"]["reason"], shown["now"]["source_id"]) == ("interrupt", timed["id"])
    # `next` is when what plays changes: the interrupt's end, past any boundary (midnight
    # under the all-day entry) that the interrupt covers.
    assert datetime.fromisoformat(shown["now"]["next_boundary"]) <= datetime.fromisoformat(
        shown["next"]["at"]
    )
    assert datetime.fromisoformat(shown["next"]["at"]) == datetime.fromisoformat(timed["until"])
    assert (shown["next"]["reason"], shown["next"]["source_id"]) == ("schedule", entry)
    assert shown["group_ids"] == [group] and shown["playlist_id"] == playlist
