"""An admin's change reaching a fleet: 200 changes, 20 devices, one cloud on loopback.

Each device is the real device side without a screen: `sync.client.DeviceClient` with its
own key and tokens, long-polling, and the agent's `Store` applying each page to its own
SQLite file. All play the same playlist; the admin renames one of its assets 200 times.
For each change and device: admin API answered → the device committed a page carrying the
new name. Prints p50, p99 and max; asserts nothing.

    .venv/bin/python bench/fleet_propagation.py [--devices 20] [--changes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.store import Store  # noqa: E402
from sync.client import DeviceClient  # noqa: E402
from tests.cloud.screen import PNG_1X1  # noqa: E402
from tests.support.cloud import RunningCloud, running_cloud  # noqa: E402
from tests.support.device import assign, create_playlist, enroll, upload  # noqa: E402

ADMIN = "/api/v3/admin"


class Device:
    def __init__(self, client: DeviceClient, store: Store) -> None:
        self.client, self.store = client, store
        self.seen: dict[str, float] = {}  # asset name -> when the page carrying it committed

    async def follow(self) -> None:
        cursor = None
        while True:
            page = await self.client.get_state(cursor, wait_s=30 if cursor else 0)
            if page is None:
                continue
            self.store.apply_page(page, starts_listing=cursor is None)
            committed = time.perf_counter()
            cursor = page.cursor
            for change in page.changes:
                name = getattr(change.object, "name", None)
                if change.kind == "asset" and name is not None:
                    self.seen.setdefault(name, committed)


async def run(cloud: RunningCloud, base: Path, devices: int, changes: int) -> list[float]:
    asset = upload(cloud, "a.png", PNG_1X1, "image/png")
    playlist = create_playlist(cloud, [{"asset_id": asset, "duration_s": 5}])
    limits = httpx.Limits(max_connections=devices * 2, max_keepalive_connections=devices * 2)
    async with (
        httpx.AsyncClient(timeout=60, limits=limits) as http,
        httpx.AsyncClient(
            base_url=cloud.url, headers={"Authorization": f"Bearer {cloud.admin_key}"}, timeout=60
        ) as admin,
    ):
        fleet = []
        for n in range(devices):
            client = await enroll(cloud, http, name=f"screen {n}")
            assert client.tokens is not None
            assign(cloud, client.tokens.device_id, playlist)
            fleet.append(Device(client, Store.open(base / f"device-{n}")))
        tasks = [asyncio.create_task(d.follow()) for d in fleet]
        await asyncio.sleep(1.0)  # every device holds a long-poll
        latencies = []
        for n in range(changes):
            name = f"v{n}"
            answer = await admin.patch(f"{ADMIN}/assets/{asset}", json={"name": name})
            answer.raise_for_status()
            answered = time.perf_counter()
            deadline = answered + 30
            while not all(name in d.seen for d in fleet) and time.perf_counter() < deadline:  # noqa: ASYNC110 (polls devices, a bench)
                await asyncio.sleep(0.002)
            latencies += [max(0.0, d.seen[name] - answered) for d in fleet if name in d.seen]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for d in fleet:
            d.store.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_cloud(Path(tmp) / "cloud") as cloud:
        latencies = asyncio.run(run(cloud, Path(tmp), args.devices, args.changes))
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(
        f"{len(ordered)} deliveries ({args.changes} changes x {args.devices} devices): "
        f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms (admin API answered -> page committed on the device)"
    )
    expected = args.changes * args.devices
    if len(ordered) < expected:
        print(f"{expected - len(ordered)} deliveries did not arrive within 30 s")


if __name__ == "__main__":
    main()
