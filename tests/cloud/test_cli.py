"""`signage-cloud` end to end, as a script or a person would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sync.models import TokenResponse
from tests.cloud.screen import PNG_1X1, VIDEO_BYTES, Screen
from tests.support.cloud import ROOT, RunningCloud, free_port


def signage_cloud(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloud", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert result.returncode == status, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_tenant_create_prints_only_the_admin_key(tmp_path: Path) -> None:
    result = signage_cloud("tenant", "create", "Acme Retail", "--data", str(tmp_path / "data"))
    key = ok(result)
    assert key.startswith("sk_")
    assert "\n" not in key
    assert "created tenant ten_" in result.stderr
    assert "Acme Retail" in result.stderr
    assert (tmp_path / "data" / "cloud.db").exists()


def test_a_tenant_created_beside_a_running_cloud_can_use_it(cloud: RunningCloud) -> None:
    key = ok(signage_cloud("tenant", "create", "Late", "--data", str(cloud.data_dir)))
    devices = signage_cloud("devices", "--json", "--url", cloud.url, "--key", key)
    assert json.loads(ok(devices)) == []


def test_an_admin_sets_up_a_screen_from_the_shell(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "welcome.png").write_bytes(PNG_1X1)
    (tmp_path / "clip.mp4").write_bytes(VIDEO_BYTES)
    image = ok(signage_cloud("asset", "add", str(tmp_path / "welcome.png"), env=admin_env))
    video = ok(
        signage_cloud("asset", "add", str(tmp_path / "clip.mp4"), "--name", "Intro", env=admin_env)
    )
    items = ["--item", f"{image}:4", "--item", video]
    playlist = ok(signage_cloud("playlist", "create", "Lobby loop", *items, env=admin_env))
    with Screen(cloud.url) as screen:
        grant = screen.authorize()
        device_id = ok(
            signage_cloud("enroll", "approve", grant.user_code, "--name", "Lobby", env=admin_env)
        )
        collected = screen.poll(grant.device_code)
        assert collected.status_code == 200, collected.text
        screen.tokens = TokenResponse.model_validate(collected.json())
        assigned = signage_cloud(
            "device", "assign", device_id, "--playlist", playlist, env=admin_env
        )
        assert playlist in ok(assigned)

        listed = json.loads(ok(signage_cloud("devices", "--json", env=admin_env)))
        assert [(d["id"], d["name"], d["playlist_id"]) for d in listed] == [
            (device_id, "Lobby", playlist)
        ]
        table = ok(signage_cloud("devices", env=admin_env)).splitlines()
        assert table[0].split() == [
            "ID", "NAME", "STATE", "PLAYING", "PLAYLIST", "GROUPS", "LAST", "SEEN"
        ]  # fmt: skip
        # Enrolled, but it has not called with its token yet: offline, and nothing said.
        assert table[1].split() == [device_id, "Lobby", "offline", "-", "-", "-", "never"]
        held, _ = screen.listing()
    items = held["playlist", playlist].data["items"]
    assert [(i["asset_id"], i["duration_ms"]) for i in items] == [(image, 4000), (video, None)]
    names = {key[1]: change.data["name"] for key, change in held.items() if key[0] == "asset"}
    assert names == {image: "welcome.png", video: "Intro"}


def test_a_mistyped_code_says_to_check_the_screen(admin_env: dict[str, str]) -> None:
    result = signage_cloud("enroll", "approve", "kxrt-9mbd", "--name", "Lobby", env=admin_env)
    line = assert_one_line_error(result)
    assert line == (
        "signage-cloud: error: no pending enrollment with code KXRT-9MBD: "
        "check the code on the screen"
    )


def test_a_cloud_that_is_not_running_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = signage_cloud("devices", "--url", url, "--key", "sk_whatever")
    line = assert_one_line_error(result)
    assert line == (
        f"signage-cloud: error: cannot reach the cloud at {url}: is `signage-cloud serve` running?"
    )


def test_usage_mistakes_exit_with_2(cloud: RunningCloud, tmp_path: Path) -> None:
    no_key = signage_cloud("devices", "--url", cloud.url)
    assert no_key.returncode == 2
    assert "pass --key or set SIGNAGE_ADMIN_KEY" in no_key.stderr
    bad_item = signage_cloud(
        "playlist", "create", "X", "--item", "ast_1:soon", "--key", "k", "--url", cloud.url
    )
    assert bad_item.returncode == 2
    assert "'soon' is not a number of seconds" in bad_item.stderr


def test_a_missing_file_or_a_wrong_key_is_one_line(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    missing = signage_cloud("asset", "add", str(tmp_path / "nope.mp4"), env=admin_env)
    assert "cannot read" in assert_one_line_error(missing)
    wrong_key = signage_cloud("devices", "--url", cloud.url, "--key", "sk_wrong")
    assert "key not recognised" in assert_one_line_error(wrong_key)


def test_serve_on_a_taken_port_says_so(cloud: RunningCloud, tmp_path: Path) -> None:
    port = cloud.url.rsplit(":", 1)[1]
    result = signage_cloud("serve", "--port", port, "--data", str(tmp_path / "other"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "pick another with --port" in result.stderr


@pytest.mark.parametrize("command", [["tenant", "create", "Acme"], ["serve", "--port", "0"]])
def test_an_unusable_data_dir_is_one_line(command: list[str]) -> None:
    result = signage_cloud(*command, "--data", "/proc/signage-cloud-test")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "/proc/signage-cloud-test" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
def test_a_port_that_does_not_exist_is_refused(port: str, tmp_path: Path) -> None:
    result = signage_cloud("serve", "--port", port, "--data", str(tmp_path / "data"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "port" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "data").exists()  # refused before anything was done


@contextmanager
def serving(*args: str) -> Iterator[str]:
    """`signage-cloud serve --port 0 ARGS…`; yields the URL its ready line names."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cloud", "serve", "--port", "0", *args],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        while line and "ready at" not in line:
            line = process.stderr.readline()
        yield line.split("ready at ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reads the rest and closes the pipe


def test_port_0_serves_on_a_free_port_and_names_it(tmp_path: Path) -> None:
    with serving("--data", str(tmp_path / "d")) as url:
        port = int(url.rsplit(":", 1)[1])
        assert port != 0
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("ast_1:inf", "at most 86400 seconds"),
        ("ast_1:nan", "at most 86400 seconds"),
        ("ast_1:1e9", "at most 86400 seconds"),
        ("ast_1:1e999", "at most 86400 seconds"),
        ("ast_1:0", "more than 0"),
        ("x" * 65 + ":5", "at most 64 characters"),
    ],
)
def test_a_duration_or_id_out_of_bounds_is_refused(
    item: str, problem: str, admin_env: dict[str, str]
) -> None:
    result = signage_cloud("playlist", "create", "Loop", "--item", item, env=admin_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert problem in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("name", "problem"), [("", "at least 1 character"), ("two\nlines", "control character")]
)
def test_a_bad_playlist_name_is_one_line(
    name: str, problem: str, admin_env: dict[str, str]
) -> None:
    result = signage_cloud("playlist", "create", name, "--item", "ast_1", env=admin_env)
    line = assert_one_line_error(result)
    assert "name" in line
    assert problem in line


def test_a_bad_screen_name_is_one_line(admin_env: dict[str, str]) -> None:
    result = signage_cloud("enroll", "approve", "KXRT-9MBD", "--name", "", env=admin_env)
    line = assert_one_line_error(result)
    assert "name" in line
    assert "at least 1 character" in line


def test_an_unreadable_setting_is_one_line(tmp_path: Path) -> None:
    result = signage_cloud(
        "serve", "--data", str(tmp_path), env={"SIGNAGE_CLOUD_MAX_BODY_BYTES": "-5"}
    )
    line = assert_one_line_error(result)
    assert "SIGNAGE_CLOUD_MAX_BODY_BYTES" in line


def test_an_admin_edits_and_deletes_from_the_shell(
    cloud: RunningCloud, admin_env: dict[str, str], tmp_path: Path
) -> None:
    def run(*args: str) -> str:
        return ok(signage_cloud(*args, env=admin_env))

    (tmp_path / "a.png").write_bytes(PNG_1X1)
    (tmp_path / "b.mp4").write_bytes(VIDEO_BYTES)
    image = run("asset", "add", str(tmp_path / "a.png"))
    video = run("asset", "add", str(tmp_path / "b.mp4"))
    playlist = run("playlist", "create", "Loop", "--item", image)
    with Screen(cloud.url) as screen:
        screen.enroll(cloud)
        device_id = screen.device_id
        run("device", "assign", device_id, "--playlist", playlist)
        _, cursor = screen.listing()

        assert "now has 2 items" in run(
            "playlist", "set", playlist, "--item", f"{image}:2", "--item", video
        )
        run("asset", "rename", image, "Welcome")
        run("playlist", "rename", playlist, "Lobby loop")
        run("device", "rename", device_id, "Front door")
        pages = screen.pages(cursor)
        changes = {(c.kind, c.id): c for page in pages for c in page.changes}
        assert changes["asset", image].data["name"] == "Welcome"
        assert changes["asset", video].data["media_type"] == "video"
        assert changes["playlist", playlist].data["name"] == "Lobby loop"
        assert changes["device", device_id].data["name"] == "Front door"

        assets = json.loads(run("asset", "list", "--json"))
        assert sorted((a["id"], a["name"], a["playlists"]) for a in assets) == sorted(
            [(image, "Welcome", 1), (video, "b.mp4", 1)]
        )
        assert run("asset", "list").splitlines()[0].split() == [
            "ID", "NAME", "TYPE", "BYTES", "PLAYLISTS", "URL"
        ]  # fmt: skip
        listed = json.loads(run("playlist", "list", "--json"))
        assert [(p["id"], p["items"], p["devices"]) for p in listed] == [(playlist, 2, 1)]
        shown = run("playlist", "show", playlist)
        assert f"played by: {device_id}" in shown
        assert shown.splitlines()[-1].split() == ["1", video, "to", "the", "end"]

        in_use = signage_cloud("asset", "delete", video, env=admin_env)
        assert "--force" in assert_one_line_error(in_use)
        assigned = signage_cloud("playlist", "delete", playlist, env=admin_env)
        assert "assigned to 1 device(s)" in assert_one_line_error(assigned)
        assert "taken out of 1 playlist(s)" in run("asset", "delete", video, "--force")
        assert "now plays nothing" in run("device", "assign", device_id, "--none")
        assert f"deleted playlist {playlist}" in run("playlist", "delete", playlist)
        held, _ = screen.listing()
    assert list(held) == [("device", device_id)]
    both = signage_cloud("device", "assign", device_id, "--none", "--playlist", "x", env=admin_env)
    assert both.returncode == 2


def test_the_public_url_is_what_installers_and_the_qr_code_open(tmp_path: Path) -> None:
    import asyncio

    from sync.client import DeviceClient
    from sync.identity import DeviceKey

    async def authorize(url: str):  # type: ignore[no-untyped-def]
        async with httpx.AsyncClient() as http:
            client = DeviceClient(http=http, base_url=url, key=DeviceKey.generate())
            return await client.authorize()

    with serving(
        "--data", str(tmp_path / "d"), "--public-url", "https://signage.example.com/"
    ) as url:
        grant = asyncio.run(authorize(url))
    assert grant.verification_uri == "https://signage.example.com/activate"
    assert grant.verification_uri_complete == (
        f"https://signage.example.com/activate?user_code={grant.user_code}"
    )
    assert grant.interval == 2  # approval reaches the screen within about 2 s by default


def test_a_public_url_that_is_not_an_address_is_one_line(tmp_path: Path) -> None:
    result = signage_cloud("serve", "--data", str(tmp_path), "--public-url", "signage.example")
    line = assert_one_line_error(result)
    assert "public URL" in line
