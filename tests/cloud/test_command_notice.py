"""An expired command stays in the view of the devices that have not answered it for a notice
period (SIGNAGE_CLOUD_COMMAND_NOTICE_S), so a screen that was offline at its expiry hears of
it when it comes back and reports it expired; an admin's wait still ends at the expiry, and
the tombstones come when the notice ends. With DPoP test devices, and with the real agent."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from agent.store import Meta, Store
from sync.models import StatePage
from tests.cloud.reporting import result, send_command, show_command
from tests.cloud.screen import ADMIN, Screen, answer, create_group
from tests.cloud.test_cli import ok, signage_cloud
from tests.cloud.test_hostile_input import assert_no_traceback
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud, running_cloud
from tests.support.device import approve

NOTICE_S = 3


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_an_expired_command_is_offered_through_its_notice_then_told_gone(
    tmp_path: Path,
) -> None:
    notice = {"SIGNAGE_CLOUD_COMMAND_NOTICE_S": str(NOTICE_S)}
    with (
        running_cloud(tmp_path / "cloud", env=notice) as cloud,
        Screen(cloud.url) as away,
        Screen(cloud.url) as back,
        Screen(cloud.url) as prompt,
    ):
        for screen, name in ((away, "Away"), (back, "Back"), (prompt, "Prompt")):
            screen.enroll(cloud, name=name)
        with cloud.admin() as admin:
            members = (away.device_id, back.device_id, prompt.device_id)
            group = create_group(admin, "All", *members)
            sent = send_command(admin, "reboot", group_id=group, expires_in_s=10)
            command = sent["id"]
            prompt.report(result(command, "done"))
            started = time.monotonic()
            shown = show_command(admin, command, wait=30)  # held until the expiry settles it
            waited = time.monotonic() - started
            assert shown["expired"] and shown["settled"]
            assert 7 < waited < 13, waited  # the expiry, not the notice after it
            cancel = answer(admin.post(f"{ADMIN}/commands/{command}/cancel"))
            assert cancel["cancelled"] == []
            assert cancel["message"].startswith(f"nothing to cancel: command {command} expired")

            # Within the notice the expired command is still offered to who has not answered.
            away_held, away_cursor = away.listing()
            assert ("command", command) in away_held
            back_held, _ = back.listing()
            offered = back_held[("command", command)].data
            assert instant(offered["expires_at"]) == instant(sent["expires_at"])  # as it was
            assert ("command", command) not in prompt.listing()[0]
            # The screen that comes back answers it expired, as the agent does.
            back.report(result(command, "expired", detail="received after it expired: not run"))
            assert ("command", command) not in back.listing()[0]
            by_device = {o["device_id"]: o for o in show_command(admin, command)["devices"]}
            assert {device: (o["state"], o["no_answer"]) for device, o in by_device.items()} == {
                away.device_id: ("pending", True),
                back.device_id: ("expired", False),
                prompt.device_id: ("done", False),
            }
            env = {"SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key}
            text = ok(signage_cloud("command", "show", command, env=env))
            lines = {line.split()[0]: line for line in text.splitlines()[2:]}
            assert "expired (no answer)" in lines[away.device_id]
            assert "expired" in lines[back.device_id]
            assert "no answer" not in lines[back.device_id]

            # When the notice ends, the one that never answered is told it is gone.
            woken = away.get_state(away_cursor, wait=20)
            ended = time.monotonic() - started
            page = StatePage.model_validate_json(woken.content)
            assert [(c.kind, c.id, c.deleted) for c in page.changes] == [("command", command, True)]
            assert NOTICE_S + 7 < ended < NOTICE_S + 14, ended
            assert ("command", command) not in away.listing()[0]
            # Its answer reads the same after the notice.
            after = {o["device_id"]: o for o in show_command(admin, command)["devices"]}
            assert (
                after[away.device_id]["no_answer"] and after[back.device_id]["state"] == "expired"
            )
        assert "notice ended; 1 device(s) had not answered" in cloud.log()
    assert_no_traceback(cloud)


def test_a_screen_back_after_the_expiry_answers_expired_and_does_not_run_it(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    state = tmp_path / "agent"
    with running_agent(state, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device = approve(cloud, code, "Back later")
        wait_until(lambda: agent.status()["enrolled"], 30, "the agent enrolled")
        assert agent.stop() == 0

    # Sent while the screen is off: one it still runs when back, one that expires first.
    stale = run("command", "send", "--device", device, "set-volume", "40", "--expires-in", "10")
    fresh = run("command", "send", "--device", device, "sync-now")
    wait_until(lambda: json.loads(run("command", "show", stale, "--json"))["expired"], 15, "expiry")
    with running_agent(state, cloud.url) as agent:
        done = json.loads(run("command", "show", fresh, "--wait", "25", "--json"))["devices"][0]
        assert done["state"] == "done", done
        shown = json.loads(run("command", "show", stale, "--wait", "25", "--json"))["devices"][0]
        assert (shown["state"], shown["final"], shown["no_answer"]) == ("expired", True, False)
        assert "not run" in shown["detail"], shown
        text = run("command", "show", stale)
        assert "expired" in text and "no answer" not in text
        assert agent.stop() == 0
    store = Store.open_read_only(state)
    assert store is not None
    try:
        runs = store.command_runs()
        assert Meta.VOLUME not in store.meta()  # set-volume never ran
    finally:
        store.close()
    assert runs[stale].state == "expired" and runs[fresh].state == "done"
