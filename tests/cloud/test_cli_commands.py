"""`signage-cloud command|report|devices|device show|device screenshot` as an admin runs them
against the real cloud, with a real DPoP device on the other side doing what the agent does."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.models import Change, StatePage
from tests.cloud.reporting import heartbeat_at, play, result
from tests.cloud.screen import PNG_1X1, Screen, create_group, create_playlist, upload
from tests.cloud.test_cli import assert_one_line_error, ok, signage_cloud
from tests.support.cloud import RunningCloud


@pytest.fixture
def screen(cloud: RunningCloud) -> Iterator[Screen]:
    with Screen(cloud.url) as enrolled:
        enrolled.enroll(cloud, name="Lobby")
        yield enrolled


Respond = Callable[[Change], None]


@contextmanager
def device_answering(screen: Screen, respond: Respond) -> Iterator[None]:
    """The device follows its delta stream from a full listing (long-polls) and calls `respond`
    with each command it receives, as the agent would, until the block ends."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def follow() -> None:
        cursor: str | None = None
        answered: set[str] = set()
        with Screen(screen.base_url, key=screen.key) as device:  # its own connection
            device.tokens = screen.tokens
            try:
                while not stop.is_set():
                    response = device.get_state(cursor, wait=1 if cursor else 0)
                    if response.status_code == 204:
                        continue
                    page = StatePage.model_validate_json(response.content)
                    cursor = page.cursor
                    for change in page.changes:
                        fresh = change.kind == "command" and change.id not in answered
                        if fresh and not change.deleted:
                            answered.add(change.id)
                            respond(change)
            except BaseException as exc:  # shown by the test, not lost in the thread
                failures.append(exc)

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    assert not failures, failures


def test_a_command_from_the_shell_and_its_result(
    cloud: RunningCloud, admin_env: dict[str, str], screen: Screen
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    command = run("command", "send", "--device", screen.device_id, "set-volume", "30")
    assert command.startswith("cmd_") and "\n" not in command
    shown = json.loads(run("command", "show", command, "--json"))
    assert (shown["kind"], shown["args"], shown["device_id"]) == (
        "set-volume",
        {"volume": 30},
        screen.device_id,
    )
    assert [(o["device_id"], o["state"]) for o in shown["devices"]] == [
        (screen.device_id, "pending")
    ]
    table = run("command", "show", command).splitlines()
    assert table[0].startswith(f"{command} set-volume (volume 30) to device {screen.device_id}")
    assert table[1].split() == ["DEVICE", "NAME", "STATE", "AT", "ATTACHMENT", "DETAIL"]
    assert table[2].split()[:3] == [screen.device_id, "Lobby", "pending"]

    def answer(change: Change) -> None:
        screen.report(result(change.id, "started"), result(change.id, "done", detail="at 30 %"))

    with device_answering(screen, answer):
        waited = json.loads(run("command", "show", command, "--wait", "20", "--json"))
    assert waited["settled"]
    assert [(o["state"], o["detail"]) for o in waited["devices"]] == [("done", "at 30 %")]
    line = run("command", "show", command).splitlines()[2]
    assert line.split()[2] == "done" and line.endswith("at 30 %")

    # Expiry: a silent device shows "expired (no answer)" (sent with the shortest expiry).
    silent = run("command", "send", "--device", screen.device_id, "identify", "--expires-in", "10")
    after = run("command", "show", silent, "--wait", "20")
    assert "expired (no answer)" in after.splitlines()[2]
    assert after.splitlines()[0].split(", ")[1].startswith("expired ")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["dance"], "'dance' is not a kind of command: use one of reboot, restart-agent"),
        (["set-volume"], "set-volume takes one argument"),
        (["set-volume", "loud"], "the volume is a whole number"),
        (["set-volume", "101"], "volume is a whole number from 0 to 100"),
        (["logs", "0"], "lines is a whole number from 1 to 2000"),
        (["logs", "5", "6"], "logs takes at most one argument"),
        (["reboot", "now"], "reboot takes no arguments"),
        (["reboot", "--expires-in", "9"], "a command expires in 10 s to 2592000 s"),
    ],
)
def test_a_command_that_cannot_be_sent_is_a_usage_line(
    admin_env: dict[str, str], args: list[str], said: str
) -> None:
    refused = signage_cloud("command", "send", "--device", "dev_0", *args, env=admin_env)
    assert refused.returncode == 2, refused
    assert said in refused.stderr.strip().splitlines()[-1]


def test_a_command_the_cloud_refuses_is_one_line(admin_env: dict[str, str]) -> None:
    unknown = signage_cloud("command", "send", "--device", "dev_0", "reboot", env=admin_env)
    assert "no device dev_0" in assert_one_line_error(unknown)
    nothing = signage_cloud("command", "show", "cmd_0", env=admin_env)
    assert "no command cmd_0" in assert_one_line_error(nothing)


def test_a_screenshot_and_logs_from_the_shell(
    cloud: RunningCloud, admin_env: dict[str, str], screen: Screen, tmp_path: Path
) -> None:
    picture = PNG_1X1 + b"what the screen shows"
    lines = "09:00:00 agent started\n09:00:01 playing Spring sale\n"

    def answer(change: Change) -> None:
        assert change.data is not None
        if change.data["kind"] == "screenshot":
            assert screen.put_attachment(change.id, picture).status_code == 200
        else:
            assert change.data["args"] == {"lines": 2}
            assert screen.put_attachment(change.id, lines.encode(), "text/plain").status_code == 200
        screen.report(result(change.id, "done", attachment=True))

    out = tmp_path / "shot.png"
    with device_answering(screen, answer):
        saved = ok(
            signage_cloud(
                "device", "screenshot", screen.device_id, "--out", str(out), "--wait", "20",
                env=admin_env,
            )
        )  # fmt: skip
        command = ok(
            signage_cloud(
                "command", "send", "--device", screen.device_id, "logs", "2", env=admin_env
            )
        )
        ok(signage_cloud("command", "show", command, "--wait", "20", env=admin_env))
    assert saved == f"saved the screenshot of {screen.device_id} to {out} ({len(picture)} bytes)"
    assert out.read_bytes() == picture
    printed = signage_cloud("command", "logs", command, env=admin_env)
    assert printed.returncode == 0 and printed.stdout == lines
    again = signage_cloud("command", "logs", command, "--device", screen.device_id, env=admin_env)
    assert again.stdout == lines


def test_a_screenshot_the_device_cannot_take_is_one_line(
    admin_env: dict[str, str], screen: Screen, tmp_path: Path
) -> None:
    def unsupported(change: Change) -> None:
        screen.report(result(change.id, "unsupported", detail="no display to capture"))

    out = tmp_path / "shot.png"
    with device_answering(screen, unsupported):
        refused = signage_cloud(
            "device", "screenshot", screen.device_id, "--out", str(out), "--wait", "20",
            env=admin_env,
        )  # fmt: skip
    line = assert_one_line_error(refused)
    assert line.endswith("did not take the screenshot (unsupported: no display to capture)")
    assert not out.exists()
    # A device that does not answer in time: one line naming the command to look at later.
    late = signage_cloud(
        "device", "screenshot", screen.device_id, "--out", str(out), "--wait", "1", env=admin_env
    )
    assert "no screenshot from" in assert_one_line_error(late)
    assert "signage-cloud command show cmd_" in late.stderr
    assert not out.exists()


def test_devices_and_device_show_say_what_each_screen_reports(
    cloud: RunningCloud, admin_env: dict[str, str], screen: Screen
) -> None:
    with cloud.admin() as admin:
        asset = upload(admin, "spring.png", PNG_1X1, "image/png")
        playlist = create_playlist(admin, "Spring loop", [{"asset_id": asset["id"]}])
        create_group(admin, "North side", screen.device_id)
        create_group(admin, "Ground floor", screen.device_id)
    now = datetime.now(UTC)
    playing = {
        "name": "spring.png",
        "asset_id": asset["id"],
        "playlist_id": playlist,
        "since": now.isoformat(),
    }
    screen.report(
        heartbeat_at(
            now,
            playing=playing,
            cpu_temp_c=48.25,
            clock_offset_s=-0.25,
            clock_synchronised=True,
            clock_source="cloud-corrected",
            display="x11 1920x1080",
            ip_addresses=["192.0.2.7"],
            last_errors=["a download failed: timed out"],
            cache_used_bytes=5_000_000,
            cache_limit_bytes=100_000_000,
            disk_free_bytes=2_000_000_000,
            downloads_pending=1,
        ),
        {
            "type": "dropped",
            "id": "6f0c3d0e-7a51-4a8e-9e0f-1f2a3b4c5d6e",
            "at": now.isoformat(),
            "what": "heartbeat",
            "count": 4,
        },
    )
    table = ok(signage_cloud("devices", env=admin_env)).splitlines()
    assert table[0].split()[:6] == ["ID", "NAME", "STATE", "PLAYING", "PLAYLIST", "GROUPS"]
    row = table[1]
    assert row.startswith(
        f"{screen.device_id}  Lobby  online  spring.png  Spring loop  North side, Ground floor"
    )
    listed = json.loads(ok(signage_cloud("devices", "--json", env=admin_env)))
    assert listed[0]["groups"] == ["North side", "Ground floor"]
    assert (listed[0]["playing_playlist_id"], listed[0]["playing_playlist"]) == (
        playlist,
        "Spring loop",
    )

    shown = ok(signage_cloud("device", "show", screen.device_id, env=admin_env)).splitlines()
    assert shown[4].startswith("online; last seen: ")
    text = "\n".join(shown)
    for said in (
        "agent 1.2.3, up 42 s",
        "  playing: spring.png (Spring loop) since ",
        "  cache: 5.0 MB of 100.0 MB; disk free 2000.0 MB; downloads pending 1",
        "  clock: offset -0.250 s, synchronised, cloud-corrected",
        "  cpu: 48.2 C; throttled ?",
        "  display: x11 1920x1080",
        "  addresses: 192.0.2.7",
        "  error: a download failed: timed out",
        "dropped by its full outbox: 4 heartbeat",
        "schedule now: nothing (nothing:",
    ):
        assert said in text, (said, text)
    as_json = json.loads(
        ok(signage_cloud("device", "show", screen.device_id, "--json", env=admin_env))
    )
    assert as_json["online"] is True
    assert as_json["status"]["status"]["playing"]["name"] == "spring.png"
    assert as_json["status"]["playing_playlist"] == "Spring loop"
    assert as_json["dropped_events"] == {"heartbeat": 4}


def test_reports_from_the_shell(
    cloud: RunningCloud, admin_env: dict[str, str], screen: Screen
) -> None:
    screen.report(
        play(0, 10), play(10, 4, outcome="cut"), play(7300, 15, name="news.mp4", asset_id="ast_2")
    )

    def run(*args: str) -> str:
        return ok(signage_cloud("report", *args, "--since", "2026-05-04", env=admin_env))

    as_json: list[dict[str, Any]] = json.loads(run("plays", "--json"))
    assert [(p["name"], p["outcome"], p["duration_ms"]) for p in as_json] == [
        ("clip.mp4", "completed", 10_000),
        ("clip.mp4", "cut", 4_000),
        ("news.mp4", "completed", 15_000),
    ]
    rows = list(csv.DictReader(io.StringIO(run("plays", "--csv", "--device", screen.device_id))))
    assert [(r["started_at"], r["device_name"], r["outcome"]) for r in rows] == [
        ("2026-05-04T22:00:00Z", "Lobby", "completed"),
        ("2026-05-04T22:00:10Z", "Lobby", "cut"),
        ("2026-05-05T00:01:40Z", "Lobby", "completed"),
    ]
    table = run("plays", "--asset", "ast_2").splitlines()
    assert table[0].split() == ["STARTED", "DEVICE", "ITEM", "PLAYLIST", "SECONDS", "OUTCOME"]
    assert table[1].split() == [
        "2026-05-05T00:01:40Z",
        "Lobby",
        "news.mp4",
        "pl_1",
        "15",
        "completed",
    ]
    assert len(table) == 2

    summary = list(csv.DictReader(io.StringIO(run("summary", "--csv", "--until", "2026-05-06"))))
    assert [(r["day"], r["name"], r["plays"], r["seconds"], r["cut"]) for r in summary] == [
        ("2026-05-04", "clip.mp4", "2", "14.0", "1"),
        ("2026-05-05", "news.mp4", "1", "15.0", "0"),
    ]
    text = run("summary", "--until", "2026-05-06").splitlines()
    assert text[0].split()[:5] == ["DAY", "ASSET", "NAME", "PLAYS", "SECONDS"]
    assert text[1].split()[:5] == ["2026-05-04", "ast_1", "clip.mp4", "2", "14"]
    refused = signage_cloud("report", "plays", "--since", "someday", env=admin_env)
    assert "since 'someday' is not an ISO date" in assert_one_line_error(refused)
    missing = signage_cloud("report", "plays", env=admin_env)
    assert missing.returncode == 2 and "--since" in missing.stderr
