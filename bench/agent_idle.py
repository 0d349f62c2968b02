"""Benchmark: where the whole agent's wake-ups go while one still picture is on screen.

Runs the real cloud and the real agent (libvlc's dummy output, or with `--window` the
window output on a private Xvfb at 1920x1080 with no window manager; long-poll on) on
loopback, shows one 1920x1080 PNG, waits `--settle` s, then counts each thread's context switches
(voluntary and not: each is a wake-up) for `--seconds` from /proc/PID/task/*/status, and
prints them per second, busiest thread first, with the agent's CPU share and RSS.
Threads have no names (libvlc does not set them); `gdb -p PID -batch -ex "thread apply
all bt"` tells them apart. Asserts nothing.

Usage: python bench/agent_idle.py [--seconds 60] [--settle 10] [--window]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from tests.player.xvfb import running_xvfb
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import running_cloud
from tests.support.device import approve, assign, create_playlist, upload


def switches(pid: int) -> dict[int, int]:
    """thread id -> context switches so far."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        total = 0
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
        found[int(task.name)] = total
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--window", action="store_true", help="the window output on Xvfb")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        output = {"SIGNAGE_AGENT_VIDEO_OUTPUT": "dummy"}
        if args.window:
            xvfb = stack.enter_context(running_xvfb())
            output = {"SIGNAGE_AGENT_VIDEO_OUTPUT": "window", "DISPLAY": xvfb.display}
        measure(args.seconds, args.settle, output)


def measure(seconds: float, settle: float, output: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with running_cloud(root / "cloud") as cloud:
            picture = io.BytesIO()
            Image.new("RGB", (1920, 1080), (200, 30, 30)).save(picture, "PNG")
            asset = upload(cloud, "red.png", picture.getvalue(), "image/png")
            playlist = create_playlist(cloud, [{"asset_id": asset, "duration_s": 3600}])
            quiet = {
                "SIGNAGE_AGENT_LONG_POLL": "30",
                "SIGNAGE_AGENT_SYNC_INTERVAL": "30",
                **output,
            }
            with running_agent(root / "agent", cloud.url, extra_env=quiet) as agent:
                code = wait_until(lambda: agent.status()["enrollment_code"], 30, "a code")
                assign(cloud, approve(cloud, code, "Bench"), playlist)
                wait_until(lambda: "red.png" in agent.started_names(), 60, "the picture")
                time.sleep(settle)
                pid = agent.process.pid
                before, ticks, start = switches(pid), cpu_ticks(pid), time.monotonic()
                time.sleep(seconds)
                after, elapsed = switches(pid), time.monotonic() - start
                cpu = (cpu_ticks(pid) - ticks) / os.sysconf("SC_CLK_TCK") / elapsed
                rates = sorted(
                    ((n - before.get(tid, 0)) / elapsed, tid) for tid, n in after.items()
                )[::-1]
                where = output["SIGNAGE_AGENT_VIDEO_OUTPUT"]
                print(f"one still picture, {where} output, {seconds:.0f} s, agent pid {pid}:")
                print(f"  wake-ups: {sum(rate for rate, _ in rates):.1f}/s in all")
                for rate, tid in rates:
                    if rate >= 0.05:
                        role = " (main: the event loop)" if tid == pid else ""
                        print(f"    thread {tid}: {rate:.2f}/s{role}")
                print(f"  CPU: {cpu * 100:.2f}% of a core; RSS {rss_kib(pid) / 1024:.1f} MiB")
                agent.stop()


if __name__ == "__main__":
    main()
