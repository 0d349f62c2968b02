"""The agent process under bad conditions: it keeps going, says what happens, never crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import free_port, running_cloud


def test_without_a_cloud_the_agent_keeps_retrying_and_says_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with running_agent(tmp_path / "agent", url) as agent:
        wait_until(
            lambda: agent.log().count("cannot get an enrollment code") >= 2, 30, "two retries"
        )
        assert agent.process.poll() is None  # still running
        assert agent.status()["enrolled"] is False
        assert agent.stop() == 0
    log = agent.log()
    assert "Traceback" not in log
    assert f"cannot reach the cloud at {url}" in log
    assert 'showing message "Setting up this screen' in log  # the screen says what is going on


def test_an_expired_code_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    with (
        running_cloud(tmp_path / "cloud", code_ttl=2) as cloud,
        running_agent(tmp_path / "agent", cloud.url) as agent,
    ):
        first = wait_until(lambda: agent.status()["enrollment_code"], 30, "a first code")
        second = wait_until(
            lambda: (code := agent.status()["enrollment_code"]) != first and code, 30, "a new code"
        )
        assert agent.stop() == 0
    assert second != first
    log = agent.log()
    assert (
        f"enrollment code {first} is no longer valid" in log
        or f"enrollment code {first} expired" in log
    )
    assert f'showing message "Enroll this screen: {second}"' in log
    assert "Traceback" not in log


def test_without_libvlc_the_agent_exits_with_one_line_saying_how_to_fix_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON_VLC_LIB_PATH": str(tmp_path / "no-libvlc.so")}
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        sys.executable,
        "-m",
        "agent",
        "run",
        "--state-dir",
        str(tmp_path / "a"),
        "--cloud",
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1  # systemd restarts it; the journal says why
    assert "agent stopped: cannot load libvlc" in result.stdout
    assert "apt-get install libvlc5" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
