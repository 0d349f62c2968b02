"""Commands through the real cloud to real DPoP devices: a group's members get one (and a
device outside it nothing), a final result takes it out of the device's view, every result is
accounted for, and attachments obey their rules. (What the expiry does, and its notice:
test_command_notice.py; listing and cancelling: test_command_list_cancel.py.)"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from sync.models import MAX_ATTACHMENT_BYTES, StatePage
from tests.cloud.reporting import result, send_command, show_command, states
from tests.cloud.screen import (
    ADMIN,
    PNG_1X1,
    Screen,
    answer,
    changes_of,
    create_group,
    join,
    leave,
)
from tests.cloud.test_hostile_input import assert_no_traceback, assert_refused
from tests.support.cloud import RunningCloud


def delta(screen: Screen, cursor: str) -> tuple[dict[tuple[str, str], Any], str]:
    """{(kind, id): change} since `cursor`, and the cursor after them."""
    pages = screen.pages(cursor)
    if not pages:
        return {}, cursor
    return changes_of(pages), pages[-1].cursor


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    return thread, out


def test_a_group_command_reaches_its_members_and_leaves_each_with_its_answer(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    first, second, outsider = screens
    with cloud.admin() as admin:
        group = create_group(admin, "Lobby", first.device_id, second.device_id)
        cursors = [screen.listing()[1] for screen in screens]
        held, held_out = in_background(lambda: first.get_state(cursors[0], wait=20))
        outside, outside_out = in_background(lambda: outsider.get_state(cursors[2], wait=4))
        time.sleep(0.5)  # both requests are held
        started = time.monotonic()
        sent = send_command(admin, "set-volume", group_id=group, args={"volume": 35})
        held.join()
        woken_in = time.monotonic() - started
        outside.join()
        command = sent["id"]
        assert states(sent) == {first.device_id: "pending", second.device_id: "pending"}
        assert (sent["group_id"], sent["device_id"], sent["settled"]) == (group, None, False)

        # The long-poll of a member was woken by the command itself, at once.
        assert woken_in < 3, woken_in
        page = StatePage.model_validate_json(held_out[0].content)
        (change,) = page.changes
        assert (change.kind, change.id, change.deleted) == ("command", command, False)
        assert change.data is not None
        assert (change.data["kind"], change.data["args"]) == ("set-volume", {"volume": 35})
        assert change.data["expires_at"] > change.data["created_at"]
        assert outside_out[0].status_code == 204  # not a member: not woken, nothing for it
        changes, cursors[1] = delta(second, cursors[1])
        assert set(changes) == {("command", command)}
        cursors[0] = page.cursor

        # "started" changes nothing the device holds; the final answer takes it out.
        first.report(result(command, "started"))
        assert delta(first, cursors[0])[0] == {}
        assert states(show_command(admin, command))[first.device_id] == "started"
        first.report(result(command, "done"))
        changes, cursors[0] = delta(first, cursors[0])
        assert [(c.kind, c.id, c.deleted) for c in changes.values()] == [("command", command, True)]
        held_now, _ = first.listing()
        assert ("command", command) not in held_now
        assert ("command", command) in second.listing()[0]  # the other member still has it
        assert delta(second, cursors[1])[0] == {}

        # One final answer per device: a second one is refused, a late "started" ignored.
        again = first.report(result(command, "failed"), result(command, "started"))
        assert "already answered" in again.refused[0].reason
        assert len(again.stored) == 1
        assert states(show_command(admin, command))[first.device_id] == "done"
        # A device the command was not sent to cannot answer it.
        refused = outsider.report(result(command, "done")).refused
        assert "was not sent to this device" in refused[0].reason

        second.report(result(command, "failed", detail="no audio output"))
        shown = show_command(admin, command)
        assert shown["settled"] and not shown["expired"]
        by_device = {o["device_id"]: o for o in shown["devices"]}
        assert (by_device[second.device_id]["state"], by_device[second.device_id]["detail"]) == (
            "failed",
            "no audio output",
        )
        assert by_device[second.device_id]["device_name"] == "Screen 1"
        assert all(o["final"] and not o["no_answer"] for o in shown["devices"])
        changes, _ = delta(second, cursors[1])
        assert [(c.kind, c.deleted) for c in changes.values()] == [("command", True)]


def test_a_group_command_goes_to_the_members_it_had_when_sent(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    first, second, later = screens
    with cloud.admin() as admin:
        group = create_group(admin, "Hall", first.device_id, second.device_id)
        command = send_command(admin, "identify", group_id=group)["id"]
        join(admin, group, later.device_id)
        leave(admin, group, second.device_id)
        assert ("command", command) not in later.listing()[0]  # joined after: not for it
        assert ("command", command) in second.listing()[0]  # left after: still its own
        assert set(states(show_command(admin, command))) == {first.device_id, second.device_id}
        # Deleting the group keeps its commands and their answers.
        assert admin.delete(f"{ADMIN}/groups/{group}").status_code == 200
        second.report(result(command, "done"))
        shown = show_command(admin, command)
    assert shown["group_id"] == group
    assert states(shown) == {first.device_id: "pending", second.device_id: "done"}


def test_waiting_for_a_result_returns_as_soon_as_it_comes(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    screen = screens[0]
    with cloud.admin() as admin:
        command = send_command(admin, "sync-now", device_id=screen.device_id)["id"]
        assert not show_command(admin, command, wait=1)["settled"]  # nothing yet: after 1 s

        def answer_later() -> None:
            time.sleep(1.0)
            screen.report(result(command, "started"))
            time.sleep(0.5)
            screen.report(result(command, "done"))

        thread = threading.Thread(target=answer_later)
        thread.start()
        started = time.monotonic()
        shown = show_command(admin, command, wait=30)
        waited = time.monotonic() - started
        thread.join()
    assert shown["settled"] and states(shown) == {screen.device_id: "done"}
    assert 1.4 < waited < 5, waited


def test_attachments_go_only_where_they_belong(cloud: RunningCloud, screens: list[Screen]) -> None:
    screen, other, _ = screens
    png = PNG_1X1 + b"screenshot"
    with cloud.admin() as admin:
        shot = send_command(admin, "screenshot", device_id=screen.device_id)["id"]
        logs = send_command(admin, "logs", device_id=screen.device_id, args={"lines": 3})["id"]
        reboot = send_command(admin, "reboot", device_id=screen.device_id)["id"]

        assert_refused(screen.put_attachment(shot, png, "image/jpeg"), 415)
        assert_refused(screen.put_attachment(shot, png, "application/octet-stream"), 415)
        assert_refused(screen.put_attachment(shot, b"line\n", "text/plain"), 415)
        assert_refused(screen.put_attachment(logs, png, "image/png"), 415)
        assert "not a PNG" in assert_refused(screen.put_attachment(shot, b"GIF89a..."), 422)
        assert "empty" in assert_refused(screen.put_attachment(shot, b""), 422)
        too_big = PNG_1X1 + bytes(MAX_ATTACHMENT_BYTES)
        assert_refused(screen.put_attachment(shot, too_big), 413)
        assert "screenshot or logs" in assert_refused(screen.put_attachment(reboot, png), 409)
        assert_refused(other.put_attachment(shot, png), 404)  # not sent to that device
        assert_refused(screen.put_attachment("cmd_0000000000000000", png), 404)
        unauthenticated = httpx.put(
            f"{cloud.url}/api/v3/device/commands/{shot}/attachment",
            content=png,
            headers={"Content-Type": "image/png"},
        )
        assert unauthenticated.status_code == 401
        nothing = admin.get(f"{ADMIN}/commands/{shot}/devices/{screen.device_id}/attachment")
        assert "uploaded nothing" in assert_refused(nothing, 404)

        stored = answer(screen.put_attachment(shot, png))
        assert stored == {
            "command_id": shot,
            "device_id": screen.device_id,
            "content_type": "image/png",
            "size": len(png),
            "sha256": hashlib.sha256(png).hexdigest(),
        }
        lines = "12:00:01 started\n12:00:02 playing é\n"
        stored_lines = answer(screen.put_attachment(logs, lines.encode(), "text/plain"))
        assert stored_lines["size"] == len(lines.encode())
        screen.report(result(shot, "done", attachment=True), result(logs, "done", attachment=True))

        picture = admin.get(f"{ADMIN}/commands/{shot}/devices/{screen.device_id}/attachment")
        assert picture.status_code == 200
        assert (picture.headers["content-type"], picture.content) == ("image/png", png)
        text = admin.get(f"{ADMIN}/commands/{logs}/devices/{screen.device_id}/attachment")
        assert text.headers["content-type"] == "text/plain; charset=utf-8"
        assert text.text == lines
        outcome = show_command(admin, shot)["devices"][0]
        assert outcome["attachment"]["size"] == len(png)
        unknown = admin.get(f"{ADMIN}/commands/cmd_0/devices/{screen.device_id}/attachment")
        assert_refused(unknown, 404)

    _, other_key = cloud.create_tenant("Other")
    with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}) as them:
        assert them.get(f"{ADMIN}/commands/{shot}").status_code == 404
        stolen = them.get(f"{ADMIN}/commands/{shot}/devices/{screen.device_id}/attachment")
        assert stolen.status_code == 404
    with Screen(cloud.url) as stranger:
        stranger.enroll(cloud, admin_key=other_key)
        assert_refused(stranger.put_attachment(shot, png), 404)
        assert "was not sent" in stranger.report(result(shot, "done")).refused[0].reason
    assert_no_traceback(cloud)


REFUSED_COMMANDS: list[tuple[dict[str, Any], int, str]] = [
    ({"kind": "dance"}, 422, "reboot, restart-agent, sync-now, screenshot, set-volume"),
    ({"kind": "set-volume"}, 422, "volume"),
    ({"kind": "set-volume", "args": {"volume": 101}}, 422, "0 to 100"),
    ({"kind": "set-volume", "args": {"volume": -1}}, 422, "0 to 100"),
    ({"kind": "set-volume", "args": {"volume": "loud"}}, 422, "0 to 100"),
    ({"kind": "set-volume", "args": {"volume": True}}, 422, "0 to 100"),
    ({"kind": "logs", "args": {"lines": 0}}, 422, "1 to 2000"),
    ({"kind": "logs", "args": {"lines": 2001}}, 422, "1 to 2000"),
    ({"kind": "logs", "args": {"level": "debug"}}, 422, "lines"),
    ({"kind": "reboot", "args": {"now": True}}, 422, "no arguments"),
    ({"kind": "reboot", "expires_in_s": 9}, 422, "expires_in_s"),
    ({"kind": "reboot", "expires_in_s": 30 * 86_400 + 1}, 422, "expires_in_s"),
    ({"kind": "reboot", "expires_in_s": 60.5}, 422, "expires_in_s"),
]


def test_commands_that_cannot_be_sent_are_refused(
    cloud: RunningCloud, screens: list[Screen]
) -> None:
    device = screens[0].device_id
    with cloud.admin() as admin:
        for body, status, said in REFUSED_COMMANDS:
            refused = admin.post(f"{ADMIN}/commands", json={"device_id": device, **body})
            assert said in assert_refused(refused, status), body
        infinite = f'{{"kind": "reboot", "device_id": "{device}", "expires_in_s": 1e999}}'
        sent_raw = admin.post(
            f"{ADMIN}/commands", content=infinite, headers={"Content-Type": "application/json"}
        )
        assert "expires_in_s" in assert_refused(sent_raw, 422)
        both = {"kind": "reboot", "device_id": device, "group_id": "grp_0"}
        assert "device_id or group_id" in assert_refused(
            admin.post(f"{ADMIN}/commands", json=both), 422
        )
        neither = admin.post(f"{ADMIN}/commands", json={"kind": "reboot"})
        assert "device_id or group_id" in assert_refused(neither, 422)
        unknown = admin.post(f"{ADMIN}/commands", json={"kind": "reboot", "device_id": "dev_0"})
        assert_refused(unknown, 404)
        assert_refused(
            admin.post(f"{ADMIN}/commands", json={"kind": "reboot", "group_id": "grp_0"}), 404
        )
        empty = create_group(admin, "Empty")
        nobody = admin.post(f"{ADMIN}/commands", json={"kind": "reboot", "group_id": empty})
        assert "has no devices" in assert_refused(nobody, 422)
        assert admin.delete(f"{ADMIN}/devices/{screens[2].device_id}").status_code == 200
        removed = admin.post(
            f"{ADMIN}/commands", json={"kind": "reboot", "device_id": screens[2].device_id}
        )
        assert_refused(removed, 404)

        # What the cloud fills in: the default expiry (an hour), logs' default line count.
        logs = send_command(admin, "logs", device_id=device)
        assert logs["args"] == {"lines": 200}
        lasts = logs["expires_at"], logs["created_at"]
        assert (seconds(lasts[0]) - seconds(lasts[1])) == 3600
        assert_refused(admin.get(f"{ADMIN}/commands/cmd_0"), 404)
        assert_refused(admin.get(f"{ADMIN}/commands/{logs['id']}", params={"wait": 61}), 422)
    _, other_key = cloud.create_tenant("Other")
    with httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}) as them:
        foreign = them.post(f"{ADMIN}/commands", json={"kind": "reboot", "device_id": device})
        assert_refused(foreign, 404)  # another tenant's device is no device of theirs
    assert_no_traceback(cloud)


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
