"""Benchmark: what the screen shows while the agent restarts (X11 window output).

A private Xvfb at 1920x1080 with no window manager, a real reference cloud on loopback and
one real agent (window output) playing one 1920x1080 picture. The agent is ended and
started again `--restarts` times per way of ending it: `kill` (SIGKILL, as a crash or the
watchdog) and `stop` (SIGTERM, as `systemctl restart`). A separate thread reads the middle
of Xvfb's screen every 0.5 ms from the end of the old agent until the new one has started
its picture (its play log) and one more second. Prints, per way, the median and max of:
the time from the end to the new agent's picture starting, and how long the screen was
black in that time. Asserts nothing.

    .venv/bin/python bench/restart_screen.py [--restarts 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.player.xvfb import Framebuffer, running_xvfb  # noqa: E402
from tests.support.agent import RunningAgent, running_agent, wait_until  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import approve, assign_playlist, upload  # noqa: E402
from tests.support.media import make_image  # noqa: E402

MIDDLE = (960, 540)


def black_ms(framebuffer: Framebuffer, stop: threading.Event, result: list[float]) -> None:
    """Adds up, until `stop`, the time the middle of the screen is black."""
    black = 0.0
    last = time.monotonic()
    while True:
        ending = stop.is_set()
        now = time.monotonic()
        if max(framebuffer.pixel(*MIDDLE)) < 16:
            black += now - last
        last = now
        if ending:
            result.append(black * 1000)
            return
        time.sleep(0.0005)


def started(agent_dir: Path) -> int:
    log = agent_dir / "unused.log"
    events = RunningAgent(None, agent_dir, log).play_events()  # type: ignore[arg-type]
    return sum(1 for e in events if e["event"] == "started")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5, help="restarts per way of ending")
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"kill": [], "stop": []}
    with tempfile.TemporaryDirectory() as tmp, running_xvfb() as xvfb:
        base = Path(tmp)
        picture = make_image(base / "still.png", "", (200, 0, 0), size=(1920, 1080))
        env = {"SIGNAGE_AGENT_VIDEO_OUTPUT": "window", "DISPLAY": xvfb.display}
        state = base / "agent"
        with running_cloud(base / "cloud") as cloud:
            picture_id = upload(cloud, "still.png", picture.read_bytes(), "image/png")
            opened = running_agent(state, cloud.url, sync_interval=1.0, extra_env=env)
            agent = opened.__enter__()
            try:
                code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
                items = [{"asset_id": picture_id, "duration_s": 600}]
                assign_playlist(cloud, approve(cloud, code), items)
                wait_until(lambda: started(state), 60, "the picture")
                for way in [w for _ in range(args.restarts) for w in ("kill", "stop")]:
                    time.sleep(1.0)
                    before = started(state)
                    stop, result = threading.Event(), []
                    sampler = threading.Thread(
                        target=black_ms, args=(xvfb.framebuffer, stop, result), daemon=True
                    )
                    sampler.start()
                    ended_at = time.monotonic()
                    if way == "kill":
                        agent.process.kill()
                        agent.process.wait()
                    else:
                        agent.stop()
                    opened.__exit__(None, None, None)
                    opened = running_agent(state, cloud.url, sync_interval=1.0, extra_env=env)
                    agent = opened.__enter__()
                    wait_until(lambda: started(state) > before, 60, "the new picture", 0.01)  # noqa: B023
                    shown_s = time.monotonic() - ended_at
                    time.sleep(1.0)
                    stop.set()
                    sampler.join(5)
                    figures[way].append((shown_s, result[0]))
                    print(f"{way}: picture started after {shown_s:.2f} s, black {result[0]:.0f} ms")
            finally:
                agent.stop()
                opened.__exit__(None, None, None)
    print()
    for way, rows in figures.items():
        if not rows:
            continue
        shown = [s for s, _ in rows]
        black = [b for _, b in rows]
        print(
            f"{way:4}: new picture started after median {statistics.median(shown):.2f} s "
            f"(max {max(shown):.2f}); screen black median {statistics.median(black):.0f} ms "
            f"(max {max(black):.0f}) of {len(rows)} restarts"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
