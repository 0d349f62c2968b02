"""An agent's renderer alone, in a process of its own, for tests that kill it: shows one
item in the window output (DISPLAY) and prints `shown` once the item has started.

    python -m tests.player.hold_on_screen image|video FILE FOLDER
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from player import RendererEvent, Started, VlcRenderer, choose_video_output
from tests.player.conftest import image, video


async def show(kind: str, path: Path, folder: Path) -> None:
    output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
    renderer = VlcRenderer(video_output=output, messages_dir=folder / "messages")
    started = asyncio.Event()

    def emit(event: RendererEvent) -> None:
        if isinstance(event, Started):
            started.set()

    await renderer.start(emit)
    renderer.play(image("held", path, 600_000) if kind == "image" else video("held", path))
    await started.wait()
    print("shown", flush=True)
    await asyncio.sleep(600)  # until it is killed


if __name__ == "__main__":
    asyncio.run(show(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
