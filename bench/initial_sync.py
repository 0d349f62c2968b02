"""A big tenant's first sync: metadata wall time, blob download time, peak memory.

A real cloud on loopback with a tenant of `--assets` small assets and `--playlists`
playlists, one of which (every asset, in order) is assigned to the screen. The screen is
enrolled by a real agent, stopped, its cursor dropped, then `signage-agent sync --once`
fetches the full listing and every blob: the script times the metadata part (until the
"state up to date" line) and the downloads, and reads the process's peak RSS. Prints
figures; asserts nothing.

    .venv/bin/python bench/initial_sync.py [--assets 10000] [--playlists 500]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve  # noqa: E402

ADMIN = "/api/v3/admin"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--playlists", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with running_cloud(base / "cloud") as cloud:
            started = time.monotonic()
            with httpx.Client(
                base_url=cloud.url,
                timeout=60,
                headers={"Authorization": f"Bearer {cloud.admin_key}"},
            ) as admin:
                ids = []
                for n in range(args.assets):
                    body = os.urandom(200) + n.to_bytes(4, "big")  # distinct small blobs
                    answer = admin.post(
                        f"{ADMIN}/assets",
                        params={"name": f"{n}.png"},
                        content=body,
                        headers={"Content-Type": "image/png"},
                    )
                    answer.raise_for_status()
                    ids.append(answer.json()["id"])
                for n in range(args.playlists - 1):
                    items = [
                        {"asset_id": ids[(n * 7 + k) % len(ids)], "duration_s": 5} for k in range(3)
                    ]
                    admin.post(f"{ADMIN}/playlists", json={"name": f"p{n}", "items": items})
                big = admin.post(
                    f"{ADMIN}/playlists",
                    json={"name": "all", "items": [{"asset_id": a, "duration_s": 5} for a in ids]},
                )
                big.raise_for_status()
            print(
                f"tenant built in {time.monotonic() - started:.0f} s: {args.assets} assets, "
                f"{args.playlists} playlists"
            )

            state = base / "agent"
            with running_agent(state, cloud.url) as agent:
                code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
                device = approve(cloud, code)
                wait_until(lambda: agent.status()["cursor"], 30, "the first sync")
                agent.stop()
            with httpx.Client(
                base_url=cloud.url,
                timeout=60,
                headers={"Authorization": f"Bearer {cloud.admin_key}"},
            ) as admin:
                admin.put(
                    f"{ADMIN}/devices/{device}/playlist", json={"playlist_id": big.json()["id"]}
                ).raise_for_status()
            db = sqlite3.connect(state / "agent.db")
            db.execute("DELETE FROM meta WHERE key = 'cursor'")  # a first sync: a full listing
            db.commit()
            db.close()

            t0 = time.monotonic()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent",
                    "sync",
                    "--once",
                    "--state-dir",
                    str(state),
                    "--cloud",
                    cloud.url,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            metadata_s = None
            for line in process.stdout:
                if line.startswith("state up to date") and metadata_s is None:
                    metadata_s = time.monotonic() - t0
                    print(f"  {line.strip()}")
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the agent's
            process.returncode = os.waitstatus_to_exitcode(status)
            total_s = time.monotonic() - t0
            peak = usage.ru_maxrss
            blobs = len(list((state / "content").iterdir()))
            print(f"full listing of {args.assets} items applied: {metadata_s:.2f} s")
            print(
                f"{blobs} blobs downloaded: {total_s - (metadata_s or 0):.1f} s "
                f"(exit {process.returncode})"
            )
            print(f"peak RSS of `signage-agent sync --once`: {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
