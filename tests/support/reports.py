"""What a test cloud holds of a device's reports, and a cloud restarted on its data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from agent.store import Store
from sync.models import DEVICE_PREFIX
from tests.support.cloud import LOG_FILE_NAME, ROOT, RunningCloud, _wait_healthy

PLAYS_PATH = "/api/v3/admin/reports/plays"
SINCE_EVER = "2000-01-01T00:00:00Z"


def reports_supported(cloud: RunningCloud) -> bool:
    """Whether the cloud has `POST /device/events` (an unauthenticated call is refused, not
    unknown)."""
    response = httpx.post(f"{cloud.url}{DEVICE_PREFIX}/events", json={"events": []}, timeout=5)
    return response.status_code not in (404, 405)


def stored_plays(cloud: RunningCloud, device_id: str) -> list[dict[str, Any]]:
    """Every play the cloud stored for `device_id`, through the admin API's pages."""
    plays: list[dict[str, Any]] = []
    params: dict[str, Any] = {"device_id": device_id, "since": SINCE_EVER}
    with cloud.admin() as admin:
        while True:
            response = admin.get(PLAYS_PATH, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            plays += page["plays"]
            if not page["next"]:
                return plays
            params["after"] = page["next"]


def recorded_plays(state_dir: Path) -> list[dict[str, Any]]:
    """Every play event the agent wrote to its outbox, as its local play log keeps them (an
    "ended" or "failed" row is written in the same transaction as each)."""
    store = Store.open_read_only(state_dir)
    assert store is not None
    try:
        return [
            e
            for e in store.play_events(limit=1_000_000)
            if e["event"] in ("ended", "failed", "skipped")
        ]
    finally:
        store.close()


def key_of(sha256: str, ended_at: str) -> tuple[str, datetime]:
    """How a play of the agent's log and one the cloud stored are matched."""
    return sha256, datetime.fromisoformat(ended_at)


@contextmanager
def cloud_serving_again(cloud: RunningCloud) -> Iterator[subprocess.Popen[bytes]]:
    """The stopped `cloud` served again on its address and data folder (same tenant, same
    devices, same keys), stopped on exit."""
    port = cloud.url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "cloud", "serve", "--host", "127.0.0.1", "--port", port,
               "--data", str(cloud.data_dir)]  # fmt: skip
    env = {
        **os.environ,
        "SIGNAGE_CLOUD_POLL_INTERVAL": "1",
        "SIGNAGE_CLOUD_ACCESS_TOKEN_TTL": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    with (cloud.data_dir / LOG_FILE_NAME).open("ab") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    cloud.process = process  # so that cloud.stop() stops this one
    try:
        _wait_healthy(cloud, process)
        yield process
    finally:
        cloud.stop()


__all__ = [
    "cloud_serving_again",
    "key_of",
    "recorded_plays",
    "reports_supported",
    "stored_plays",
]
