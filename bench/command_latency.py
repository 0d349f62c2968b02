"""Benchmark: an admin's command to its stored result, with the screen online.

A real cloud and a real agent process (libvlc's dummy output) on loopback. `--commands`
times: `POST /api/v3/admin/commands` (sync-now by default) then `GET /commands/{id}?wait=30`,
which the cloud answers as soon as the device's final result is stored. Prints p50, p95,
p99 and max of that round trip, in ms. Asserts nothing.

Usage: python bench/command_latency.py [--commands 100] [--kind sync-now]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from tests.support.agent import running_agent, wait_until
from tests.support.cloud import running_cloud
from tests.support.device import upload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--kind", default="sync-now")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_cloud(Path(tmp) / "cloud") as cloud:
        image = Path(tmp) / "still.png"
        Image.new("RGB", (640, 360), (30, 90, 200)).save(image)
        with cloud.admin() as admin, running_agent(Path(tmp) / "agent", cloud.url) as agent:
            asset = upload(cloud, "still.png", image.read_bytes(), "image/png")
            playlist = admin.post(
                "/api/v3/admin/playlists",
                json={"name": "still", "items": [{"asset_id": asset, "duration_s": 3600}]},
            ).json()["id"]
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
            device = admin.post(
                f"/api/v3/admin/enrollments/{code}/approve", json={"name": "bench"}
            ).json()["device_id"]
            admin.put(f"/api/v3/admin/devices/{device}/playlist", json={"playlist_id": playlist})
            wait_until(lambda: agent.status()["now_playing"], 30, "the image on screen")
            took: list[float] = []
            for _ in range(args.commands):
                started = time.perf_counter()
                sent = admin.post(
                    "/api/v3/admin/commands", json={"device_id": device, "kind": args.kind}
                ).json()
                detail = admin.get(
                    f"/api/v3/admin/commands/{sent['id']}", params={"wait": 30}, timeout=40
                ).json()
                took.append((time.perf_counter() - started) * 1000)
                states = {outcome["state"] for outcome in detail["devices"]}
                if states != {"done"}:
                    print(f"command {sent['id']}: {states}")
            agent.stop()
    took.sort()
    print(f"{len(took)} {args.kind} commands, admin send -> result stored, ms:")
    print(
        f"  p50 {statistics.median(took):.0f}   p95 {took[int(len(took) * 0.95) - 1]:.0f}"
        f"   p99 {took[int(len(took) * 0.99) - 1]:.0f}   max {took[-1]:.0f}"
    )


if __name__ == "__main__":
    main()
