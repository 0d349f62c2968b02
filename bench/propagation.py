"""How long an admin's change takes to reach the screen: assignment → new item playing.

A real cloud and a real agent (dummy output) on loopback. The agent plays playlist A (one
image); the admin assigns playlist B (another image), then A again, and so on; each time the
script measures from the moment the admin API answered until the agent's play log shows the
other image starting. Both images are downloaded before the timing starts, so the figure is
sync + switch, not download. Run once with long-poll and once with plain polling (the
agent's default 10 s interval) to compare. Prints figures; asserts nothing.

    .venv/bin/python bench/propagation.py [--changes 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign, create_playlist, upload  # noqa: E402
from tests.support.media import make_image  # noqa: E402


def measure(base: Path, changes: int, long_poll_s: int) -> list[float]:
    media = base / "media"
    media.mkdir(parents=True)
    a = make_image(media / "a.png", "A", "#1f6feb")
    b = make_image(media / "b.png", "B", "#2da44e")
    os.environ["SIGNAGE_AGENT_LONG_POLL"] = str(long_poll_s)
    latencies = []
    with running_cloud(base / "cloud") as cloud:
        asset_a = upload(cloud, "a.png", a.read_bytes(), "image/png")
        asset_b = upload(cloud, "b.png", b.read_bytes(), "image/png")
        playlists = {
            "a.png": create_playlist(cloud, [{"asset_id": asset_a, "duration_s": 30}], name="A"),
            "b.png": create_playlist(cloud, [{"asset_id": asset_b, "duration_s": 30}], name="B"),
        }
        # the agent's default polling interval, so that the no-long-poll run shows the default
        with running_agent(base / "agent", cloud.url, sync_interval=10.0) as agent:
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
            device = approve(cloud, code)
            # download both images first: the figure is about sync, not download
            both = create_playlist(
                cloud,
                [{"asset_id": asset_a, "duration_s": 1}, {"asset_id": asset_b, "duration_s": 1}],
                name="both",
            )
            assign(cloud, device, both)
            wait_until(lambda: len(agent.started_names()) >= 2, 60, "both images")
            # then settle on A alone, so that B appears only through the next change
            assign(cloud, device, playlists["a.png"])
            wait_until(lambda: agent.status()["playlist"] == "A", 60, "playlist A")
            wait_until(lambda: agent.started_names()[-1] == "a.png", 60, "a.png alone")
            current = "a.png"
            for _ in range(changes):
                target = "b.png" if current == "a.png" else "a.png"
                count = len(agent.started_names())
                assign(cloud, device, playlists[target])
                assigned = time.monotonic()
                wait_until(
                    lambda c=count, t=target: t in agent.started_names()[c:],
                    60,
                    "the new playlist",
                    interval=0.01,
                )
                latencies.append(time.monotonic() - assigned)
                current = target
            agent.stop()
    return latencies


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1000:7.0f} ms, p95 {p95 * 1000:7.0f} ms, "
        f"max {ordered[-1] * 1000:7.0f} ms over {len(ordered)} changes"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with_long_poll = measure(Path(tmp) / "long", args.changes, long_poll_s=30)
        without = measure(Path(tmp) / "plain", max(3, args.changes // 3), long_poll_s=0)
    print(f"assignment -> new item playing, long-poll:            {summary(with_long_poll)}")
    print(f"assignment -> new item playing, polling every 10 s:   {summary(without)}")
    ratio = statistics.median(without) / statistics.median(with_long_poll)
    print(f"plain polling is {ratio:.0f}x slower at the median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
