"""`signage-cloud group|schedule|interrupt|device set|device show` and item windows, as an admin
runs them against the real cloud: what they print, and every refusal as one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.cloud.screen import PNG_1X1, Screen
from tests.cloud.test_cli import assert_one_line_error, ok, signage_cloud
from tests.support.cloud import RunningCloud


@dataclass
class Shell:
    env: dict[str, str]
    devices: list[str]
    assets: list[str]
    playlist: str

    def run(self, *args: str) -> str:
        return ok(signage_cloud(*args, env=self.env))

    def fails(self, *args: str, status: int = 1) -> str:
        result = signage_cloud(*args, env=self.env)
        if status == 2:
            assert result.returncode == 2, result
            assert "Traceback" not in result.stderr
            return result.stderr.strip().splitlines()[-1]
        return assert_one_line_error(result, status)


@pytest.fixture
def shell(cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path) -> Iterator[Shell]:
    screens = [Screen(cloud.url) for _ in range(2)]
    try:
        for index, screen in enumerate(screens):
            screen.enroll(cloud, name=f"Screen {index}")
        assets = []
        for index in range(2):
            path = tmp_path / f"{index}.png"
            path.write_bytes(PNG_1X1 + bytes([index]))
            assets.append(ok(signage_cloud("asset", "add", str(path), env=admin_env)))
        playlist = ok(
            signage_cloud("playlist", "create", "Loop", "--item", assets[0], env=admin_env)
        )
        yield Shell(admin_env, [s.device_id for s in screens], assets, playlist)
    finally:
        for screen in screens:
            screen.http.close()


def test_groups_from_the_shell(shell: Shell) -> None:
    first, second = shell.devices
    group = shell.run("group", "create", "North side")
    assert group.startswith("grp_") and "\n" not in group
    assert shell.run("group", "add", group, first, second) == (
        f"group {group} (North side) now has 2 device(s)"
    )
    assert shell.run("group", "remove", group, second).endswith("now has 1 device(s)")
    assert shell.run("group", "assign", group, "--playlist", shell.playlist) == (
        f"group {group} (North side) now has {shell.playlist}"
    )
    listed = json.loads(shell.run("group", "list", "--json"))
    assert [(g["id"], g["name"], g["devices"], g["playlist_id"]) for g in listed] == [
        (group, "North side", 1, shell.playlist)
    ]
    table = shell.run("group", "list").splitlines()
    assert table[0].split() == ["ID", "NAME", "DEVICES", "PLAYLIST"]
    assert table[1].split() == [group, "North", "side", "1", shell.playlist]
    assert "no default playlist" in shell.run("group", "assign", group, "--none")
    shown = json.loads(shell.run("device", "show", first, "--json"))
    assert shown["group_ids"] == [group]
    assert shell.run("group", "delete", group) == f"deleted group {group} (North side)"
    assert json.loads(shell.run("group", "list", "--json")) == []


def test_device_settings_and_show_from_the_shell(shell: Shell) -> None:
    me = shell.devices[0]
    said = shell.run("device", "set", me, "--tz", "Europe/Berlin", "--on-switch", "finish")
    assert said == (
        f"device {me} (Screen 0): time zone Europe/Berlin, on a switch: finish; "
        "turned: the screen's own; volume: the screen's own"
    )
    assert "on a switch: cut" in shell.run("device", "set", me, "--on-switch", "cut")
    said = shell.run("device", "set", me, "--rotation", "90", "--volume", "35")
    assert said.endswith("on a switch: cut; turned: 90 degrees; volume: 35%")
    said = shell.run("device", "set", me, "--volume", "screen")
    assert said.endswith("turned: 90 degrees; volume: the screen's own")

    shown = shell.run("device", "show", me)
    assert shown.splitlines()[:2] == [
        f"{me} Screen 0",
        "time zone: Europe/Berlin; on a switch: cut; turned: 90 degrees; volume: the screen's own",
    ]
    assert json.loads(shell.run("device", "show", me, "--json"))["rotation"] == 90
    assert "now: nothing (nothing:" in shown
    assert "next: nothing changes" in shown

    shell.run("device", "assign", me, "--playlist", shell.playlist)
    assert f"now: {shell.playlist} (device default:" in shell.run("device", "show", me)

    other = shell.run("playlist", "create", "Other", "--item", shell.assets[1])
    entry = shell.run("schedule", "add", "--device", me, "--playlist", other, "--priority", "1")
    shown = shell.run("device", "show", me)
    assert f"now: {other} (schedule: schedule entry {entry}" in shown

    interrupt = shell.run("interrupt", "--device", me, "--playlist", shell.playlist, "--for", "600")
    assert interrupt.startswith("int_")
    shown = json.loads(shell.run("device", "show", me, "--json"))
    assert (shown["now"]["reason"], shown["now"]["source_id"]) == ("interrupt", interrupt)
    assert (shown["next"]["reason"], shown["next"]["source_id"]) == ("schedule", entry)
    text = shell.run("device", "show", me)
    assert f"now: {shell.playlist} (interrupt:" in text
    assert f"next, from {shown['next']['at'][:19]}" in text.replace("Z", "")


def test_schedules_from_the_shell(shell: Shell) -> None:
    me = shell.devices[0]
    group = shell.run("group", "create", "G")
    entry = shell.run(
        "schedule", "add", "--group", group, "--playlist", shell.playlist,
        "--days", "fri,mon", "--from", "08:00", "--to", "12:30",
        "--start-date", "2026-12-01", "--end-date", "2026-12-31",
        "--priority", "5", "--tz", "Europe/Paris", "--on-switch", "finish",
    )  # fmt: skip
    assert entry.startswith("sch_")
    own = shell.run("schedule", "add", "--device", me, "--playlist", shell.playlist)
    listed = json.loads(shell.run("schedule", "list", "--json"))
    assert [e["id"] for e in listed] == [entry, own]
    first = listed[0]
    assert (first["group_id"], first["device_id"], first["days"]) == (group, None, ["mon", "fri"])
    assert (first["from_time"], first["to_time"], first["priority"]) == ("08:00", "12:30", 5)
    assert (first["start_date"], first["end_date"]) == ("2026-12-01", "2026-12-31")
    assert (first["timezone"], first["on_switch"]) == ("Europe/Paris", "finish")
    assert [
        e["id"] for e in json.loads(shell.run("schedule", "list", "--device", me, "--json"))
    ] == [own]
    table = shell.run("schedule", "list", "--group", group).splitlines()
    assert table[0].split()[:4] == ["ID", "FOR", "PLAYLIST", "DAYS"]
    row = table[1].split()
    assert row[:3] == [entry, "group", group]
    assert "mon,fri" in row and "08:00-12:30" in row and "2026-12-01..2026-12-31" in row
    assert "every day" in shell.run("schedule", "list", "--device", me)
    assert shell.run("schedule", "delete", own) == f"deleted schedule entry {own} of device {me}"
    assert [e["id"] for e in json.loads(shell.run("schedule", "list", "--json"))] == [entry]


def test_interrupts_from_the_shell(shell: Shell) -> None:
    me = shell.devices[0]
    group = shell.run("group", "create", "G")
    until = (datetime.now().astimezone() + timedelta(hours=1)).isoformat(timespec="seconds")
    on_group = shell.run(
        "interrupt", "--group", group, "--playlist", shell.playlist, "--until", until
    )
    on_me = shell.run("interrupt", "--device", me, "--playlist", shell.playlist)
    listed = json.loads(shell.run("interrupt", "list", "--json"))
    assert [(i["id"], i["group_id"], i["device_id"]) for i in listed] == [
        (on_group, group, None),
        (on_me, None, me),
    ]
    assert datetime.fromisoformat(listed[0]["until"]) == datetime.fromisoformat(until)
    assert listed[1]["until"] is None
    table = shell.run("interrupt", "list").splitlines()
    assert table[0].split() == ["ID", "FOR", "PLAYLIST", "SINCE", "UNTIL"]
    assert table[2].split()[-1] == "cleared"
    assert shell.run("interrupt", "clear", "--device", me) == (
        f"cleared interrupt {on_me} of device {me}"
    )
    assert shell.run("interrupt", "clear", "--group", group) == (
        f"cleared interrupt {on_group} of group {group}"
    )
    assert json.loads(shell.run("interrupt", "list", "--json")) == []


def test_item_windows_from_the_shell(shell: Shell) -> None:
    a, b = shell.assets
    playlist = shell.run(
        "playlist", "create", "Windows",
        "--item", f"{a}:10@2026-12-01..2026-12-24",
        "--item", f"{b}@..2026-12-31T18:00",
    )  # fmt: skip
    items = json.loads(shell.run("playlist", "show", playlist, "--json"))["items"]
    assert [(i["duration_ms"], i["valid_from"], i["valid_until"]) for i in items] == [
        (10_000, "2026-12-01", "2026-12-24"),
        (10_000, None, "2026-12-31T18:00:00"),
    ]
    assert "now has 1 items" in shell.run(
        "playlist", "set", playlist, "--item", f"{a}@2027-01-01T00:00+01:00.."
    )
    items = json.loads(shell.run("playlist", "show", playlist, "--json"))["items"]
    assert (items[0]["valid_from"], items[0]["valid_until"]) == ("2027-01-01T00:00:00+01:00", None)


REFUSALS = [
    (["device", "set", "DEV", "--tz", "Mars/Olympus"], "not a time zone this cloud knows"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL", "--from", "9", "--to", "17"],
     "is not a time of day HH:MM"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL", "--from", "09:00"],
     "from_time and to_time come together"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL",
      "--start-date", "2026-12-24", "--end-date", "2026-12-01"], "end_date is before"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL", "--tz", "Nowhere/City"],
     "not a time zone this cloud knows"),
    (["schedule", "add", "--device", "dev_nobody", "--playlist", "PL"], "no device dev_nobody"),
    (["schedule", "add", "--group", "grp_nobody", "--playlist", "PL"], "no group grp_nobody"),
    (["schedule", "add", "--device", "DEV", "--playlist", "pl_nobody"], "no playlist"),
    (["schedule", "delete", "sch_nobody"], "no schedule entry sch_nobody"),
    (["interrupt", "--device", "DEV", "--playlist", "PL", "--until", "2020-01-01T00:00Z"],
     "is not in the future"),
    (["interrupt", "--device", "DEV", "--playlist", "PL", "--until", "2026-12-01T10:00"],
     "needs a UTC offset"),
    (["interrupt", "--device", "DEV", "--playlist", "PL", "--for", "-5"], "for_s"),
    (["interrupt", "--device", "dev_nobody", "--playlist", "PL"], "no device dev_nobody"),
    (["interrupt", "clear", "--device", "DEV"], "has no interrupt"),
    (["group", "add", "grp_nobody", "DEV"], "no group grp_nobody"),
    (["group", "add", "GRP", "dev_nobody"], "no device dev_nobody"),
    (["group", "assign", "GRP", "--playlist", "pl_nobody"], "no playlist pl_nobody"),
    (["playlist", "delete", "PL"], "the default of 1 group(s)"),
]  # fmt: skip


def test_refusals_are_one_line(shell: Shell) -> None:
    group = shell.run("group", "create", "G")
    shell.run("group", "assign", group, "--playlist", shell.playlist)
    names = {"DEV": shell.devices[0], "PL": shell.playlist, "GRP": group}
    for args, problem in REFUSALS:
        line = shell.fails(*[names.get(arg, arg) for arg in args])
        assert line.startswith("signage-cloud: error: "), args
        assert problem in line, (args, line)


USAGE_MISTAKES = [
    (["device", "set", "DEV"], "give --tz, --on-switch, --rotation or --volume"),
    (["device", "set", "DEV", "--on-switch", "fade"], "invalid choice"),
    (["device", "set", "DEV", "--rotation", "45"], "invalid choice"),
    (["device", "set", "DEV", "--volume", "101"], "a whole number from 0 to 100, or screen"),
    (["device", "set", "DEV", "--volume", "-5"], "a whole number from 0 to 100, or screen"),
    (["schedule", "add", "--playlist", "PL"], "one of the arguments --device --group"),
    (["schedule", "add", "--device", "DEV", "--group", "G", "--playlist", "PL"],
     "not allowed with argument"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL", "--days", "mon,funday"],
     "expected days among mon,tue,wed,thu,fri,sat,sun"),
    (["schedule", "add", "--device", "DEV", "--playlist", "PL", "--priority", "high"],
     "invalid int value"),
    (["interrupt", "--device", "DEV"], "give --device or --group, and --playlist"),
    (["interrupt", "--playlist", "PL"], "give --device or --group, and --playlist"),
    (["interrupt", "--device", "DEV", "--playlist", "PL", "--for", "5", "--until", "x"],
     "not allowed with argument"),
    (["interrupt", "clear"], "one of the arguments --device --group"),
    (["playlist", "create", "X", "--item", "AST@2026-12-24..2026-12-01"], "would never play"),
    (["playlist", "create", "X", "--item", "AST@2026-12-24"], "after @ comes FROM..TO"),
    (["playlist", "create", "X", "--item", "AST@.."], "after @ comes FROM..TO"),
    (["playlist", "create", "X", "--item", "AST@soon.."], "valid_from"),
    (["group", "add", "GRP"], "the following arguments are required"),
]  # fmt: skip


def test_usage_mistakes_exit_with_2(shell: Shell) -> None:
    names = {"DEV": shell.devices[0], "PL": shell.playlist, "AST": shell.assets[0]}
    for args, problem in USAGE_MISTAKES:
        line = shell.fails(*[names.get(arg, arg) for arg in args], status=2)
        assert problem in line, (args, line)


def test_roles_hold_on_the_command_line(cloud: RunningCloud, shell: Shell) -> None:
    viewer = {**shell.env, "SIGNAGE_ADMIN_KEY": cloud.create_key("viewer")[1]}
    installer = {**shell.env, "SIGNAGE_ADMIN_KEY": cloud.create_key("installer")[1]}
    refused = signage_cloud("group", "create", "G", env=viewer)
    assert "needs the editor role" in assert_one_line_error(refused)
    refused = signage_cloud(
        "interrupt", "--device", shell.devices[0], "--playlist", shell.playlist, env=viewer
    )
    assert "needs the editor role" in assert_one_line_error(refused)
    assert ok(signage_cloud("schedule", "list", "--json", env=viewer)) == "[]"
    for args in (["schedule", "list"], ["interrupt", "list"], ["group", "list"]):
        refused = signage_cloud(*args, env=installer)
        assert "needs the viewer role" in assert_one_line_error(refused)
    refused = signage_cloud("device", "show", shell.devices[0], env=installer)
    assert "needs the viewer role" in assert_one_line_error(refused)
