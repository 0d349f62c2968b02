"""Benchmark: the gap a viewer sees between two items, measured on the screen itself.

Runs a private Xvfb at 1920x1080 with no window manager and plays, through the real
`Player` and `VlcRenderer` (window output), a loop of two 25 fps clips and two images,
so every loop makes one switch of each kind: video->video, video->image, image->image,
image->video. Every frame of the clips carries its number (grey level of the left half)
and its clip (colour of the right half); the images are plain colours. A separate
process reads two pixels of Xvfb's framebuffer every ~0.5 ms and notes when they change,
which is what a viewer would see, after window stacking and scaling.

Per switch kind it prints:
- after a video: last frame of the clip appearing -> first picture of the next item
  (one frame interval, 40 ms, is the least possible: the last frame is shown for its
  time);
- after an image: the image's planned end -> first picture of the next item;
- dropped first frames (a clip's first frame never seen), last frames never seen, and
  switches where black showed in between.

Modes, compared in one run on one machine: `single` (one player, the default: pictures
are drawn into the window by the renderer, and a video after an image is opened under the
image, its start-up time before the image ends), `single-vlc-stills` (the same with
pictures drawn by libvlc, as before session 8),
`single-late` (one player, every item opened when the previous one ends, as before
session 7) and `double` (`double_buffer=True`: two players, the next item prepared behind
the screen). Asserts nothing.

Usage: python bench/switch_gap.py [--loops 200] [--modes double,single,single-late]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from player import Ending, PlayableItem, Player, VlcRenderer, choose_video_output
from tests.player.xvfb import running_xvfb
from tests.support.media import make_image

MODES = {
    "double": "double-buffered (two players, prepared)",
    "single": "one player, a video after an image opened under it",
    "single-late": "one player, each item opened at the previous one's end",
    "single-vlc-stills": "one player, pictures drawn by libvlc (before session 8)",
}
FPS = 25
FRAMES = 10  # 0.4 s clips
IMAGE_MS = 300
LEFT, RIGHT, ROW = (600, 540), (1320, 540), 540
CLIPS = {"G": (0, 200, 0), "B": (0, 0, 200)}
IMAGES = {"R": (200, 0, 0), "Y": (200, 200, 0)}
# libvlc's output in the window: the renderer's own choice, or forced (later options
# override earlier ones; `--vout` cannot choose, set_xwindow resets it).
VOUTS: dict[str, tuple[str, ...]] = {
    "default": (),
    "gl": ("--gl=any", "--gles2=any"),  # OpenGL (Mesa's software renderer here)
    "x11": ("--gl=none", "--gles2=none"),  # XVideo if offered, else X11 shared memory
    # the renderer's choice with software decoding only: libavcodec tries no VA-API or
    # VDPAU first (each try reopens the video output)
    "default-sw": ("--avcodec-hw=none",),
    # the renderer's choice, libvlc told to show late pictures rather than drop them
    # (session 9: no difference measured; not adopted)
    "default-nodrop": ("--no-drop-late-frames", "--no-skip-frames"),
}

SAMPLER = r"""
import json, mmap, struct, sys, time, select
path, lx, rx, row = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
f = open(path, "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
h = struct.unpack(">25I", m[:100]); off = h[0] + 12 * h[19]; stride = h[12]
def px(x):
    s = off + row * stride + 4 * x
    b, g, r = m[s:s + 3]
    return (r, g, b)
out, last = [], None
while True:
    now = px(lx), px(rx)
    if now != last:
        out.append((time.monotonic(), now)); last = now
    if select.select([sys.stdin], [], [], 0.0005)[0]:
        break
json.dump(out, sys.stdout)
"""


def make_clip(path: Path, colour: tuple[int, int, int]) -> Path:
    r, g, b = colour
    expression = ":".join(
        f"{channel}='if(lt(X,W/2),20+20*N,{value})'"
        for channel, value in (("r", r), ("g", g), ("b", b))
    )
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
        "-i", f"color=c=black:s=320x240:r={FPS}:d={FRAMES / FPS}",
        "-vf", f"format=rgb24,geq={expression}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def near(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def classify(left: tuple[int, int, int], right: tuple[int, int, int]) -> tuple[str, int] | None:
    """("G", frame) for a clip frame, ("R", 0) for an image, ("black", 0), or None."""
    if max(left) < 12 and max(right) < 12:
        return ("black", 0)
    for name, colour in IMAGES.items():
        if near(left, colour) and near(right, colour):
            return (name, 0)
    grey = abs(left[0] - left[1]) < 15 and abs(left[1] - left[2]) < 15
    if grey:
        for name, colour in CLIPS.items():
            if near(right, colour):
                return (name, round((left[1] - 20) / 20))
    return None  # a blend while the output redraws: ignored


@dataclass
class Shown:
    """One appearance of an item on screen."""

    name: str
    first_at: float
    frames: dict[int, float]  # frame number -> first seen
    black_before: bool


def appearances(samples: list[tuple[float, list[list[int]]]]) -> list[Shown]:
    shown: list[Shown] = []
    black = False
    for at, (left, right) in samples:
        label = classify(tuple(left), tuple(right))  # type: ignore[arg-type]
        if label is None:
            continue
        name, frame = label
        if name == "black":
            black = True
            continue
        if shown and shown[-1].name == name and (name in IMAGES or frame >= max(shown[-1].frames)):
            shown[-1].frames.setdefault(frame, at)
        else:
            shown.append(Shown(name, at, {frame: at}, black))
        black = False
    return shown


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):6.1f}  p95 {p95:6.1f}  max {ordered[-1]:6.1f}  "
        f"(n={len(ordered)})"
    )


def report(mode: str, shown: list[Shown]) -> None:
    kinds: dict[str, list[float]] = {}
    dropped_first: dict[str, int] = {}
    missed_last: dict[str, int] = {}
    black: dict[str, int] = {}
    for before, after in itertools.pairwise(shown[2:]):  # skip the first items
        kind = f"{'video' if before.name in CLIPS else 'image'}->" + (
            "video" if after.name in CLIPS else "image"
        )
        if before.name in CLIPS:
            last = max(before.frames)
            missed_last[kind] = missed_last.get(kind, 0) + (last != FRAMES - 1)
            gap = after.first_at - before.frames[last]
        else:
            gap = after.first_at - (before.first_at + IMAGE_MS / 1000)
        kinds.setdefault(kind, []).append(gap * 1000)
        if after.name in CLIPS:
            dropped_first[kind] = dropped_first.get(kind, 0) + (min(after.frames) != 0)
        black[kind] = black.get(kind, 0) + after.black_before
    print(f"\n{mode}:")
    for kind in ("video->video", "image->video", "video->image", "image->image"):
        values = kinds.get(kind, [])
        origin = "last frame" if kind.startswith("video") else "planned end"
        print(
            f"  {kind:13} {origin:11} -> next picture, ms: {summary(values)}; "
            f"first frame dropped {dropped_first.get(kind, 0)}, "
            f"last frame missed {missed_last.get(kind, 0)}, black between {black.get(kind, 0)}"
        )


class Counter:
    def __init__(self, target: int) -> None:
        self.target, self.starts, self.done = target, 0, asyncio.Event()

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self.starts += 1
        if self.starts >= self.target:
            self.done.set()

    def item_ended(
        self, item: PlayableItem, ended_at: datetime, played_ms: int, how: Ending
    ) -> None:
        pass

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        print(f"FAILED {item.name}: {reason}", file=sys.stderr)


async def measure(mode: str, vout: str, loops: int, folder: Path, display: str, fb: Path) -> None:
    items = [
        PlayableItem("G", "G", "1" * 64, "video", folder / "G.mp4", None),
        PlayableItem("B", "B", "2" * 64, "video", folder / "B.mp4", None),
        PlayableItem("R", "R", "3" * 64, "image", folder / "R.png", IMAGE_MS),
        PlayableItem("Y", "Y", "4" * 64, "image", folder / "Y.png", IMAGE_MS),
    ]
    os.environ["DISPLAY"] = display
    output = choose_video_output("window", environ=os.environ, snd_dir=Path("/nonexistent"))
    renderer = VlcRenderer(
        video_output=output,
        messages_dir=folder / "messages",
        double_buffer=(mode == "double"),
        extra_args=VOUTS[vout],
    )
    if mode == "single-late":
        renderer._lead_videos = False  # the bench may look inside: as before the lead
    if mode == "single-vlc-stills":
        renderer._draws_stills = False  # as before: libvlc draws the pictures too
    counter = Counter(4 * loops + 3)
    player = Player(renderer=renderer, listener=counter)
    sampler = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
        [sys.executable, "-c", SAMPLER, str(fb), str(LEFT[0]), str(RIGHT[0]), str(ROW)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    player.set_playlist(items)
    task = asyncio.create_task(player.run())
    began = time.monotonic()
    await asyncio.wait_for(counter.done.wait(), timeout=loops * 10 + 60)
    elapsed = time.monotonic() - began
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    out, _ = sampler.communicate(b"x", timeout=60)
    shown = appearances(json.loads(out))
    print(
        f"\n[{mode}, output {vout}] {counter.starts} items in {elapsed:.0f} s, "
        f"{len(shown)} seen on screen"
    )
    report(MODES[mode], shown)


def make_full_hd_clip(path: Path, seconds: int) -> Path:
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
        "-i", f"testsrc2=size=1920x1080:rate={FPS}:duration={seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EventLog:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.changed = asyncio.Event()

    def __call__(self, event: object) -> None:
        self.events.append(event)
        self.changed.set()


async def measure_cpu(vout: str, clip: Path, folder: Path, display: str, xvfb_pid: int) -> None:
    """CPU of this process (libvlc's threads) and of Xvfb while `clip` plays once."""
    os.environ["DISPLAY"] = display
    output = choose_video_output("window", environ=os.environ, snd_dir=Path("/nonexistent"))
    renderer = VlcRenderer(
        video_output=output,
        messages_dir=folder / "messages",
        extra_args=VOUTS[vout],
    )
    log = EventLog()
    await renderer.start(log)
    try:
        item = PlayableItem("HD", "HD", "5" * 64, "video", clip, None)
        own, server, began = time.process_time(), process_cpu_s(xvfb_pid), time.monotonic()
        renderer.play(item)
        while not any(type(event).__name__ in ("Ended", "Failed") for event in log.events):
            log.changed.clear()
            await log.changed.wait()
        elapsed = time.monotonic() - began
        own, server = time.process_time() - own, process_cpu_s(xvfb_pid) - server
        stats = renderer._stats(renderer._front)  # the bench may look inside
        frames = (
            f"{stats.displayed_pictures} shown, {stats.lost_pictures} lost of "
            f"{stats.decoded_video} decoded"
            if stats is not None
            else "no stats"
        )
    finally:
        await renderer.close()
    print(
        f"  vout {vout:8} {elapsed:5.1f} s: player process {100 * own / elapsed:5.1f}% of a core, "
        f"Xvfb {100 * server / elapsed:5.1f}%; {frames}"
    )


async def main(loops: int, modes: list[str], vouts: list[str], cpu_s: int) -> None:
    with tempfile.TemporaryDirectory(prefix="switch-gap-") as name, running_xvfb() as xvfb:
        folder = Path(name)
        for clip, colour in CLIPS.items():
            make_clip(folder / f"{clip}.mp4", colour)
        for picture, colour in IMAGES.items():
            make_image(folder / f"{picture}.png", "", colour, size=(1280, 720))
        if cpu_s:
            clip = make_full_hd_clip(folder / "full-hd.mp4", cpu_s)
            print(f"CPU while a 1920x1080 {FPS} fps H.264 clip plays for {cpu_s} s:")
            for vout in vouts:
                await measure_cpu(vout, clip, folder, xvfb.display, xvfb.pid)
            return
        print(
            f"switch_gap: {loops} loops of 2 clips ({FRAMES} frames at {FPS} fps, 320x240) "
            f"and 2 images ({IMAGE_MS} ms, 1280x720), Xvfb 1920x1080, no window manager"
        )
        for vout in vouts:
            for mode in modes:
                await measure(mode, vout, loops, folder, xvfb.display, xvfb.framebuffer.path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200, help="switches of each kind")
    parser.add_argument("--modes", default="double,single", help=f"of {','.join(MODES)}")
    parser.add_argument(
        "--vouts", default="default", help=f"outputs to compare, of {','.join(VOUTS)}"
    )
    parser.add_argument(
        "--cpu", type=int, default=0, metavar="SECONDS",
        help="instead: CPU while a 1080p25 clip of SECONDS plays, per output",
    )  # fmt: skip
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.loops, arguments.modes.split(","), arguments.vouts.split(","), arguments.cpu)
    )
