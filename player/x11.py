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

Call everything from one thread (the asyncio loop's); libvlc uses its own connection.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass

from player.errors import RendererError

log = logging.getLogger(__name__)

_CW_BACK_PIXEL = 1 << 1
_CW_OVERRIDE_REDIRECT = 1 << 9
_CW_CURSOR = 1 << 14


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


_COMPOSITE_REDIRECT_AUTOMATIC = 0


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
        which draws in a child window: black without it).
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
        attributes = _SetWindowAttributes()
        attributes.override_redirect = 1
        attributes.background_pixel = self._black
        attributes.cursor = self._cursor
        x11.XChangeWindowAttributes(
            display,
            window,
            _CW_OVERRIDE_REDIRECT | _CW_BACK_PIXEL | _CW_CURSOR,
            ctypes.byref(attributes),
        )
        x11.XStoreName(display, window, name.encode())
        if keep_contents and self._composite is not None:
            self._composite.XCompositeRedirectWindow(display, window, _COMPOSITE_REDIRECT_AUTOMATIC)
        x11.XMapRaised(display, window)
        x11.XSync(display, 0)  # mapped and painted black before the background goes
        if keep_last_picture:
            x11.XSetWindowBackgroundPixmap(display, window, 0)  # None
            x11.XSync(display, 0)
        self._windows.append(window)
        return window

    def raise_window(self, window: int) -> None:
        self._x11.XRaiseWindow(self._display, window)
        self._x11.XFlush(self._display)

    def destroy_window(self, window: int) -> None:
        if window in self._windows:
            self._windows.remove(window)
            self._x11.XDestroyWindow(self._display, window)
            self._x11.XFlush(self._display)

    def close(self) -> None:
        if not self._display:
            return
        for window in list(self._windows):
            self.destroy_window(window)
        self._x11.XUndefineCursor(self._display, self._root)
        self._x11.XFreeCursor(self._display, self._cursor)
        self._x11.XCloseDisplay(self._display)
        self._display = None


__all__ = ["ScreenSize", "X11Screen"]
