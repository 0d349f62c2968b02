"""Benchmark: what probing an upload costs the cloud (cloud/probe.py).

Probes a 1920x1080 10 s H.264 MP4 and a 1920x1080 PNG through `Prober.probe`, as the
cloud does for every upload, `--runs` times each, and prints median, min and max, with
the parts the time goes to: starting ffprobe, starting Python with Pillow (the picture's
child process), and the decode the child reports. Asserts nothing.

Usage: python bench/upload_probe.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.probe import Prober  # noqa: E402
from tests.support.media import make_image, make_video  # noqa: E402


def timed(work: Callable[[], object], runs: int) -> str:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        took.append((time.perf_counter() - start) * 1000)
    return f"median {statistics.median(took):.0f} ms (min {min(took):.0f}, max {max(took):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        clip = make_video(base / "clip.mp4", seconds=10, size=(1920, 1080))
        still = make_image(base / "still.png", "1080p", "navy", size=(1920, 1080))
        prober = Prober()
        runs = args.runs
        print("mp4 probe:", timed(
            lambda: prober.probe(clip, media_type="video", content_type="video/mp4"), runs
        ))  # fmt: skip
        print("  ffprobe -version alone:", timed(
            lambda: subprocess.run(["ffprobe", "-version"], capture_output=True, check=False),
            runs,
        ))  # fmt: skip
        print("png probe:", timed(
            lambda: prober.probe(still, media_type="image", content_type="image/png"), runs
        ))  # fmt: skip
        print("  python -I with Pillow imported:", timed(
            lambda: subprocess.run([sys.executable, "-I", "-c", "import PIL.Image"], check=False),
            runs,
        ))  # fmt: skip
        decode = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-I", str(ROOT / "cloud" / "probe.py"), str(still)],
                capture_output=True, text=True, check=False,
            ).stdout  # fmt: skip
            decode.append(json.loads(out)["decode_s"] * 1000)
        print(f"  decoding in the child: median {statistics.median(decode):.0f} ms")


if __name__ == "__main__":
    main()
