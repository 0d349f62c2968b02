"""Schedules end to end: an admin's `signage-cloud` commands, the real cloud, the real agent
(libvlc's dummy output), and what the screen plays when.

Play events are recorded on the cloud's clock (the agent corrects its own by the offset it
measures), so a switch's lateness is the event's time minus the boundary, both on that clock.
Schedule windows are whole minutes; to open one 20 s after the agent plays without waiting
for the wall clock, the cloud runs under libfaketime with its clock shifted by a whole number
of seconds: its minutes then start when the test needs them. The agent sees a cloud whose
clock is seconds off its own and follows the cloud's, as a screen should.
"""

from __future__ import annotations

import glob
import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.agent import RunningAgent, running_agent, wait_until
from tests.support.cloud import ROOT, RunningCloud, running_cloud
from tests.support.media import make_image

LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
# A switch must reach the screen within this of its boundary (the bound).
SWITCH_WITHIN_S = 1.0
LONG_MS = 3_600_000  # images stay this long: only the schedule switches them


def cli(cloud: RunningCloud, *args: str) -> str:
    """`signage-cloud ARGS…` as an admin runs it; its standard output."""
    result = subprocess.run(
        [sys.executable, "-m", "cloud", *args],
        cwd=ROOT,
        env={**os.environ, "SIGNAGE_ADMIN_URL": cloud.url, "SIGNAGE_ADMIN_KEY": cloud.admin_key},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"signage-cloud {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def add_images(cloud: RunningCloud, tmp_path: Path, *names: str) -> dict[str, str]:
    """One single-image playlist per name: {name: playlist id}."""
    colours = ("#1f6feb", "#d1242f", "#1a7f37", "#bf8700", "#8250df")
    playlists = {}
    for index, name in enumerate(names):
        image = make_image(tmp_path / f"{name}.png", name, colours[index % len(colours)])
        asset = cli(cloud, "asset", "add", str(image), "--name", f"{name}.png")
        playlists[name] = cli(
            cloud, "playlist", "create", name, "--item", f"{asset}:{LONG_MS // 1000}"
        )
    return playlists


def enroll(cloud: RunningCloud, agent: RunningAgent, name: str = "Lobby") -> str:
    code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
    return cli(cloud, "enroll", "approve", code, "--name", name)


def starts(agent: RunningAgent) -> list[tuple[str, datetime]]:
    """(picture, when it appeared on the cloud's clock) of each start, in order."""
    return [
        (event["name"].removesuffix(".png"), datetime.fromisoformat(event["at"]))
        for event in agent.play_events()
        if event["event"] == "started"
    ]


def playing(agent: RunningAgent) -> str | None:
    now = agent.status()["now_playing"]
    return now["name"].removesuffix(".png") if now else None


def wait_playing(agent: RunningAgent, name: str, timeout: float = 30) -> datetime:
    """Wait until `name` is on screen; when it appeared (cloud clock)."""
    wait_until(lambda: playing(agent) == name, timeout, f"{name} on screen")
    return [at for shown, at in starts(agent) if shown == name][-1]


def test_a_window_and_an_interrupt_switch_the_screen_in_and_out_on_time(tmp_path: Path) -> None:
    assert LIBFAKETIME, "libfaketime is missing: `make test` installs the faketime package"
    # The cloud's clock runs `shift` s ahead, so that one of its minutes starts ~45 s from now:
    # enough to start, enroll and play first; whole seconds, at least 5 (a clock off by more
    # than 2 s is followed by the agent).
    now = time.time()
    lead = 30  # s from now to the minute the window opens
    exact = (60 - (now + lead) % 60) % 60
    shift = math.ceil(exact) + (60 if exact < 4 else 0)
    minute = datetime.fromtimestamp(math.floor((now + lead + shift) / 60) * 60, UTC)
    # The monotonic clock moves by the same few seconds, which nothing minds. With
    # FAKETIME_DONT_FAKE_MONOTONIC, libfaketime (bookworm's 0.9.10) made every sleep of the
    # cloud fail with EINVAL once it had started a child process (its upload probe), and
    # uploads were refused as busy.
    shifted = {"LD_PRELOAD": LIBFAKETIME[0], "FAKETIME": f"{shift:+d}s"}
    with running_cloud(tmp_path / "cloud", env=shifted) as cloud:
        lists = add_images(cloud, tmp_path, "default", "window", "alert")
        with running_agent(tmp_path / "agent", cloud.url) as agent:
            device = enroll(cloud, agent)
            cli(cloud, "device", "set", device, "--tz", "Europe/Berlin")
            cli(cloud, "device", "assign", device, "--playlist", lists["default"])
            wait_playing(agent, "default")
            opens = minute.astimezone(tz_berlin())
            closes = opens + timedelta(minutes=1)
            cli(cloud, "schedule", "add", "--device", device, "--playlist", lists["window"],
                "--from", opens.strftime("%H:%M"), "--to", closes.strftime("%H:%M"))  # fmt: skip
            status = wait_until(lambda: agent.status()["schedule"], 10, "the schedule in status")
            assert status["clock"] == "cloud-corrected"  # the cloud is seconds off our clock
            assert minute.timestamp() - shift - time.time() > 2, "setting up took too long"
            wait_until(
                lambda: (
                    agent.status()["schedule"]["next_boundary"]
                    == minute.isoformat(timespec="milliseconds")
                ),
                10,
                "the window's start as the next boundary",
            )

            window_at = wait_playing(agent, "window", timeout=90)
            assert 0 <= (window_at - minute).total_seconds() < SWITCH_WITHIN_S

            # an interrupt beats the window for 15 s, then ends by itself
            cli(cloud, "interrupt", "--device", device, "--playlist", lists["alert"], "--for", "15")
            wait_playing(agent, "alert", timeout=10)
            until = datetime.fromisoformat(interrupt_of(cloud, device)["until"])
            back_at = wait_playing_again(agent, "window", after=until, timeout=30)
            assert 0 <= (back_at - until).total_seconds() < SWITCH_WITHIN_S
            assert agent.status()["schedule"]["reason"] == "schedule"

            closed_at = wait_playing_again(agent, "default", after=minute, timeout=90)
            end = minute + timedelta(minutes=1)
            assert 0 <= (closed_at - end).total_seconds() < SWITCH_WITHIN_S
            assert agent.status()["schedule"]["reason"] == "device default"
            assert agent.stop() == 0
    shown = [name for name, _ in starts(agent)]
    assert shown == ["default", "window", "alert", "window", "default"]


def tz_berlin() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Berlin")


def interrupt_of(cloud: RunningCloud, device: str) -> dict[str, Any]:
    interrupts = json.loads(cli(cloud, "interrupt", "list", "--json"))
    return next(
        i for i in interrupts if i.get("device_id") == device or i.get("target_id") == device
    )


def wait_playing_again(
    agent: RunningAgent, name: str, *, after: datetime, timeout: float
) -> datetime:
    """When `name` next appeared at or after `after` (cloud clock)."""

    def found() -> datetime | None:
        later = [at for shown, at in starts(agent) if shown == name and at >= after]
        return later[0] if later else None

    return wait_until(found, timeout, f"{name} on screen again")


def test_groups_decide_what_plays_and_a_restarted_agent_follows_its_stored_schedule(
    tmp_path: Path,
) -> None:
    with running_cloud(tmp_path / "cloud") as cloud:
        lists = add_images(cloud, tmp_path, "north", "south", "alert")
        north = cli(cloud, "group", "create", "North")
        south = cli(cloud, "group", "create", "South")
        cli(cloud, "group", "assign", north, "--playlist", lists["north"])
        cli(cloud, "group", "assign", south, "--playlist", lists["south"])
        with running_agent(tmp_path / "agent", cloud.url) as agent:
            device = enroll(cloud, agent)
            wait_until(
                lambda: (agent.status()["message"] or {}).get("headline") == "No content yet",
                30,
                "no content yet",
            )
            cli(cloud, "group", "add", north, device)
            wait_playing(agent, "north")
            assert agent.status()["schedule"]["reason"] == "group default"
            cli(cloud, "group", "add", south, device)  # North came first: it stays
            cli(cloud, "group", "remove", north, device)
            wait_playing(agent, "south")
            # an interrupt for the group that outlives the cloud, then the agent's restart
            cli(cloud, "interrupt", "--group", south, "--playlist", lists["alert"], "--for", "12")
            wait_playing(agent, "alert")
            assert agent.stop() == 0
    # the cloud is gone; the agent starts again on its own and follows what it stored
    with running_agent(tmp_path / "agent", "http://127.0.0.1:9") as offline:
        until = wait_until(
            lambda: (offline.status()["schedule"] or {}).get("next_boundary"), 20, "a boundary"
        )
        wait_playing(offline, "alert", timeout=20)
        back = wait_playing_again(offline, "south", after=datetime.fromisoformat(until), timeout=30)
        assert 0 <= (back - datetime.fromisoformat(until)).total_seconds() < SWITCH_WITHIN_S
        assert offline.status()["online"] is False
        assert offline.stop() == 0
