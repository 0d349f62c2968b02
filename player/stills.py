"""Still pictures (images and messages) drawn into the renderer's X11 window by the
renderer itself, not by libvlc.

libvlc takes about 50 ms from `play()` to a picture on the screen (demux, decode, and a
new video output for each item: a GL context with its `gl` output) and then keeps that
output alive for as long as the picture shows. Here a picture is decoded and fitted to
the screen by Pillow on a worker thread (`screen_pixels`), uploaded once to the X server
as a pixmap (`X11Screen.upload_picture`), and shown with one server-side copy into the
window: under a millisecond, and with nothing of libvlc running while it shows. The
next picture is loaded while the current item plays (`VlcRenderer.prepare`), so a switch
to it costs only the copy.

A few pictures are kept on the server (the one on screen and those asked for next):
`KEEP` of them, each the screen's size (8 MiB at 1920x1080).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from player.images import screen_pixels

if TYPE_CHECKING:
    from player.x11 import X11Screen

KEEP = 3

# A picture's key: a file and what it held when it was read (a message is drawn again into
# the same file when it changes, turned or not).
_Key = tuple[Path, int, int]


class StillPictures:
    """Pictures uploaded to the X server, by file, ready to be copied into a window."""

    def __init__(
        self,
        screen: X11Screen,
        spawn: Callable[[Coroutine[Any, Any, int | str]], asyncio.Task[int | str]],
    ) -> None:
        self._screen: X11Screen | None = screen
        self._spawn = spawn
        self._loaded: dict[_Key, asyncio.Task[int | str]] = {}  # oldest first
        self._shown: _Key | None = None

    def load(self, source: Path) -> asyncio.Task[int | str]:
        """The pixmap of `source` (the task's result), or why it cannot be shown (a str);
        loaded on a worker thread the first time it is asked for."""
        try:
            info = source.stat()
        except OSError as exc:
            return self._spawn(_failed(f"cannot read it: {exc.strerror or exc}"))
        key = (source, info.st_mtime_ns, info.st_size)
        task = self._loaded.pop(key, None)
        if task is None:
            task = self._spawn(self._upload(source))
        self._loaded[key] = task  # now the newest
        self._trim()
        return task

    def draw(self, window: int, source: Path, pixmap: int) -> None:
        """Copy the loaded picture of `source` into `window` (on screen when it returns)."""
        assert self._screen is not None
        self._screen.draw_picture(window, pixmap)
        self._shown = next((key for key in self._loaded if key[0] == source), None)

    def close(self) -> None:
        """Free every picture on the server; nothing can be loaded or drawn after this."""
        for task in self._loaded.values():
            self._free(task)
        self._loaded.clear()
        self._screen = None

    async def _upload(self, source: Path) -> int | str:
        screen = self._screen
        if screen is None:
            return "the renderer is closed"
        size = (screen.size.width, screen.size.height)
        try:
            pixels = await asyncio.to_thread(screen_pixels, source, size)
        except OSError as exc:
            return f"cannot decode {source.name} as a picture: {exc}"
        except MemoryError:
            return f"not enough memory to decode {source.name}"
        if self._screen is None:
            return "the renderer is closed"
        return self._screen.upload_picture(pixels)

    def _trim(self) -> None:
        while len(self._loaded) > KEEP:
            key = next((key for key in self._loaded if key != self._shown), None)
            if key is None:
                return
            self._free(self._loaded.pop(key))

    def _free(self, task: asyncio.Task[int | str]) -> None:
        screen = self._screen  # a load still running is freed once done, closed or not

        def free(done: asyncio.Task[int | str]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            pixmap = done.result()
            if isinstance(pixmap, int) and screen is not None:
                screen.free_picture(pixmap)

        if task.done():
            free(task)
        else:
            task.add_done_callback(free)


async def _failed(reason: str) -> int | str:
    return reason


__all__ = ["KEEP", "StillPictures"]
