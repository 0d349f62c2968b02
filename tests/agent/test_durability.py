"""The agent killed at any moment, and on a full disk: the store stays consistent, no partial
blob is ever visible to the player, and the agent converges once it runs again."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload


def noisy_png(path: Path, seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    """A PNG that does not compress: its size is about width x height x 3 bytes."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    image.save(path, format="PNG")
    return path.read_bytes()


def assert_consistent(state_dir: Path) -> None:
    conn = sqlite3.connect(state_dir / "agent.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    content = state_dir / "content"
    for path in content.iterdir() if content.exists() else []:
        if not path.name.endswith(".part"):  # what the player may see is always whole
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path


def test_killed_again_and_again_while_syncing_and_downloading_it_converges(
    tmp_path: Path, cloud: RunningCloud
) -> None:
    ids = [
        upload(cloud, f"{n}.png", noisy_png(tmp_path / f"{n}.png", n), "image/png")
        for n in range(120)
    ]
    playlist = create_playlist(cloud, [{"asset_id": a, "duration_s": 1} for a in ids], name="big")
    state_dir = tmp_path / "agent"
    with running_agent(state_dir, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        device_id = approve(cloud, code)
        assign(cloud, device_id, playlist)
        time.sleep(0.3)
        agent.process.send_signal(signal.SIGKILL)
        agent.process.wait()
    rng = random.Random(7)
    for _ in range(4):  # start, let it sync or download a moment, kill it mid-way
        with running_agent(state_dir, cloud.url) as agent:
            time.sleep(rng.uniform(0.2, 1.2))
            agent.process.send_signal(signal.SIGKILL)
            agent.process.wait()
        assert_consistent(state_dir)
    with running_agent(state_dir, cloud.url) as agent:
        status = wait_until(
            lambda: (
                (s := agent.status())["items"] and all(item["cached"] for item in s["items"]) and s
            ),
            90,
            "every item cached",
        )
        assert agent.stop() == 0
    assert status["playlist"] == "big" and len(status["items"]) == 120
    assert_consistent(state_dir)
    assert "Traceback" not in agent.log()


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                             str(path)], capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()}); CI runs as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_on_a_full_disk_it_plays_what_fits_and_says_what_does_not(
    tmp_path: Path, cloud: RunningCloud
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    ids = [
        upload(cloud, f"{n}.png", noisy_png(tmp_path / f"{n}.png", n, (640, 480)), "image/png")
        for n in range(8)
    ]  # about 920 KB each: 7.4 MB in all, on a 6 MB disk
    playlist = create_playlist(cloud, [{"asset_id": a, "duration_s": 1} for a in ids], name="big")
    with tmpfs(tmp_path / "small", "6m") as state_dir, running_agent(state_dir, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        assign(cloud, approve(cloud, code), playlist)
        status = wait_until(
            lambda: (
                (s := agent.status()).get("downloads")
                and s["downloads"]["failing"]
                and s["downloads"]["pending"] + sum(i["cached"] for i in s["items"]) == 8
                and agent.started_names()
                and s
            ),
            60,
            "some items playing and the rest reported as not fitting",
        )
        assert agent.process.poll() is None
        assert "no room" in status["downloads"]["failing"][0]["reason"]
        cached = [item["name"] for item in status["items"] if item["cached"]]
        assert cached and set(agent.started_names()) <= set(cached)
        assert agent.stop() == 0
        assert_consistent(state_dir)
    assert "Traceback" not in agent.log()


def test_a_code_approved_while_the_agent_restarts_still_enrolls_it(
    tmp_path: Path, cloud: RunningCloud
) -> None:
    state_dir = tmp_path / "agent"
    with running_agent(state_dir, cloud.url) as agent:
        code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        agent.process.send_signal(signal.SIGKILL)
        agent.process.wait()
    approve(cloud, code, "Lobby")  # the installer typed the code while the screen rebooted
    with running_agent(state_dir, cloud.url) as agent:
        status = wait_until(lambda: (s := agent.status())["device_name"] and s, 30, "enrollment")
        assert agent.stop() == 0
    assert status["device_name"] == "Lobby"
    assert status["enrollment_code"] is None
