"""A private Xvfb server whose screen can be read pixel by pixel, for tests and benchmarks.

Xvfb's `-fbdir` keeps the screen in a memory-mapped XWD file; reading it shows exactly
what a viewer would see (after the window stacking), with no X client and no extra
package (`xwd`, ImageMagick) involved.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

SCREEN = (1920, 1080)


def xvfb_available() -> bool:
    return shutil.which("Xvfb") is not None


@dataclass
class Framebuffer:
    """The screen of an Xvfb server, read from its `-fbdir` file."""

    path: Path
    width: int
    height: int
    _map: mmap.mmap
    _offset: int
    _stride: int

    @classmethod
    def open(cls, path: Path) -> Framebuffer:
        with path.open("rb") as file:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        header = struct.unpack(">25I", mapped[:100])
        header_size, width, height = header[0], header[4], header[5]
        bits_per_pixel, stride, colours = header[11], header[12], header[19]
        if bits_per_pixel != 32:
            raise RuntimeError(f"Xvfb framebuffer has {bits_per_pixel} bits per pixel, not 32")
        return cls(path, width, height, mapped, header_size + 12 * colours, stride)

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        start = self._offset + y * self._stride + 4 * x
        blue, green, red = self._map[start : start + 3]
        return red, green, blue

    def screenshot(self) -> Image.Image:
        size = self._stride * self.height
        data = self._map[self._offset : self._offset + size]
        return Image.frombuffer("RGB", (self.width, self.height), data, "raw", "BGRX", 0, 1)

    def close(self) -> None:
        self._map.close()


def _xlib() -> ctypes.CDLL:
    x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    p, ul, i, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
    x11.XOpenDisplay.restype = p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = ul
    x11.XDefaultRootWindow.argtypes = [p]
    x11.XWarpPointer.argtypes = [p, ul, ul, i, i, ui, ui, i, i]
    x11.XQueryTree.argtypes = [
        p, ul, ctypes.POINTER(ul), ctypes.POINTER(ul), ctypes.POINTER(ctypes.POINTER(ul)),
        ctypes.POINTER(ui),
    ]  # fmt: skip
    x11.XUndefineCursor.argtypes = [p, ul]
    x11.XFree.argtypes = [p]
    x11.XSync.argtypes = [p, i]
    x11.XCloseDisplay.argtypes = [p]
    return x11


def _children(x11: ctypes.CDLL, connection: int, window: int) -> list[int]:
    """The windows directly inside `window`, bottom first."""
    parent, root_out = ctypes.c_ulong(), ctypes.c_ulong()
    children = ctypes.POINTER(ctypes.c_ulong)()
    count = ctypes.c_uint()
    x11.XQueryTree(connection, window, ctypes.byref(root_out), ctypes.byref(parent),
                   ctypes.byref(children), ctypes.byref(count))  # fmt: skip
    try:
        return [int(children[index]) for index in range(count.value)]
    finally:
        if children:
            x11.XFree(children)


def move_pointer(
    display: str, path: list[tuple[int, int]], *, show_over_windows: bool = False
) -> None:
    """Move the server's mouse pointer along `path`, as a mouse would (XWarpPointer from a
    connection of its own: the windows under it get enter and motion events).

    `show_over_windows`: first do what libvlc does when it shows the pointer over a
    player's window: set the cursor of every top-level window to None (the parent's)."""
    x11 = _xlib()
    connection = x11.XOpenDisplay(display.encode())
    if not connection:
        raise RuntimeError(f"cannot open the X display {display}")
    try:
        root = x11.XDefaultRootWindow(connection)
        if show_over_windows:
            for window in _children(x11, connection, root):
                x11.XUndefineCursor(connection, window)
        for x, y in path:
            x11.XWarpPointer(connection, 0, root, 0, 0, 0, 0, x, y)
            x11.XSync(connection, 0)
            time.sleep(0.02)
    finally:
        x11.XCloseDisplay(connection)


def top_level_windows(display: str) -> int:
    """How many windows the X server has on its root window (without a window manager:
    the renderer's own, libvlc's being inside them)."""
    x11 = _xlib()
    connection = x11.XOpenDisplay(display.encode())
    if not connection:
        raise RuntimeError(f"cannot open the X display {display}")
    try:
        return len(_children(x11, connection, x11.XDefaultRootWindow(connection)))
    finally:
        x11.XCloseDisplay(connection)


@dataclass
class Xvfb:
    display: str
    framebuffer: Framebuffer
    pid: int  # the server's process, for benchmarks that count its CPU time too


@contextmanager
def running_xvfb(size: tuple[int, int] = SCREEN) -> Iterator[Xvfb]:
    """An Xvfb server with no window manager on a free display number."""
    folder = Path(tempfile.mkdtemp(prefix="xvfb-"))
    read_fd, write_fd = os.pipe()
    command = [
        "Xvfb",
        "-displayfd",
        str(write_fd),
        "-screen",
        "0",
        f"{size[0]}x{size[1]}x24",
        "-fbdir",
        str(folder),
        "-nolisten",
        "tcp",
        "-noreset",
        "+bs",
    ]
    process = subprocess.Popen(
        command, pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        screen_file = folder / "Xvfb_screen0"
        deadline = time.monotonic() + 10
        while not screen_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        framebuffer = Framebuffer.open(screen_file)
        try:
            yield Xvfb(f":{number}", framebuffer, process.pid)
        finally:
            framebuffer.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


__all__ = [
    "SCREEN",
    "Framebuffer",
    "Xvfb",
    "move_pointer",
    "running_xvfb",
    "top_level_windows",
    "xvfb_available",
]
