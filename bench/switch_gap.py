"""Benchmark: how long the screen waits between clips, and whether memory stays flat.

Plays N short clips in a loop through the real `Player` and `VlcRenderer` (libvlc's dummy
outputs, so it runs headless) and prints:

- libvlc EndReached -> next Playing (ms): the raw switch inside libvlc;
- item_ended -> next item_started (ms): end of one clip to the first picture of the next,
  as the agent sees it (what a viewer would call the gap);
- image hold: how long images asked for 500 ms stayed before the next item started;
- RSS after warm-up and after N switches.

Prints figures; asserts nothing. Usage: python bench/switch_gap.py [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import vlc

from player import PlayableItem, Player, VlcRenderer, choose_video_output
from player.renderer import EmitEvent
from player.vlc_state import Signal
from tests.support.media import make_image, make_video

WARM_UP = 10


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"min {ordered[0]:6.1f}  median {statistics.median(ordered):6.1f}  "
        f"p95 {p95:6.1f}  max {ordered[-1]:6.1f}  (n={len(ordered)})"
    )


class Timings:
    """A PlayerListener that stamps every call with the monotonic clock."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, PlayableItem, float]] = []
        self.rss_after_warm_up: float | None = None
        self.done = asyncio.Event()
        self.target = 0

    def item_started(self, item: PlayableItem, started_at: datetime) -> None:
        self.calls.append(("started", item, time.monotonic()))
        if len(self.starts()) == WARM_UP:
            self.rss_after_warm_up = rss_mib()
        if len(self.starts()) >= self.target:
            self.done.set()

    def item_ended(self, item: PlayableItem, ended_at: datetime, played_ms: int) -> None:
        self.calls.append(("ended", item, time.monotonic()))

    def item_failed(self, item: PlayableItem, reason: str) -> None:
        print(f"FAILED {item.name}: {reason}", file=sys.stderr)

    def starts(self) -> list[tuple[str, PlayableItem, float]]:
        return [call for call in self.calls if call[0] == "started"]

    def gaps_ms(self, kind: str | None = None) -> list[float]:
        """item_ended -> next item_started, optionally only after items of `kind`."""
        gaps = []
        for (k1, item, t1), (k2, _, t2) in itertools.pairwise(self.calls):
            if k1 == "ended" and k2 == "started" and kind in (None, item.media_type):
                gaps.append((t2 - t1) * 1000)
        return gaps

    def image_holds_ms(self) -> list[float]:
        starts = self.starts()
        return [
            (later[2] - earlier[2]) * 1000
            for earlier, later in itertools.pairwise(starts)
            if earlier[1].media_type == "image"
        ]


class ProbedRenderer(VlcRenderer):
    """VlcRenderer that also stamps libvlc's own EndReached and Playing events.

    Bench only, and it reaches into private fields: python-vlc hands out one
    EventManager per player and keeps one callback per event type, so a second
    listener cannot be attached beside the renderer's; this one wraps it instead.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stamps: list[tuple[str, float]] = []

    async def start(self, emit: EmitEvent) -> None:
        await super().start(emit)
        events = self._events
        assert events is not None
        events.event_detach(vlc.EventType.MediaPlayerEndReached)
        events.event_attach(vlc.EventType.MediaPlayerEndReached, self._stamp_end)
        events.event_attach(vlc.EventType.MediaPlayerPlaying, self._stamp_playing)

    def _stamp_end(self, event: object) -> None:
        self.stamps.append(("end", time.monotonic()))  # no libvlc calls in a callback
        self._on_libvlc_event(event, Signal.END)

    def _stamp_playing(self, _event: object) -> None:
        self.stamps.append(("playing", time.monotonic()))


def raw_gaps_ms(stamps: list[tuple[str, float]]) -> list[float]:
    return [
        (t2 - t1) * 1000
        for (n1, t1), (n2, t2) in itertools.pairwise(stamps)
        if n1 == "end" and n2 == "playing"
    ]


async def main(count: int, clip_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="switch-gap-") as folder_name:
        folder = Path(folder_name)
        clips = [make_video(folder / f"clip{i}.mp4", seconds=clip_s) for i in range(3)]
        picture = make_image(folder / "still.png", "STILL", "navy")
        items = [
            PlayableItem(f"bench:{i}", clip.name, f"{i:064d}", "video", clip, None)
            for i, clip in enumerate(clips)
        ]
        items.append(PlayableItem("bench:img", "still.png", "f" * 64, "image", picture, 500))

        output = choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))
        renderer = ProbedRenderer(video_output=output, messages_dir=folder / "messages")
        timings = Timings()
        timings.target = count + 1
        player = Player(renderer=renderer, listener=timings)
        rss_start = rss_mib()
        player.set_playlist(items)
        task = asyncio.create_task(player.run())
        began = time.monotonic()
        await asyncio.wait_for(timings.done.wait(), timeout=count * (clip_s + 1) + 30)
        elapsed = time.monotonic() - began
        rss_end = rss_mib()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    switches = len(timings.starts()) - 1
    print(f"switch_gap: {switches} switches in {elapsed:.1f} s")
    print(f"  ({len(clips)} clips of {clip_s} s at 320x240 25 fps + 1 image of 500 ms, dummy vout)")
    print(f"  libvlc EndReached -> next Playing, ms:     {summary(raw_gaps_ms(renderer.stamps))}")
    print(f"  item_ended -> next item_started, ms:       {summary(timings.gaps_ms())}")
    print(f"    after a video (natural end), ms:         {summary(timings.gaps_ms('video'))}")
    print(f"    after an image (loop timer), ms:         {summary(timings.gaps_ms('image'))}")
    print(f"  image asked for 500 ms, start to next, ms: {summary(timings.image_holds_ms())}")
    warm = timings.rss_after_warm_up
    print(
        f"  RSS: {rss_start:.1f} MiB before start, "
        f"{warm:.1f} MiB after {WARM_UP} items, {rss_end:.1f} MiB after {switches} switches"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="switches to make")
    parser.add_argument("--clip-seconds", type=float, default=0.4, help="length of each clip")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.clip_seconds))
