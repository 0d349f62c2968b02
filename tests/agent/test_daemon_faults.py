"""The agent process under bad conditions: it keeps going, says what happens, never crashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import free_port, running_cloud


def test_without_a_cloud_the_screen_and_status_say_what_failed_and_it_keeps_retrying(
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with running_agent(tmp_path / "agent", url) as agent:
        message = wait_until(
            lambda: (m := agent.status()["message"]) and m["headline"] != "Connecting…" and m,
            30,
            "the screen to stop saying Connecting…",
        )
        status = agent.status()
        failures_seen = status["last_error_at"]
        # still retrying: the error is renewed
        wait_until(lambda: agent.status()["last_error_at"] != failures_seen, 30, "another retry")
        assert agent.process.poll() is None
        assert agent.stop() == 0
    assert message["headline"] == "Cannot reach the cloud"
    on_screen = " ".join(message["lines"])
    assert url in on_screen and "refused" in on_screen.lower()  # what failed, what to check
    assert (status["running"], status["online"], status["enrolled"]) == (True, False, False)
    assert status["offline_since"] and "refused" in status["last_error"].lower()
    assert "Traceback" not in agent.log()


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
