"""Benchmark: the agent's memory over many switches of full-HD pictures and video.

Runs a real reference cloud and real agent processes (dummy video/audio output) on loopback,
each playing a playlist of a 1920x1080 picture (1 s) and a 1920x1080 25 fps H.264 clip
(1 s): one switch a second. Every 0.25 s it samples each agent's resident memory (VmRSS)
and how many items it has started (its play log). Prints, per agent, the median and peak
resident memory, and the growth from switch 10 to the last switch: the median of the
samples taken during switches 10-29 against the median of those during the last 20
(both windows hold as many pictures as videos). Asserts nothing.

By default two agents run side by side, so they compare in one run on one machine:
- `bounded`: the agent as it is (agent.memory.bound_heap fixes glibc's mmap threshold);
- `glibc-raised`: the same agent started with MALLOC_MMAP_THRESHOLD_ at glibc's maximum
  (32 MiB), which `bound_heap` leaves alone: picture pools then come from the heap, as they
  did once glibc had raised its threshold to the size of the first freed picture.
`window` (not by default): the agent as it is in the window output of a private Xvfb.

    .venv/bin/python bench/agent_memory.py [--switches 1000] [--modes bounded,glibc-raised,window]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.player.xvfb import running_xvfb  # noqa: E402
from tests.support.agent import RunningAgent, running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign_playlist, upload  # noqa: E402
from tests.support.media import make_image, make_video  # noqa: E402
from tests.support.proc import rss_mib  # noqa: E402

MODES: dict[str, dict[str, str]] = {
    "bounded": {},
    "glibc-raised": {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024)},
    # the agent as it is, in the window output of its own Xvfb (1920x1080, no window
    # manager): pictures drawn by the renderer, videos by libvlc's gl output
    "window": {"SIGNAGE_AGENT_VIDEO_OUTPUT": "window"},
}
SAMPLE_S = 0.25
WINDOW = 20  # switches per window compared for growth
FIRST = 10  # the "from switch 10"


@dataclass
class Run:
    mode: str
    agent: RunningAgent
    samples: list[tuple[int, float]] = field(default_factory=list)  # (switches, RSS MiB)
    peak_mib: float = 0.0
    started_at: float = 0.0

    def switches(self) -> int:
        return sum(1 for e in self.agent.play_events() if e["event"] == "started")


def window_median(samples: list[tuple[int, float]], first: int, last: int) -> float | None:
    values = [rss for switches, rss in samples if first <= switches <= last]
    return statistics.median(values) if values else None


def report(run: Run, elapsed_s: float) -> None:
    reached = run.samples[-1][0] if run.samples else 0
    rss = [value for _, value in run.samples]
    start = window_median(run.samples, FIRST, FIRST + WINDOW - 1)
    end = window_median(run.samples, reached - WINDOW + 1, reached)
    print(f"{run.mode}: {reached} switches in {elapsed_s:.0f} s, {len(rss)} samples")
    print(
        f"  resident memory: median {statistics.median(rss):.1f} MiB, "
        f"peak {max(rss):.1f} MiB (VmHWM {run.peak_mib:.1f} MiB)"
    )
    if start is not None and end is not None:
        print(
            f"  switches {FIRST}-{FIRST + WINDOW - 1}: median {start:.1f} MiB; last {WINDOW}: "
            f"median {end:.1f} MiB; growth {end - start:+.1f} MiB"
        )
    step = max(WINDOW, reached // 10)
    series = [
        f"{first}: {median:.0f}"
        for first in range(0, reached, step)
        if (median := window_median(run.samples, first, first + step - 1)) is not None
    ]
    print(f"  median MiB from switch: {', '.join(series)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=1000, help="switches per agent")
    parser.add_argument("--modes", default="bounded,glibc-raised", help="comma-separated")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        media = base / "media"
        video = make_video(media / "clip.mp4", seconds=1.0, size=(1920, 1080))
        picture = make_image(media / "still.png", "still", "#1f6feb", size=(1920, 1080))
        with running_cloud(base / "cloud") as cloud:
            video_id = upload(cloud, "clip.mp4", video.read_bytes(), "video/mp4")
            picture_id = upload(cloud, "still.png", picture.read_bytes(), "image/png")
            items = [{"asset_id": picture_id, "duration_s": 1}, {"asset_id": video_id}]
            runs: list[Run] = []
            ended: dict[str, float] = {}
            with ExitStack() as stack:
                for mode in modes:
                    env = dict(MODES[mode])
                    if mode == "window":
                        env["DISPLAY"] = stack.enter_context(running_xvfb()).display
                    agent = stack.enter_context(
                        running_agent(base / mode, cloud.url, sync_interval=1.0, extra_env=env)
                    )
                    stack.callback(agent.stop)  # SIGTERM first; the context kills if need be
                    runs.append(Run(mode=mode, agent=agent))
                    code = wait_until(lambda a=agent: a.status()["enrollment_code"], 30, "a code")
                    assign_playlist(cloud, approve(cloud, code, mode), items)
                for run in runs:
                    wait_until(run.switches, 60, f"{run.mode}'s first item")
                    run.started_at = time.monotonic()
                active = list(runs)
                while active:
                    for run in list(active):
                        rss, hwm = rss_mib(run.agent.process.pid)
                        count = run.switches()
                        run.samples.append((count, rss))
                        run.peak_mib = hwm
                        if count >= args.switches:
                            ended[run.mode] = time.monotonic() - run.started_at
                            active.remove(run)
                    time.sleep(SAMPLE_S)
    for run in runs:
        report(run, ended.get(run.mode, 0.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
