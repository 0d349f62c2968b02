"""Benchmark: what one still image costs while it stays on screen.

Shows one 1920x1080 picture through the real `VlcRenderer` (libvlc's dummy output, so
it runs headless) for `--seconds`, after a short settling time, and prints the process's
CPU (share of one core), context switches per second (all threads, voluntary and not:
each is a wake-up) and RSS median and peak. Asserts nothing.

`--window` uses the window output on a private Xvfb (tests/player/xvfb.py) instead, and
`--held drawn,stopped,paused` measures each way of holding the picture there, each in a
fresh process, in the order given: `drawn` is the renderer's default (the renderer draws
the picture into its window, the player never starts: player/stills.py), `stopped` what
it did before session 8 (libvlc draws it, then the player is stopped and the window keeps
the picture), `paused` what it did before session 6 (the player paused, its output
alive). `--trim` gives freed heap back once after settling, as the daemon does 5 s after
an item starts (agent/memory.py).

Usage: python bench/still_image.py [--seconds 60] [--trim] [--window [--held drawn,stopped]]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.memory import trim_heap
from player import PlayableItem, VlcRenderer, choose_video_output
from tests.player.xvfb import running_xvfb
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


async def main(seconds: float, window: bool, held: str, trim: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="still-") as name:
        folder = Path(name)
        picture = make_image(folder / "still.png", "STILL", "navy", size=(1920, 1080))
        kind = "window" if window else "dummy"
        output = choose_video_output(kind, environ=os.environ, snd_dir=Path("/nonexistent"))
        renderer = VlcRenderer(video_output=output, messages_dir=folder / "messages")
        if held != "drawn":
            renderer._draws_stills = False  # libvlc draws the picture, as before session 8
        await renderer.start(lambda event: None)
        if held == "paused":
            renderer._stop_held = False  # what the renderer did before: pause the player
        renderer.play(PlayableItem("still", "still.png", "a" * 64, "image", picture, 3_600_000))
        await asyncio.sleep(3)  # open, show, pause
        if trim:
            trim_heap()
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
    where = f"window output on Xvfb, player {held}" if window else "dummy output"
    where += ", heap trimmed once" if trim else ""
    print(f"still_image: one 1920x1080 PNG held {elapsed:.0f} s ({where})")
    print(f"  CPU {cpu:.2f}% of a core, {switches:.1f} context switches/s (whole process)")
    print(f"  RSS median {statistics.median(rss):.1f} MiB, peak {max(rss):.1f} MiB")


def run_window(seconds: float, holds: list[str], trim: bool) -> None:
    """Each way of holding the picture in a fresh process, on one private Xvfb."""
    with running_xvfb() as xvfb:
        environ = {**os.environ, "DISPLAY": xvfb.display}
        environ.pop("WAYLAND_DISPLAY", None)
        for held in holds:
            command = [sys.executable, __file__, "--seconds", str(seconds), "--one", held]
            command += ["--trim"] if trim else []
            subprocess.run(command, env=environ, check=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--window", action="store_true", help="window output on Xvfb")
    parser.add_argument("--held", default="drawn", help="with --window: drawn,stopped,paused")
    parser.add_argument("--trim", action="store_true", help="malloc_trim once after settling")
    parser.add_argument("--one", choices=("drawn", "paused", "stopped"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.one is not None:  # one measurement, in the window run's Xvfb
        asyncio.run(main(arguments.seconds, True, arguments.one, arguments.trim))
    elif arguments.window:
        run_window(arguments.seconds, arguments.held.split(","), arguments.trim)
    else:
        asyncio.run(main(arguments.seconds, False, "paused", arguments.trim))
