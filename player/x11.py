"""The renderer's own full-screen X11 windows, through libX11 with ctypes.

libvlc's window output opens a window the size of each item and relies on a window
manager to make it full screen; under a bare X server (a kiosk without a desktop) every
item then sits at its own size in the top-left corner. Instead the renderer creates its
own windows here, the size of the screen, override-redirect (no window manager moves,
decorates or resizes them) and black, and hands one to each libvlc player
(`set_xwindow`): libvlc draws inside, scaled to the window with the aspect kept.

Two windows stacked on top of each other make a double buffer: the next item is
prepared in the lower one while the upper one shows the current item, and a switch
is one `XRaiseWindow`. Without a compositor X keeps no contents for a covered window,
so a raised window would show black until libvlc drew again; such windows are therefore
redirected with the Composite extension (`XCompositeRedirectWindow`, automatic mode:
the server keeps the window's pixels off screen and copies them to the screen itself),
and a raise shows what the player behind has already drawn.

It also turns off the X server's screen saver and DPMS power saving while it is open
(`xset s off -dpms` done by the renderer itself, so no `xset` or `xdg-screensaver`
program is needed), and hides the mouse pointer over the whole screen while it is open.

A window that keeps its last picture outlives the process: the connection's close-down
mode is `RetainTemporary`, so when the agent exits, is killed or crashes, the X server
keeps the window, and the screen its last picture, instead of showing the desktop or the
root window until the next agent draws. Each window carries the `_SIGNAGE_AGENT_SCREEN`
property (the pid that made it); the next agent maps its own window over the old one
without painting it (the old picture stays until libvlc draws), then has the server free
what the dead agent left (`XKillClient`). `release_screen()` does only that last step,
for an operator who stops the agent for good.

Call everything from one thread (the asyncio loop's); libvlc uses its own connection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from dataclasses import dataclass

from player.errors import RendererError

log = logging.getLogger(__name__)

_CW_BACK_PIXMAP = 1 << 0
_CW_BACK_PIXEL = 1 << 1
_CW_OVERRIDE_REDIRECT = 1 << 9
_CW_CURSOR = 1 << 14
_RETAIN_TEMPORARY = 2  # XSetCloseDownMode: keep the resources once the connection ends
_XA_CARDINAL = 6
_PROP_MODE_REPLACE = 0
_SUCCESS = 0
# Marks the renderer's windows, holding the pid of the agent that made them, or _LEFT
# once that agent has closed its screen and left the window with its last picture.
MARK = b"_SIGNAGE_AGENT_SCREEN"
_LEFT = 0


class _SetWindowAttributes(ctypes.Structure):
    _fields_ = [
        ("background_pixmap", ctypes.c_ulong),
        ("background_pixel", ctypes.c_ulong),
        ("border_pixmap", ctypes.c_ulong),
        ("border_pixel", ctypes.c_ulong),
        ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int),
        ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int),
        ("event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int),
        ("colormap", ctypes.c_ulong),
        ("cursor", ctypes.c_ulong),
    ]


class _XColor(ctypes.Structure):
    _fields_ = [
        ("pixel", ctypes.c_ulong),
        ("red", ctypes.c_ushort),
        ("green", ctypes.c_ushort),
        ("blue", ctypes.c_ushort),
        ("flags", ctypes.c_char),
        ("pad", ctypes.c_char),
    ]


class _Visual(ctypes.Structure):
    _fields_ = [
        ("ext_data", ctypes.c_void_p),
        ("visualid", ctypes.c_ulong),
        ("class_", ctypes.c_int),
        ("red_mask", ctypes.c_ulong),
        ("green_mask", ctypes.c_ulong),
        ("blue_mask", ctypes.c_ulong),
        ("bits_per_rgb", ctypes.c_int),
        ("map_entries", ctypes.c_int),
    ]


class _XImage(ctypes.Structure):
    # Only the leading fields are read or written here; Xlib allocates the whole struct.
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.c_void_p),
    ]


class _XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


_ErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_XErrorEvent))


@_ErrorHandler
def _on_x_error(_display: int, event: ctypes._Pointer[_XErrorEvent]) -> int:
    """Xlib's own handler exits the process on any refused request; a window of another
    client can go between two of our requests (one we look at for the agent's mark)."""
    error = event.contents
    log.warning(
        "the X server refused a request (error %d, request %d) on window 0x%x; going on",
        error.error_code,
        error.request_code,
        error.resourceid,
    )
    return 0


def _load(name: str) -> ctypes.CDLL | None:
    found = ctypes.util.find_library(name)
    for candidate in (found, f"lib{name}.so.6"):
        if candidate:
            try:
                return ctypes.CDLL(candidate)
            except OSError:
                continue
    return None


def _declare(x11: ctypes.CDLL) -> None:
    p, ul, i, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
    x11.XOpenDisplay.restype = p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultScreen.argtypes = [p]
    x11.XRootWindow.restype = ul
    x11.XRootWindow.argtypes = [p, i]
    x11.XDisplayWidth.argtypes = [p, i]
    x11.XDisplayHeight.argtypes = [p, i]
    x11.XBlackPixel.restype = ul
    x11.XBlackPixel.argtypes = [p, i]
    x11.XCreateSimpleWindow.restype = ul
    x11.XCreateSimpleWindow.argtypes = [p, ul, i, i, ui, ui, ui, ul, ul]
    x11.XChangeWindowAttributes.argtypes = [p, ul, ul, ctypes.POINTER(_SetWindowAttributes)]
    x11.XStoreName.argtypes = [p, ul, ctypes.c_char_p]
    for name in ("XMapRaised", "XRaiseWindow", "XLowerWindow", "XDestroyWindow"):
        getattr(x11, name).argtypes = [p, ul]
    x11.XFlush.argtypes = [p]
    x11.XSync.argtypes = [p, i]
    x11.XCloseDisplay.argtypes = [p]
    x11.XSetScreenSaver.argtypes = [p, i, i, i, i]
    x11.XCreatePixmap.restype = ul
    x11.XCreatePixmap.argtypes = [p, ul, ui, ui, ui]
    x11.XCreatePixmapCursor.restype = ul
    x11.XCreatePixmapCursor.argtypes = [
        p,
        ul,
        ul,
        ctypes.POINTER(_XColor),
        ctypes.POINTER(_XColor),
        ui,
        ui,
    ]
    x11.XFreePixmap.argtypes = [p, ul]
    x11.XSetWindowBackgroundPixmap.argtypes = [p, ul, ul]
    x11.XFreeCursor.argtypes = [p, ul]
    x11.XDefineCursor.argtypes = [p, ul, ul]
    x11.XUndefineCursor.argtypes = [p, ul]
    x11.XSetCloseDownMode.argtypes = [p, i]
    x11.XKillClient.argtypes = [p, ul]
    x11.XInternAtom.restype = ul
    x11.XInternAtom.argtypes = [p, ctypes.c_char_p, i]
    x11.XChangeProperty.argtypes = [p, ul, ul, ul, i, i, p, i]
    pul = ctypes.POINTER(ul)
    x11.XQueryTree.argtypes = [p, ul, pul, pul, ctypes.POINTER(pul), ctypes.POINTER(ui)]
    x11.XGetWindowProperty.argtypes = [
        p, ul, ul, ctypes.c_long, ctypes.c_long, i, ul, pul, ctypes.POINTER(i), pul, pul,
        ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
    ]  # fmt: skip
    x11.XFree.argtypes = [p]
    x11.XDisplayString.restype = ctypes.c_char_p
    x11.XDisplayString.argtypes = [p]
    x11.XDefaultVisual.restype = p
    x11.XDefaultVisual.argtypes = [p, i]
    x11.XDefaultDepth.argtypes = [p, i]
    x11.XImageByteOrder.argtypes = [p]
    x11.XCreateGC.restype = p
    x11.XCreateGC.argtypes = [p, ul, ul, p]
    x11.XFreeGC.argtypes = [p, p]
    x11.XCreateImage.restype = ctypes.POINTER(_XImage)
    x11.XCreateImage.argtypes = [p, p, ui, i, i, ctypes.c_char_p, ui, ui, i, i]
    x11.XPutImage.argtypes = [p, ul, p, ctypes.POINTER(_XImage), i, i, i, i, ui, ui]
    x11.XCopyArea.argtypes = [p, ul, ul, p, i, i, ui, ui, i, i]
    x11.XSetErrorHandler.restype = p
    x11.XSetErrorHandler.argtypes = [_ErrorHandler]
    x11.XSetErrorHandler(_on_x_error)


_COMPOSITE_REDIRECT_AUTOMATIC = 0
_Z_PIXMAP = 2
_LSB_FIRST = 0
_TRUE_COLOR = 4


def _load_composite() -> ctypes.CDLL | None:
    composite = _load("Xcomposite")
    if composite is None:
        return None
    p, i = ctypes.c_void_p, ctypes.c_int
    composite.XCompositeQueryExtension.argtypes = [p, ctypes.POINTER(i), ctypes.POINTER(i)]
    composite.XCompositeRedirectWindow.argtypes = [p, ctypes.c_ulong, i]
    return composite


@dataclass(frozen=True)
class ScreenSize:
    width: int
    height: int


class X11Screen:
    """A connection to the X server and the renderer's full-screen windows on it."""

    def __init__(self, display_name: str | None = None) -> None:
        x11 = _load("X11")
        if x11 is None:
            raise RendererError("libX11 is not installed: cannot draw into a window")
        _declare(x11)
        display = x11.XOpenDisplay(display_name.encode() if display_name else None)
        if not display:
            raise RendererError(
                f"cannot open the X display {display_name or '(DISPLAY)'}: is the X server "
                "running and may this user connect to it?"
            )
        self._x11 = x11
        self._display = display
        screen = x11.XDefaultScreen(display)
        self._root = x11.XRootWindow(display, screen)
        self._black = x11.XBlackPixel(display, screen)
        self.size = ScreenSize(
            x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen)
        )
        self._windows: list[int] = []
        self._kept: set[int] = set()  # windows left on screen when this connection ends
        self._graphics: int | None = None  # the graphics context pictures are copied with
        self._server = _server_of(x11, display)
        self._mark = int(x11.XInternAtom(display, MARK, 0))
        self._left_behind = _marked_windows(x11, display, self._root, self._mark)
        # Whatever way this process ends, the server keeps its windows (and their
        # pictures) until the next agent frees them.
        x11.XSetCloseDownMode(display, _RETAIN_TEMPORARY)
        self._cursor = self._blank_cursor()
        # libvlc shows the pointer on a player's window when the pointer moves or enters it
        # (a window mapped under it is enough) by setting that window's cursor to None,
        # which means the parent's: the root window's X. It hides it again after a second,
        # but never while its player is paused on a held picture, so an X stayed in the
        # middle of the screen (seen under Xvfb). A blank cursor on the root window too
        # leaves nothing to show.
        x11.XDefineCursor(display, self._root, self._cursor)
        self._keep_awake()
        self._composite = _load_composite()
        if self._composite is not None:
            event, error = ctypes.c_int(), ctypes.c_int()
            if not self._composite.XCompositeQueryExtension(
                display, ctypes.byref(event), ctypes.byref(error)
            ):
                self._composite = None

    @property
    def keeps_covered_windows(self) -> bool:
        """True when covered windows keep their pixels (Composite is there), so a window
        raised from behind shows at once what was drawn in it."""
        return self._composite is not None

    def _blank_cursor(self) -> int:
        x11, display = self._x11, self._display
        pixmap = x11.XCreatePixmap(display, self._root, 1, 1, 1)
        color = _XColor()
        cursor = x11.XCreatePixmapCursor(
            display, pixmap, pixmap, ctypes.byref(color), ctypes.byref(color), 0, 0
        )
        x11.XFreePixmap(display, pixmap)
        return int(cursor)

    def _keep_awake(self) -> None:
        """Turn off the screen saver and DPMS (what `xset s off -dpms` does)."""
        self._x11.XSetScreenSaver(self._display, 0, 0, 0, 1)  # timeout 0: never
        xext = _load("Xext")
        if xext is None:
            log.warning("libXext missing: cannot turn DPMS off; the screen may go dark")
            return
        xext.DPMSQueryExtension.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
        ]
        xext.DPMSDisable.argtypes = [ctypes.c_void_p]
        event, error = ctypes.c_int(), ctypes.c_int()
        if xext.DPMSQueryExtension(self._display, ctypes.byref(event), ctypes.byref(error)):
            xext.DPMSDisable(self._display)
        self._x11.XFlush(self._display)

    def new_window(
        self, name: str, *, keep_contents: bool = False, keep_last_picture: bool = False
    ) -> int:
        """A black, override-redirect window covering the screen, mapped on top.

        `keep_contents`: keep its pixels while it is covered (Composite), where the X
        server can; it costs the server one copy of each new picture to the screen.
        `keep_last_picture`: once mapped (and painted black), its background becomes None,
        so X no longer paints over what a player drew when the player's own child window
        goes (a stopped player's last picture stays; measured under Xvfb with `xcb_x11`,
        which draws in a child window: black without it). Such a window stays on screen
        after `close()` and after the process ends. Where an earlier agent left one, the
        new window is mapped over it unpainted, so its picture stays until a player draws,
        and then the earlier agent's windows are freed.
        """
        x11, display = self._x11, self._display
        window = int(
            x11.XCreateSimpleWindow(
                display,
                self._root,
                0,
                0,
                self.size.width,
                self.size.height,
                0,
                self._black,
                self._black,
            )
        )
        over_earlier_picture = keep_last_picture and bool(self._left_behind)
        attributes = _SetWindowAttributes()
        attributes.override_redirect = 1
        attributes.background_pixel = self._black
        attributes.background_pixmap = 0  # None: used only over an earlier picture
        attributes.cursor = self._cursor
        background = _CW_BACK_PIXMAP if over_earlier_picture else _CW_BACK_PIXEL
        x11.XChangeWindowAttributes(
            display,
            window,
            _CW_OVERRIDE_REDIRECT | background | _CW_CURSOR,
            ctypes.byref(attributes),
        )
        x11.XStoreName(display, window, name.encode())
        self._set_mark(window, os.getpid())
        if keep_contents and self._composite is not None:
            self._composite.XCompositeRedirectWindow(display, window, _COMPOSITE_REDIRECT_AUTOMATIC)
        x11.XMapRaised(display, window)
        x11.XSync(display, 0)  # mapped (and painted black) before the background goes
        if keep_last_picture and not over_earlier_picture:
            x11.XSetWindowBackgroundPixmap(display, window, 0)  # None
            x11.XSync(display, 0)
        self._windows.append(window)
        _LIVE.add((self._server, window))
        if keep_last_picture:
            self._kept.add(window)
        self._free_left_behind()
        return window

    def _set_mark(self, window: int, pid: int) -> None:
        value = ctypes.c_long(pid)  # format 32 goes to Xlib as C longs
        self._x11.XChangeProperty(
            self._display, window, self._mark, _XA_CARDINAL, 32, _PROP_MODE_REPLACE,
            ctypes.byref(value), 1,
        )  # fmt: skip

    def _free_left_behind(self) -> None:
        """Free the windows an earlier agent left on this screen (now covered by ours)."""
        freed = _free(self._x11, self._display, self._server, self._left_behind)
        self._left_behind = []
        if freed:
            log.info("the picture an earlier agent left on the screen is now covered and freed")

    @property
    def draws_pictures(self) -> bool:
        """True when the screen takes pictures as 32-bit BGRX pixels (24-bit true colour,
        red in the high byte, little-endian), the layout `upload_picture` sends."""
        x11, display = self._x11, self._display
        screen = x11.XDefaultScreen(display)
        visual = ctypes.cast(x11.XDefaultVisual(display, screen), ctypes.POINTER(_Visual))
        return bool(visual) and (
            x11.XDefaultDepth(display, screen) == 24
            and x11.XImageByteOrder(display) == _LSB_FIRST
            and visual.contents.class_ == _TRUE_COLOR
            and (visual.contents.red_mask, visual.contents.green_mask, visual.contents.blue_mask)
            == (0xFF0000, 0x00FF00, 0x0000FF)
        )

    def upload_picture(self, pixels: bytes) -> int:
        """A pixmap on the server holding `pixels` (the screen's size, BGRX), to draw
        later with `draw_picture` in one request. The server keeps it until
        `free_picture`."""
        x11, display = self._x11, self._display
        width, height = self.size.width, self.size.height
        if len(pixels) != width * height * 4:
            raise ValueError(f"{len(pixels)} bytes is not a {width}x{height} BGRX picture")
        screen = x11.XDefaultScreen(display)
        pixmap = int(x11.XCreatePixmap(display, self._root, width, height, 24))
        image = x11.XCreateImage(
            display, x11.XDefaultVisual(display, screen), 24, _Z_PIXMAP, 0, pixels,
            width, height, 32, 0,
        )  # fmt: skip
        if not image:
            x11.XFreePixmap(display, pixmap)
            raise RendererError("Xlib could not describe the picture (out of memory?)")
        gc = self._gc()
        try:
            x11.XPutImage(display, pixmap, gc, image, 0, 0, 0, 0, width, height)
            x11.XSync(display, 0)
        finally:
            image.contents.data = None  # the bytes are Python's: XFree frees the struct only
            x11.XFree(image)
        return pixmap

    def draw_picture(self, window: int, pixmap: int) -> None:
        """Copy an uploaded picture into `window`, on the server: on screen when this
        returns."""
        x11, display = self._x11, self._display
        x11.XCopyArea(
            display, pixmap, window, self._gc(), 0, 0, self.size.width, self.size.height, 0, 0
        )
        x11.XSync(display, 0)

    def free_picture(self, pixmap: int) -> None:
        if self._display:
            self._x11.XFreePixmap(self._display, pixmap)
            self._x11.XFlush(self._display)

    def _gc(self) -> int:
        if self._graphics is None:
            self._graphics = int(self._x11.XCreateGC(self._display, self._root, 0, None))
        return self._graphics

    def raise_window(self, window: int) -> None:
        self._x11.XRaiseWindow(self._display, window)
        self._x11.XFlush(self._display)

    def destroy_window(self, window: int) -> None:
        if window in self._windows:
            self._windows.remove(window)
            self._kept.discard(window)
            _LIVE.discard((self._server, window))
            self._x11.XDestroyWindow(self._display, window)
            self._x11.XFlush(self._display)

    def close(self) -> None:
        """Destroy the windows, but for those that keep their last picture: the server
        keeps them, on screen, until the next agent (or `release_screen`) frees them."""
        if not self._display:
            return
        self._free_left_behind()  # no window was made over them
        for window in list(self._windows):
            if window in self._kept:
                self._set_mark(window, _LEFT)  # no agent draws in it any more
            else:
                self.destroy_window(window)
        _LIVE.difference_update((self._server, window) for window in self._windows)
        if self._graphics is not None:
            self._x11.XFreeGC(self._display, self._graphics)
            self._graphics = None
        self._x11.XUndefineCursor(self._display, self._root)
        self._x11.XFreeCursor(self._display, self._cursor)
        self._x11.XCloseDisplay(self._display)
        self._display = None


# (server, window) of this process's open connections: never freed as left behind (two
# renderers of one process, as in tests, may share a screen).
_LIVE: set[tuple[str, int]] = set()


def _server_of(x11: ctypes.CDLL, display: int) -> str:
    return (x11.XDisplayString(display) or b"").decode(errors="replace")


def _marked_windows(x11: ctypes.CDLL, display: int, root: int, mark: int) -> list[tuple[int, int]]:
    """(window, pid) of every top-level window carrying the agent's mark."""
    root_out, parent = ctypes.c_ulong(), ctypes.c_ulong()
    children = ctypes.POINTER(ctypes.c_ulong)()
    count = ctypes.c_uint()
    if not x11.XQueryTree(
        display, root, ctypes.byref(root_out), ctypes.byref(parent), ctypes.byref(children),
        ctypes.byref(count),
    ):  # fmt: skip
        return []
    try:
        windows = [int(children[index]) for index in range(count.value)]
    finally:
        if children:
            x11.XFree(children)
    marked = []
    for window in windows:
        kind, format_ = ctypes.c_ulong(), ctypes.c_int()
        items, after = ctypes.c_ulong(), ctypes.c_ulong()
        data = ctypes.POINTER(ctypes.c_ubyte)()
        status = x11.XGetWindowProperty(
            display, window, mark, 0, 1, 0, _XA_CARDINAL, ctypes.byref(kind),
            ctypes.byref(format_), ctypes.byref(items), ctypes.byref(after), ctypes.byref(data),
        )  # fmt: skip
        if status != _SUCCESS:
            continue
        try:
            if kind.value == _XA_CARDINAL and format_.value == 32 and items.value == 1:
                # Format 32 comes back as C longs.
                marked.append((window, int(ctypes.cast(data, ctypes.POINTER(ctypes.c_long))[0])))
        finally:
            if data:
                x11.XFree(data)
    return marked


def _running(pid: int) -> bool:
    if pid == _LEFT or pid == os.getpid():
        return False  # this process's own closed connections: their windows are left
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free(x11: ctypes.CDLL, display: int, server: str, marked: list[tuple[int, int]]) -> int:
    """Have the server free what the agents that made these windows left (the windows,
    their cursor); windows of an agent still running, or of this process's open
    connections, are left alone. Returns how many were freed."""
    freed = 0
    for window, pid in marked:
        if (server, window) in _LIVE:
            continue
        if _running(pid):
            log.warning(
                "another agent (pid %d) has a window on this screen; it is left there. "
                "Run one agent per screen",
                pid,
            )
            continue
        x11.XKillClient(display, window)  # a retained client: its resources go, nothing else
        freed += 1
    if freed:
        x11.XSync(display, 0)
    return freed


def release_screen(display_name: str | None = None) -> int:
    """Take the pictures stopped agents left on the X screen off it; how many windows."""
    x11 = _load("X11")
    if x11 is None:
        raise RendererError("libX11 is not installed")
    _declare(x11)
    display = x11.XOpenDisplay(display_name.encode() if display_name else None)
    if not display:
        raise RendererError(f"cannot open the X display {display_name or '(DISPLAY)'}")
    try:
        root = x11.XRootWindow(display, x11.XDefaultScreen(display))
        mark = int(x11.XInternAtom(display, MARK, 0))
        marked = _marked_windows(x11, display, root, mark)
        return _free(x11, display, _server_of(x11, display), marked)
    finally:
        x11.XCloseDisplay(display)


__all__ = ["ScreenSize", "X11Screen", "release_screen"]
