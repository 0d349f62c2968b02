"""How long an admin's rotation or volume setting takes to reach the screen.

A real cloud and a real agent (dummy output) on loopback, one picture playing. The admin
sets the device's volume (20, 40, 20, ...) and rotation (90, 0, ...) with
`PATCH /devices/{id}/settings`; the script measures from the moment the admin API answered
until the agent's store says the setting was applied (`meta` `volume_setting`, written
right after the renderer took both, agent.screen_settings). Run with long-poll (the
default) and with plain polling every 10 s to compare. Prints figures; asserts nothing.

    .venv/bin/python bench/screen_settings.py [--changes 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.store import Meta, Store  # noqa: E402
from bench.propagation import summary  # noqa: E402
from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign, create_playlist, upload  # noqa: E402
from tests.support.media import make_image  # noqa: E402


def applied_setting(state_dir: Path) -> str | None:
    store = Store.open_read_only(state_dir)
    if store is None:
        return None
    try:
        return store.get(Meta.VOLUME_SETTING)
    finally:
        store.close()


def measure(base: Path, changes: int, long_poll_s: int) -> list[float]:
    picture = make_image(base / "a.png", "A", "#1f6feb")
    os.environ["SIGNAGE_AGENT_LONG_POLL"] = str(long_poll_s)
    latencies = []
    with running_cloud(base / "cloud") as cloud:
        asset = upload(cloud, "a.png", picture.read_bytes(), "image/png")
        playlist = create_playlist(cloud, [{"asset_id": asset, "duration_s": 30}], name="A")
        with running_agent(base / "agent", cloud.url, sync_interval=10.0) as agent:
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
            device = approve(cloud, code)
            assign(cloud, device, playlist)
            wait_until(lambda: agent.started_names(), 60, "the picture on screen")
            for change in range(changes):
                volume = 20 if change % 2 == 0 else 40
                rotation = 90 if change % 2 == 0 else 0
                with cloud.admin() as admin:
                    response = admin.patch(
                        f"/api/v3/admin/devices/{device}/settings",
                        json={"volume": volume, "rotation": rotation},
                    )
                    assert response.status_code == 200, response.text
                set_at = time.monotonic()
                wait_until(
                    lambda v=str(volume): applied_setting(agent.state_dir) == v,
                    60,
                    "the setting applied",
                    interval=0.005,
                )
                latencies.append(time.monotonic() - set_at)
            agent.stop()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with_long_poll = measure(Path(tmp) / "long", args.changes, long_poll_s=30)
        (Path(tmp) / "plain").mkdir()
        without = measure(Path(tmp) / "plain", max(3, args.changes // 4), long_poll_s=0)
    print(f"setting -> applied on the device, long-poll:          {summary(with_long_poll)}")
    print(f"setting -> applied on the device, polling every 10 s: {summary(without)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
