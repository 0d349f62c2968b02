"""The cloud's side of the contract with the real agent (`python -m agent run`, libvlc's
dummy output): commands sent while it is stopped are done when it starts, a screenshot comes
back through the CLI, and what it reports shows in `devices`, `device show` and the reports.
(That each runs once is the agent's to test: tests/agent/test_commands.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cloud.test_cli import ok, signage_cloud
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload
from tests.support.media import make_image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def red_loop(cloud: RunningCloud, tmp_path: Path) -> tuple[str, str]:
    """A red picture uploaded, and a playlist "Red loop" of it (2 s): their ids."""
    data = make_image(tmp_path / "red.png", "red.png", "#d1242f").read_bytes()
    asset = upload(cloud, "red.png", data, "image/png")
    return asset, create_playlist(cloud, [{"asset_id": asset, "duration_s": 2}], name="Red loop")


def test_the_agent_answers_commands_and_reports_what_it_plays(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    asset, playlist = red_loop(cloud, tmp_path)
    state = tmp_path / "agent"
    with running_agent(state, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device = approve(cloud, code, "Round trip")
        assign(cloud, device, playlist)
        wait_until(lambda: agent.started_names(), 60, "the first item on screen")
        assert agent.stop() == 0

    # Sent while the agent is stopped: they wait in the delta stream.
    waiting = [run("command", "send", "--device", device, "set-volume", "40"),
               run("command", "send", "--device", device, "sync-now")]  # fmt: skip
    for command in waiting:
        assert json.loads(run("command", "show", command, "--json"))["devices"][0]["state"] == (
            "pending"
        )
    # Heartbeats every 10 s (the least the agent takes): what plays shows within that.
    often = {"SIGNAGE_AGENT_HEARTBEAT_INTERVAL": "10"}
    with running_agent(state, cloud.url, extra_env=often) as agent:
        for command in waiting:
            shown = json.loads(run("command", "show", command, "--wait", "25", "--json"))
            assert [o["state"] for o in shown["devices"]] == ["done"], shown
        assert "volume set to 40" in run("command", "show", waiting[0])

        out = tmp_path / "shot.png"
        saved = run("device", "screenshot", device, "--out", str(out), "--wait", "25")
        assert saved.startswith(f"saved the screenshot of {device} to {out}")
        assert out.read_bytes().startswith(PNG_SIGNATURE)

        def reported() -> dict[str, object] | None:
            listed = json.loads(run("devices", "--json"))[0]
            return listed if listed["playing"] == "red.png" and listed["online"] else None

        listed = wait_until(reported, 30, "a heartbeat saying what plays")
        assert listed["playing_playlist"] == "Red loop"
        shown_device = json.loads(run("device", "show", device, "--json"))
        assert shown_device["status"]["status"]["playing"]["asset_id"] == asset

        def plays() -> list[dict[str, object]]:
            return json.loads(
                run("report", "plays", "--device", device, "--since", "2000-01-01", "--json")
            )

        found = wait_until(lambda: len(plays()) >= 2 and plays(), 30, "two plays reported")
        assert {p["name"] for p in found} == {"red.png"}
        assert {p["asset_id"] for p in found} == {asset}


def test_an_admin_turns_the_screen_and_sets_its_volume_without_a_restart(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    """`device set --rotation/--volume` reaches the running agent through the delta stream:
    its next heartbeat (sent at once: the display changed) says how it is turned and how
    loud; a restart keeps it; `screen` gives the agent's own configuration back."""

    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    _, playlist = red_loop(cloud, tmp_path)
    state = tmp_path / "agent"
    # Heartbeats every 10 minutes: what shows within the wait came from the settings' poke.
    rarely = {"SIGNAGE_AGENT_HEARTBEAT_INTERVAL": "600", "SIGNAGE_AGENT_VOLUME": "70"}

    def display(since: str = "") -> str | None:
        """The display the latest heartbeat reports, if it was received after `since`."""
        status = json.loads(run("device", "show", device, "--json"))["status"]
        if not status or status["received_at"] <= since:
            return None
        return status["status"]["display"]

    with running_agent(state, cloud.url, extra_env=rarely) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device = approve(cloud, code, "Turned")
        assign(cloud, device, playlist)
        wait_until(lambda: agent.started_names(), 60, "the first item on screen")
        assert wait_until(display, 30, "a first heartbeat").endswith(", volume 70%")

        said = run("device", "set", device, "--rotation", "90", "--volume", "25")
        assert said.endswith("turned: 90 degrees; volume: 25%")
        wait_until(lambda: (display() or "").endswith("turned 90 degrees, volume 25%"), 20,
                   "the heartbeat of the turned screen")  # fmt: skip
        assert agent.stop() == 0
        stopped = json.loads(run("device", "show", device, "--json"))["status"]["received_at"]

    with running_agent(state, cloud.url, extra_env=rarely) as agent:
        again = wait_until(lambda: display(stopped), 30, "a heartbeat after the restart")
        assert again.endswith("turned 90 degrees, volume 25%"), again
        run("device", "set", device, "--rotation", "screen", "--volume", "screen")
        shown = wait_until(lambda: "turned" not in (display() or "turned") and display(), 20,
                           "the heartbeat of the screen's own settings")  # fmt: skip
        assert shown.endswith(", volume 70%"), shown
        assert "Traceback" not in agent.log()
