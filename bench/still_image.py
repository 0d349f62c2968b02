"""Benchmark: what one still image costs while it stays on screen.

Shows one 1920x1080 picture through the real `VlcRenderer` (libvlc's dummy output, so
it runs headless) for `--seconds`, after a short settling time, and prints the process's
CPU (share of one core), context switches per second (all threads, voluntary and not:
each is a wake-up) and RSS median and peak. Asserts nothing.

Usage: python bench/still_image.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from player import PlayableItem, VlcRenderer, choose_video_output
from tests.support.media import make_image


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def context_switches() -> int:
    total = 0
    for status in Path("/proc/self/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
        except OSError:
            continue  # a thread that ended meanwhile
    return total


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="still-") as name:
        folder = Path(name)
        picture = make_image(folder / "still.png", "STILL", "navy", size=(1920, 1080))
        output = choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))
        renderer = VlcRenderer(video_output=output, messages_dir=folder / "messages")
        await renderer.start(lambda event: None)
        renderer.play(PlayableItem("still", "still.png", "a" * 64, "image", picture, 3_600_000))
        await asyncio.sleep(3)  # open, show, pause
        rss: list[float] = []
        cpu0, switches0, began = cpu_seconds(), context_switches(), time.monotonic()
        while time.monotonic() - began < seconds:
            await asyncio.sleep(1)
            rss.append(rss_mib())
        elapsed = time.monotonic() - began
        cpu = (cpu_seconds() - cpu0) / elapsed * 100
        # The sampling itself (one wake-up a second, a /proc read) is included.
        switches = (context_switches() - switches0) / elapsed
        await renderer.close()
    print(f"still_image: one 1920x1080 PNG held {elapsed:.0f} s (dummy output)")
    print(f"  CPU {cpu:.2f}% of a core, {switches:.1f} context switches/s (whole process)")
    print(f"  RSS median {statistics.median(rss):.1f} MiB, peak {max(rss):.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    asyncio.run(main(parser.parse_args().seconds))
