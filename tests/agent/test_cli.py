"""`signage-agent status` and `config` as a person or a script runs them, and their docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from agent.cli import _parser
from agent.config import ENV_KEYS, AgentConfig
from agent.instance_lock import InstanceLock
from agent.store import Store
from sync.client import DeviceTokens
from sync.models import Asset, DeviceRecord, Playlist
from tests.support.pages import item, listing

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "agent.md").read_text()


def agent_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60
    )


def test_status_of_a_screen_that_never_ran(tmp_path: Path) -> None:
    result = agent_cli("status", "--state-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["enrolled"] is False
    assert (status["running"], status["online"], status["now_playing"]) == (False, None, None)
    assert list(tmp_path.iterdir()) == []  # looking does not create anything


def test_status_of_an_unknown_state_folder_is_one_line_and_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = agent_cli("status", "--state-dir", str(missing))
    assert result.returncode == 1
    assert str(missing) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert not missing.exists()


def test_status_of_an_enrolled_screen_in_json_and_text(tmp_path: Path) -> None:
    sha = "c" * 64
    store = Store.open(tmp_path)
    store.save_tokens(DeviceTokens("at", "rt", device_id="dev_1", tenant_id="ten_1"))
    store.apply_page(
        listing(
            "rev.9",
            version=9,
            device=DeviceRecord(id="dev_1", name="Lobby", tenant_id="ten_1", playlist_id="pl"),
            playlist=Playlist(id="pl", name="Main", items=[item("a", 0, 5000)]),
            assets=[Asset(id="a", name="menu.png", sha256=sha, media_type="image", size=3)],
        ),
        starts_listing=True,
    )
    started = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    store.record_play_event("started", item_key="pl:0", name="menu.png", sha256=sha, at=started)
    store.close()
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / sha).write_bytes(b"png")

    stopped = json.loads(agent_cli("status", "--state-dir", str(tmp_path), "--json").stdout)
    # nothing plays while no agent runs, whatever the store last said
    assert (stopped["running"], stopped["now_playing"]) == (False, None)
    assert "not running" in agent_cli("status", "--state-dir", str(tmp_path)).stdout

    lock = InstanceLock(tmp_path)  # what a running agent holds
    lock.acquire()
    try:
        status = json.loads(agent_cli("status", "--state-dir", str(tmp_path), "--json").stdout)
        text = agent_cli("status", "--state-dir", str(tmp_path)).stdout
    finally:
        lock.release()
    assert (status["running"], status["pid"]) == (True, os.getpid())
    assert status["enrolled"] is True
    assert (status["device_id"], status["tenant_id"], status["cursor"]) == (
        "dev_1",
        "ten_1",
        "rev.9",
    )
    assert status["playlist"] == "Main"
    assert status["items"][0]["cached"] is True
    assert status["now_playing"] == {
        "name": "menu.png",
        "sha256": sha,
        "since": started.isoformat(),
    }
    assert "access_token" not in status and "refresh_token" not in status  # no secrets

    assert "yes, device dev_1 (Lobby) of tenant ten_1" in text
    assert "menu.png" in text and "cached" in text


def test_config_prints_the_effective_values(tmp_path: Path) -> None:
    result = agent_cli("config", "--state-dir", str(tmp_path), "--cloud", "https://cloud.example")
    assert result.returncode == 0, result.stderr
    assert "cloud_url = https://cloud.example" in result.stdout
    assert f"state_dir = {tmp_path}" in result.stdout


def test_an_invalid_config_file_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('cloud_url = "nope"\nlog_level = "LOUD"\n')
    result = agent_cli("run", "--config", str(config), "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "cloud_url" in result.stderr and "log_level" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "agent.db").exists()  # nothing started


def test_every_config_key_env_variable_and_command_is_documented() -> None:
    for key in AgentConfig.model_fields:
        assert f"`{key}`" in DOC, f"config key {key} is not in docs/agent.md"
    for name in ENV_KEYS.values():
        assert f"`{name}`" in DOC, f"environment variable {name} is not in docs/agent.md"
    subparsers = next(a for a in _parser()._actions if a.dest == "command")
    for command in subparsers.choices:  # type: ignore[union-attr]
        assert f"### `signage-agent {command}`" in DOC, f"command {command} is not documented"
        flags = set(re.findall(r"--[a-z][a-z-]+", subparsers.choices[command].format_help()))  # type: ignore[union-attr]
        for flag in flags - {"--help"}:
            assert flag in DOC, f"{command} {flag} is not documented"
