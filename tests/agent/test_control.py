"""`signage-agent screenshot FILE`: the running agent (real libvlc, dummy output) answers on
its control socket with what is on screen; whatever else arrives there is refused and the
agent plays on."""

from __future__ import annotations

import io
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from PIL import Image

from agent.control import socket_path
from tests.support.agent import RunningAgent, running_agent, wait_until
from tests.support.cloud import ROOT, RunningCloud
from tests.support.device import approve, assign, create_playlist, upload

RED = (200, 30, 30)


def screenshot(state_dir: Path, target: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "screenshot", target, "--state-dir", str(state_dir)],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )


def ask(path: Path, request: bytes) -> bytes:
    """Send raw bytes to the control socket; everything it answers."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(15)
        client.connect(str(path))
        client.sendall(request)
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def play_red(agent: RunningAgent, cloud: RunningCloud, tmp_path: Path) -> None:
    image = io.BytesIO()
    Image.new("RGB", (640, 360), RED).save(image, "PNG")
    playlist = create_playlist(
        cloud, [{"asset_id": upload(cloud, "red.png", image.getvalue(), "image/png"),
                 "duration_s": 3600}],
    )  # fmt: skip
    code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
    assign(cloud, approve(cloud, code, "Lobby"), playlist)
    wait_until(lambda: "red.png" in agent.started_names(), 60, "red.png on screen")


def test_a_screenshot_of_the_running_agent_shows_the_item_on_screen(
    cloud: RunningCloud, tmp_path: Path
) -> None:
    state = tmp_path / "agent"
    with running_agent(state, cloud.url) as agent:
        play_red(agent, cloud, tmp_path)
        path = socket_path(state)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        shot = tmp_path / "shot.png"
        result = screenshot(state, str(shot))
        assert result.returncode == 0, result.stderr
        with Image.open(shot) as picture:
            centre = picture.convert("RGB").getpixel((picture.width // 2, picture.height // 2))
        assert all(abs(a - b) <= 24 for a, b in zip(centre, RED, strict=True)), centre
        # hostile requests: each refused in one line, and the agent plays on
        for request in (b"not json\n", b'{"verb": "reboot"}\n', b"[]\n", b"x" * 5000 + b"\n",
                        b'{"verb": "screenshot"'):  # fmt: skip
            answer = ask(path, request)
            assert answer.startswith(b'{"ok": false, "error": ') and answer.count(b"\n") == 1
        assert agent.process.poll() is None
        assert screenshot(state, str(tmp_path / "again.png")).returncode == 0
        assert agent.stop() == 0
    assert not path.exists()  # removed on a clean stop
    result = screenshot(state, str(tmp_path / "none.png"))
    assert result.returncode == 1
    assert (
        result.stderr.decode().strip()
        == f"signage-agent: no agent is running on {state} (no control.sock)"
    )
    assert not (tmp_path / "none.png").exists()
