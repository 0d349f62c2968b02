"""Run the real agent (`python -m agent run`) as a subprocess against a test cloud."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from agent.cli import status_of
from agent.store import Store

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class RunningAgent:
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        return status_of(self.state_dir)

    def play_events(self) -> list[dict[str, Any]]:
        store = Store.open_read_only(self.state_dir)
        if store is None or "play_events" not in store.db.table_names():
            return []
        try:
            return store.play_events(limit=100_000)
        finally:
            store.close()

    def started_names(self) -> list[str]:
        return [e["name"] for e in self.play_events() if e["event"] == "started"]

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGUSR1)  # its threads' stacks, to the log
                time.sleep(1)
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"the agent ignored SIGTERM for {timeout} s:\n{self.log()}"
                ) from None
        return self.process.returncode


@contextmanager
def running_agent(
    state_dir: Path,
    cloud_url: str,
    *,
    sync_interval: float = 0.5,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RunningAgent]:
    log_path = state_dir.parent / f"{state_dir.name}.log"
    # as the package's postinst does: the folder exists before the agent first runs, so
    # `status` can read it at once
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {
        **os.environ,
        "SIGNAGE_AGENT_SYNC_INTERVAL": str(sync_interval),
        "SIGNAGE_AGENT_VIDEO_OUTPUT": "dummy",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                "--state-dir",
                str(state_dir),
                "--cloud",
                cloud_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    agent = RunningAgent(process=process, state_dir=state_dir, log_path=log_path)
    try:
        yield agent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
