"""Figures for one agent life: start → code shown → enrolled → first item playing, and its memory.

Runs a real reference cloud and a real agent process (dummy video/audio output) on loopback,
approves the code as soon as it shows, then samples the agent's RSS (VmRSS, and VmHWM, its
peak) every second over a number of playlist loops. Prints figures; asserts nothing.

    .venv/bin/python bench/agent_footprint.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.agent import running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign_playlist, upload  # noqa: E402
from tests.support.media import make_image, make_video  # noqa: E402
from tests.support.proc import rss_mib  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to sample playback")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        media = base / "media"
        media.mkdir()
        video = make_video(media / "clip.mp4", seconds=3.0, size=(640, 360))
        image = make_image(media / "still.png", "still", "#1f6feb", size=(1280, 720))
        with running_cloud(base / "cloud") as cloud:
            video_id = upload(cloud, "clip.mp4", video.read_bytes(), "video/mp4")
            image_id = upload(cloud, "still.png", image.read_bytes(), "image/png")
            t0 = time.monotonic()
            with running_agent(base / "agent", cloud.url, sync_interval=1.0) as agent:
                code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
                t_code = time.monotonic()
                device = approve(cloud, code, "bench")
                items = [{"asset_id": image_id, "duration_s": 2}, {"asset_id": video_id}]
                assign_playlist(cloud, device, items)
                t_approved = time.monotonic()
                wait_until(lambda: agent.started_names(), 60, "the first item")
                t_first = time.monotonic()
                samples = []
                while time.monotonic() - t_first < args.seconds:
                    samples.append(rss_mib(agent.process.pid))
                    time.sleep(1.0)
                items = len(agent.started_names())
                agent.stop()
    rss = [s[0] for s in samples]
    print(f"agent start -> code on screen:      {t_code - t0:6.2f} s")
    waited = t_first - t_approved
    print(f"code approved -> first item playing: {waited:6.2f} s  (enrollment poll interval 1 s)")
    print(f"items played while sampling:         {items}")
    print(
        f"agent RSS while playing:             min {min(rss):.1f} / median "
        f"{statistics.median(rss):.1f} / max {max(rss):.1f} MiB over {len(rss)} samples"
    )
    print(f"agent RSS first vs last sample:      {rss[0]:.1f} -> {rss[-1]:.1f} MiB")
    print(f"agent peak RSS (VmHWM):              {samples[-1][1]:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
