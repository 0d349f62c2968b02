"""Remote commands end to end: `signage-cloud command …` as an admin runs it, the real cloud,
the real agent (libvlc's dummy output), and the result each device gives, exactly once."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from PIL import Image

from agent.commands import RESTART_EXIT_STATUS
from agent.store import DB_FILE_NAME
from tests.agent.test_schedule_end_to_end import cli, enroll, wait_playing
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import running_cloud

RED = (200, 30, 30)


def red_playlist(cloud: Any, tmp_path: Path) -> str:
    image = tmp_path / "red.png"
    Image.new("RGB", (640, 360), RED).save(image)
    asset = cli(cloud, "asset", "add", str(image), "--name", "red.png")
    return cli(cloud, "playlist", "create", "Red", "--item", f"{asset}:3600")


def outcome(cloud: Any, command: str, wait: float = 0) -> dict[str, Any]:
    """The command's result on its one device (`command show --json`)."""
    args = ("--wait", str(wait)) if wait else ()
    detail = json.loads(cli(cloud, "command", "show", command, *args, "--json"))
    (device,) = detail["devices"]
    return device


def runs(state_dir: Path) -> dict[str, str]:
    """command id -> state, as the device recorded them."""
    with sqlite3.connect(f"file:{state_dir / DB_FILE_NAME}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT command_id, state FROM command_runs"))


def test_a_screenshot_shows_what_plays_and_commands_sent_while_off_run_once(
    tmp_path: Path,
) -> None:
    state = tmp_path / "agent"
    with running_cloud(tmp_path / "cloud") as cloud:
        playlist = red_playlist(cloud, tmp_path)
        with running_agent(state, cloud.url) as agent:
            device = enroll(cloud, agent)
            cli(cloud, "device", "assign", device, "--playlist", playlist)
            wait_playing(agent, "red")
            shot = tmp_path / "shot.png"
            cli(cloud, "device", "screenshot", device, "--out", str(shot), "--wait", "30")
            with Image.open(shot) as picture:
                centre = picture.convert("RGB").getpixel((picture.width // 2, picture.height // 2))
            assert all(abs(a - b) <= 24 for a, b in zip(centre, RED, strict=True)), centre
            assert agent.stop() == 0

        # sent while the screen is off: one it still runs when back, one that expires first
        later = cli(cloud, "command", "send", "--device", device, "identify")
        stale = cli(cloud, "command", "send", "--device", device, "sync-now", "--expires-in", "10")
        time.sleep(10.5)
        with running_agent(state, cloud.url) as agent:
            done = outcome(cloud, later, wait=30)
            assert (done["state"], done["final"]) == ("done", True)
            # expired before the screen came back: the screen hears of it and answers expired
            # (`--wait` ends at the command's expiry, long past: ask until the answer is in)
            expired = wait_until(
                lambda: (found := outcome(cloud, stale))["final"] and found, 30, "its answer"
            )
            assert (expired["state"], expired["no_answer"]) == ("expired", False)
            assert agent.stop() == 0
        with running_agent(state, cloud.url) as again:  # and nothing runs a second time
            wait_playing(again, "red")
            time.sleep(2)
            assert again.stop() == 0
        assert outcome(cloud, later) == done  # one answer, not a second one
    recorded = runs(state)
    assert (recorded[later], recorded[stale]) == ("done", "expired")  # the stale one never ran


def test_restart_agent_ends_the_agent_once_and_is_done_after_the_restart(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    with running_cloud(tmp_path / "cloud") as cloud:
        playlist = red_playlist(cloud, tmp_path)
        with running_agent(state, cloud.url) as agent:
            device = enroll(cloud, agent)
            cli(cloud, "device", "assign", device, "--playlist", playlist)
            wait_playing(agent, "red")
            command = cli(cloud, "command", "send", "--device", device, "restart-agent")
            # the agent records "started", then ends itself for systemd to start it again
            assert agent.process.wait(30) == RESTART_EXIT_STATUS
        assert runs(state)[command] == "started"
        with running_agent(state, cloud.url) as restarted:  # what systemd does
            result = outcome(cloud, command, wait=30)
            assert (result["state"], result["final"]) == ("done", True)
            wait_playing(restarted, "red")
            time.sleep(3)  # the command is not carried out a second time
            assert restarted.process.poll() is None
            assert restarted.stop() == 0
    assert runs(state)[command] == "done"
