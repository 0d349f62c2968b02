"""Listing a tenant's commands (`GET /commands`, `command list`) and cancelling one
(`POST /commands/{id}/cancel`, `command cancel`), through the real cloud to DPoP devices."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from sync.models import MAX_CURSOR_CHARS, StatePage
from tests.cloud.reporting import result, send_command, show_command
from tests.cloud.screen import ADMIN, Screen, answer, create_group
from tests.cloud.test_cli import assert_one_line_error, ok, signage_cloud
from tests.cloud.test_hostile_input import assert_no_traceback, assert_refused
from tests.support.cloud import RunningCloud


def listed(admin: httpx.Client, **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = answer(admin.get(f"{ADMIN}/commands", params=params))
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [command["id"] for command in page["commands"]]


def keyed(cloud: RunningCloud, role: str) -> httpx.Client:
    _, key = cloud.create_key(role)
    return httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {key}"})


def test_commands_are_listed_newest_first_in_pages_with_their_answers_counted(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    first, second, third = screens
    with cloud.admin() as admin:
        group = create_group(admin, "Pair", first.device_id, second.device_id)
        to_group = send_command(admin, "set-volume", group_id=group, args={"volume": 30})
        to_third = send_command(admin, "identify", device_id=third.device_id)["id"]
        to_first = send_command(admin, "logs", device_id=first.device_id, args={"lines": 5})["id"]
        first.report(result(to_group["id"], "done"))
        second.report(result(to_group["id"], "started"))
        third.report(result(to_third, "unsupported", detail="no screen"))

        everything = listed(admin)
        assert ids(everything) == [to_first, to_third, to_group["id"]]
        assert everything["next"] is None
        summary = everything["commands"][2]
        assert summary == {
            "id": to_group["id"],
            "kind": "set-volume",
            "args": {"volume": 30},
            "device_id": None,
            "group_id": group,
            "created_at": to_group["created_at"],
            "expires_at": to_group["expires_at"],
            "expired": False,
            "settled": False,  # one device still runs it
            "devices": 2,
            "states": {"done": 1, "started": 1},
        }
        assert everything["commands"][1]["settled"] and everything["commands"][1]["states"] == {
            "unsupported": 1
        }
        assert everything["commands"][0]["states"] == {"pending": 1}

        # In pages that neither skip nor repeat, even with a command sent in between.
        page = listed(admin, limit=2)
        assert ids(page) == [to_first, to_third] and page["next"]
        newer = send_command(admin, "sync-now", device_id=third.device_id)["id"]
        rest = listed(admin, limit=2, after=page["next"])
        assert ids(rest) == [to_group["id"]] and rest["next"] is None
        assert ids(listed(admin, limit=1)) == [newer]

        # A device's: sent to it, alone or in a group; a group's: sent to the group.
        assert ids(listed(admin, device_id=first.device_id)) == [to_first, to_group["id"]]
        assert ids(listed(admin, device_id=third.device_id)) == [newer, to_third]
        assert ids(listed(admin, group_id=group)) == [to_group["id"]]
        assert ids(listed(admin, group_id="grp_0000000000000000")) == []

        for params, status, said in [
            ({"device_id": first.device_id, "group_id": group}, 422, "not both"),
            ({"device_id": "dev_0000000000000000"}, 404, "dev_0000000000000000"),
            ({"limit": 0}, 422, "limit"),
            ({"limit": 501}, 422, "limit"),
            ({"limit": "many"}, 422, "limit"),
            ({"after": "2026-01-01"}, 422, "cursor"),
            ({"after": page["next"].replace("cmd_", "dev_")}, 422, "cursor"),
            ({"after": "x" * (MAX_CURSOR_CHARS + 1)}, 422, "after"),
            ({"device_id": "d" * 1000}, 422, "device_id"),
        ]:
            refused = admin.get(f"{ADMIN}/commands", params=params)
            assert said in assert_refused(refused, status), params

    with keyed(cloud, "viewer") as viewer:  # viewers read commands
        assert ids(answer(viewer.get(f"{ADMIN}/commands", params={"limit": 1}))) == [newer]
    _, other_key = cloud.create_tenant("Other")
    with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}) as them:
        assert answer(them.get(f"{ADMIN}/commands")) == {"commands": [], "next": None}
        foreign = them.get(f"{ADMIN}/commands", params={"device_id": first.device_id})
        assert_refused(foreign, 404)  # another tenant's device is no device of theirs
    assert httpx.get(f"{cloud.url}{ADMIN}/commands").status_code == 401
    assert_no_traceback(cloud)


def test_cancelling_takes_a_command_back_from_the_devices_that_have_not_started_it(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    waiting, running, answered = screens
    with cloud.admin() as admin:
        group = create_group(admin, "All", *(screen.device_id for screen in screens))
        command = send_command(admin, "reboot", group_id=group)["id"]
        held, cursor = waiting.listing()
        assert ("command", command) in held
        running.report(result(command, "started"))
        answered.report(result(command, "done"))

    out: list[httpx.Response] = []
    poll = threading.Thread(target=lambda: out.append(waiting.get_state(cursor, wait=20)))
    poll.start()
    time.sleep(0.5)  # the long-poll is held
    with keyed(cloud, "editor") as editor:
        started = time.monotonic()
        cancelled = answer(editor.post(f"{ADMIN}/commands/{command}/cancel"))
        poll.join()
        woken_in = time.monotonic() - started
        assert cancelled["cancelled"] == [waiting.device_id]
        assert cancelled["message"] == (
            f"cancelled command {command} for 1 device(s) that had not started it; "
            "2 device(s) had started or answered it and keep their answer"
        )
        # The waiting screen was told at once: the command left its view (a tombstone).
        assert woken_in < 3, woken_in
        page = StatePage.model_validate_json(out[0].content)
        assert [(c.kind, c.id, c.deleted) for c in page.changes] == [("command", command, True)]
        assert ("command", command) not in waiting.listing()[0]
        assert ("command", command) in running.listing()[0]  # it runs there: still its own

        by_device = {o["device_id"]: o for o in cancelled["command"]["devices"]}
        outcomes = {d: (o["state"], o["final"], o["no_answer"]) for d, o in by_device.items()}
        assert outcomes == {
            waiting.device_id: ("cancelled", True, False),
            running.device_id: ("started", False, False),
            answered.device_id: ("done", True, False),
        }
        assert by_device[waiting.device_id]["detail"].startswith("cancelled by an admin")
        assert not cancelled["command"]["settled"]  # the running one has not answered yet

        # Again: nothing more to do, and it says so.
        again = answer(editor.post(f"{ADMIN}/commands/{command}/cancel"))
        assert again["cancelled"] == []
        assert again["message"] == (
            "nothing to cancel: it was already cancelled for 1 device(s) and 2 device(s) had "
            "started or answered it"
        )
        counted = answer(editor.get(f"{ADMIN}/commands"))["commands"][0]["states"]
        assert counted == {"cancelled": 1, "done": 1, "started": 1}

    # A device that ran it before it heard of the cancel: its own answer is the truth.
    assert waiting.report(result(command, "done", detail="rebooted")).stored
    running.report(result(command, "failed", detail="no helper"))
    with cloud.admin() as admin:
        shown = show_command(admin, command)
        assert {o["device_id"]: o["state"] for o in shown["devices"]} == {
            waiting.device_id: "done",
            running.device_id: "failed",
            answered.device_id: "done",
        }
        assert shown["settled"]
        settled = answer(admin.post(f"{ADMIN}/commands/{command}/cancel"))  # settled: no error
        assert settled["message"] == "nothing to cancel: 3 device(s) had started or answered it"

        assert_refused(admin.post(f"{ADMIN}/commands/cmd_0000000000000000/cancel"), 404)
        assert_refused(admin.post(f"{ADMIN}/commands/{'c' * 200}/cancel"), 422)
    with keyed(cloud, "viewer") as viewer:
        assert "editor" in assert_refused(viewer.post(f"{ADMIN}/commands/{command}/cancel"), 403)
    _, other_key = cloud.create_tenant("Other")
    with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}) as them:
        assert_refused(them.post(f"{ADMIN}/commands/{command}/cancel"), 404)
    assert_no_traceback(cloud)


def test_listing_and_cancelling_from_the_shell(
    cloud: RunningCloud, admin_env: dict[str, str], screens: list[Screen]
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    device = screens[0].device_id
    first = run("command", "send", "--device", device, "set-volume", "30")
    second = run("command", "send", "--device", screens[1].device_id, "sync-now")
    screens[1].report(result(second, "done"))

    assert run("command", "cancel", first) == (
        f"cancelled command {first} for 1 device(s) that had not started it"
    )
    assert run("command", "cancel", first) == (
        "nothing to cancel: it was already cancelled for 1 device(s)"
    )
    table = run("command", "list").splitlines()
    assert table[0].split() == ["COMMAND", "KIND", "ARGS", "TO", "SENT", "EXPIRES", "ANSWERS"]
    assert table[1].startswith(second) and table[1].endswith("done 1")
    assert table[2].startswith(first) and "volume 30" in table[2]
    assert table[2].endswith("cancelled 1") and f"device {device}" in table[2]
    newest = json.loads(run("command", "list", "--limit", "1", "--json"))
    assert [c["id"] for c in newest] == [second]
    mine = json.loads(run("command", "list", "--device", device, "--json"))
    assert [(c["id"], c["states"]) for c in mine] == [(first, {"cancelled": 1})]
    assert run("command", "list", "--group", "grp_0000000000000000") == "no commands"
    assert "cancelled" in run("command", "show", first)

    for usage in (
        ("command", "list", "--limit", "0"),
        ("command", "list", "--limit", "ten"),
        ("command", "list", "--device", device, "--group", "grp_1"),
        ("command", "cancel"),
    ):
        assert signage_cloud(*usage, env=admin_env).returncode == 2, usage
    unknown = signage_cloud("command", "cancel", "cmd_0000000000000000", env=admin_env)
    assert "no command cmd_0000000000000000" in assert_one_line_error(unknown)
    gone = signage_cloud("command", "list", "--device", "dev_0000000000000000", env=admin_env)
    assert "dev_0000000000000000" in assert_one_line_error(gone)
