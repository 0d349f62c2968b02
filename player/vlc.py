"""`VlcRenderer`: the `Renderer` that draws through libvlc.

One libvlc instance and two media players for the life of the renderer (a new player
per item leaks memory), used as a double buffer: the player in front shows the current
item while the one behind opens the next (`prepare`), in its own full-screen window
under the front one (`player.x11`). A switch raises the window behind once its first
picture is out, so the screen never shows black or a half-opened item between two
items, and the old player is stopped after. Each item gets a fresh `Media`, released
when the next one replaces it in its player. What the notes measured shapes the rest:

- libvlc's event callbacks run on libvlc threads, and calling libvlc from them
  deadlocks the player. Callbacks only tag the event with its player's current token
  and hand it to the loop with `call_soon_threadsafe`; everything else runs there.
- `Playing` fires even for files that never show anything, and a garbage file ends
  40 ms later without an error. An item counts as started when its first picture is
  out (the `Vout` event, or time moving), and an item that ends before that having
  displayed no picture is reported as failed.
- Images are held on screen (`:image-duration=-1`) and timed on the loop: VLC's own
  image duration ends them about 0.15 s early, the loop timer is within 2%. Once its
  picture is out an image's (or message's) player is paused, so a still picture costs
  no decoding. In the renderer's own X11 window with one player it is stopped instead:
  a paused libvlc still redisplays its picture every 80 ms, and the window (background
  None) keeps the last picture with no video output alive. What needs a live output
  (the identify band, a turn) opens the picture again; snapshots use the picture file.
- libvlc cannot hold a video paused on its first picture (`:start-paused` decodes
  nothing; pausing at the `Vout` event loses the first frame and stalls 120 ms on
  resume: measured, see docs/player.md). A prepared video is therefore started behind
  the front window just early enough (libvlc's measured start-up time) for its first
  picture to land when the current item ends; a prepared image is opened at once. With
  one player, a video that follows a still image is opened in the same player that
  start-up time before the image ends: the window keeps the image until the video's
  first picture replaces it.
- A watchdog looks at the decoded-picture count of a playing video once a second; when
  it stops moving for `stall_timeout_s`, or libvlc stops answering, the players are
  recreated and the item reported as failed (`Recovered`, then `Failed`).
- A stream plays from its URL (`media_new`, with a bounded network cache) and is cut at
  its duration like a video with one. libvlc sends `Vout` for a stream as soon as the
  decoder is set up, before any picture (measured: 40 ms, nothing decoded yet, on a
  source that then sent nothing), so a stream counts as started only once libvlc has
  displayed a picture of it. The same watchdog looks at it; a stream whose pictures
  stop is the source's fault, not the player's: it fails (`Failed`, no recovery)
  and the engine moves on, so the screen holds a stalled stream's last picture for
  `stall_timeout_s` at most. A stream that cannot be opened, shows nothing within
  `start_timeout_s`, or ends before its duration fails too.

Its states are drawn in `player.vlc_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from player.errors import RendererError
from player.images import ROTATIONS, fitted_image, letterboxed
from player.items import PlayableItem, ScreenMessage, url_for_log
from player.libvlc import (
    call_with_timeout,
    ensure_xdg_runtime_dir,
    libvlc_version,
    load_vlc,
    new_instance,
)
from player.messages import render_message
from player.output import NO_GL_ARGS, VideoOutput
from player.overlay import identify_overlay
from player.renderer import EmitEvent, Ended, Failed, Recovered, RendererEvent, Started
from player.stills import StillPictures
from player.vlc_state import TRANSITIONS, Playback, RendererState, Signal, file_problem

if TYPE_CHECKING:
    import vlc

    from player.x11 import X11Screen

log = logging.getLogger(__name__)

T = TypeVar("T")

IDENTIFY_S = 10.0  # how long `identify` shows the screen's name
IDENTIFY_MAX_CHARS = 100
SNAPSHOT_ATTEMPTS = 6
SNAPSHOT_RETRY_S = 0.1
DEFAULT_SCREEN = (1920, 1080)
# libvlc's start-up (play() -> first picture) as first guessed, and its bounds; the
# renderer keeps a running average of what it measures.
STARTUP_GUESS_MS = 60.0
STARTUP_BOUNDS_MS = (10.0, 250.0)
# What libvlc buffers of a stream before it shows it: bounded, so a stream starts within
# about a second and a stall shows within about a second of the source going quiet.
NETWORK_CACHING_MS = 1000
# How long the next item waits for a player stopped off the loop (a stream's, or a held
# still picture's) before it gets a new player (the old one is released once its stop
# returns): see `VlcRenderer._stop_off_loop`.
STOP_WAIT_S = 1.0
# libvlc reports a video's end about 14 ms after its last frame reached the screen
# (Xvfb, session 8): a picture that follows is drawn a frame interval less this after
# the end, so that the last frame shows for its time. Frame intervals are taken up to
# FRAME_HOLD_MAX_S (a file may claim any rate).
END_AFTER_LAST_FRAME_S = 0.014
FRAME_HOLD_MAX_S = 1.0
# libvlc 3 ends a video's input when its last pictures are handed to the output, not
# shown: a video at a low frame rate ended up to two frames before its length, its last
# frame never shown (a 6 s clip at 1 fps ended after 4.0 s; a 1.5 s clip at 2 fps 50 ms
# after its first picture, in the window). One that ends earlier than this, and more
# than a frame interval, before its length keeps what it shows until its length is up.
EARLY_END_S = 0.1
# How long an image's picture is given to reach the screen before its player is paused.
IMAGE_PAUSE_AFTER_S = 0.5
WATCHDOG_PERIOD_S = 1.0
SIGNALS = (
    "MediaPlayerVout",
    "MediaPlayerTimeChanged",
    "MediaPlayerEndReached",
    "MediaPlayerEncounteredError",
)
_SIGNAL_OF = {
    "MediaPlayerVout": Signal.OUTPUT,
    "MediaPlayerTimeChanged": Signal.TIME,
    "MediaPlayerEndReached": Signal.END,
    "MediaPlayerEncounteredError": Signal.ERROR,
}


@dataclass(eq=False)
class _Slot:
    """One libvlc media player, its window (window output only) and what it shows."""

    name: str
    player: vlc.MediaPlayer
    events: vlc.EventManager  # kept alive: it owns the C callbacks
    window: int | None
    media: vlc.Media | None = None
    token: int = 0  # read by libvlc threads; only ever written on the loop thread
    playback: Playback | None = None
    shown_path: Path | None = None  # the file its media was opened from (None: a stream)
    paused: bool = False
    held: bool = False  # stopped on a still picture, which its window keeps on screen
    handlers: list[Any] = field(default_factory=list)
    stream: bool = False  # its media is a stream's: stopping it may block (`_stop_off_loop`)
    stopping: asyncio.Task[_Slot] | None = None  # its player being stopped off the loop


class VlcRenderer:
    """Plays items and shows messages through two libvlc media players (a double buffer)."""

    def __init__(
        self,
        *,
        video_output: VideoOutput,
        messages_dir: Path,
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        stall_timeout_s: float = 5.0,
        image_cache_dir: Path | None = None,
        screen_size: tuple[int, int] | None = None,
        rotation: int = 0,
        volume: int = 100,
        double_buffer: bool | None = None,
    ) -> None:
        self._video_output = video_output
        self._messages_dir = messages_dir
        self._image_cache_dir = image_cache_dir or messages_dir / "screen-sized"
        windowed = video_output.name == "window"
        extra = ("--no-disable-screensaver",) if windowed else ()  # see player.x11
        if windowed and double_buffer and not os.environ.get("WAYLAND_DISPLAY"):
            # Two players in stacked X11 windows: libvlc's GL output drew over the window
            # above its own under Xvfb; XVideo and X11 shared memory keep to the stacking.
            extra += NO_GL_ARGS
        # --no-osd: libvlc otherwise writes a snapshot's file name over the screen for a few
        # seconds (seen under Xvfb); the identify overlay is a sub-source filter, not OSD.
        self._args = (*video_output.vlc_args, "--no-osd", *extra, *extra_args)
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._screen_size = screen_size
        self._check_rotation(rotation)
        self._rotation = rotation
        self._volume = volume
        # Off by default: it shortens the switches after a picture, but libvlc's X11
        # output draws a video's first picture unscaled, so every video start showed
        # black and lost its first frame (bench/switch_gap.py, docs/player.md); KMS and
        # the framebuffer give the display to one output at a time anyway.
        self._double_buffer = bool(double_buffer)
        # With one player, a video after a still image is opened under the image just
        # early enough for its first picture to land at the image's end (`prepare`).
        self._lead_videos = True
        # Stop (not pause) a held still picture's player; decided in start(): X11 only.
        self._stop_held = False
        # Where the renderer's own X11 window is used with one player, still pictures are
        # drawn into it by the renderer (player.stills), not by libvlc; start() decides.
        self._draws_stills = True
        self._stills: StillPictures | None = None
        self._state = RendererState.NEW
        self._vlc: ModuleType | None = None
        self._instance: vlc.Instance | None = None
        self._screen: X11Screen | None = None
        self._slots: list[_Slot] = []
        self._front: _Slot | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emit: EmitEvent | None = None
        self._current: Playback | None = None
        self._next: Playback | None = None  # opened (or about to be) behind the front
        self._wanted_next: PlayableItem | None = None
        self._prepare_timer: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._startup_ms = STARTUP_GUESS_MS
        self._tokens = 0
        self._runtime_dir: Path | None = None
        # Held around blocking libvlc calls made off the loop (snapshot, stop), so that
        # close() never releases a player under a snapshot.
        self._blocking_calls = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._identify_text: str | None = None  # over the screen until the timer fires
        self._identify_timer: asyncio.TimerHandle | None = None
        self.recoveries = 0

    # --- state --------------------------------------------------------------------

    @property
    def state(self) -> RendererState:
        return self._state

    @property
    def message(self) -> ScreenMessage | None:
        """The message on screen (or opening), if a message is what was last asked for."""
        current = self._current
        return current.message if current is not None else None

    @property
    def item(self) -> PlayableItem | None:
        """The item last asked for, if an item is what was last asked for."""
        current = self._current
        return current.item if current is not None else None

    @property
    def screen_size(self) -> tuple[int, int]:
        """The size pictures are prepared for: the X screen's, else the configured one."""
        if self._screen is not None:
            return (self._screen.size.width, self._screen.size.height)
        return self._screen_size or DEFAULT_SCREEN

    @property
    def rotation(self) -> int:
        return self._rotation

    @property
    def volume(self) -> int:
        return self._volume

    def _set_state(self, new: RendererState) -> None:
        old = self._state
        if new == old and new != RendererState.OPENING:
            return
        if new not in TRANSITIONS[old]:
            raise RendererError(f"renderer cannot go from {old} to {new}")
        self._state = new
        log.debug("renderer: %s -> %s", old, new)

    # --- settings -----------------------------------------------------------------

    @staticmethod
    def _check_rotation(degrees: int) -> None:
        if degrees not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, not {degrees}")

    def set_rotation(self, degrees: int) -> None:
        """Turn the picture clockwise by 0, 90, 180 or 270 degrees, without a restart.

        A still picture or message on screen is shown again turned at once; a video
        playing keeps its turn until it ends, and the next item is turned.
        """
        self._check_rotation(degrees)
        if degrees == self._rotation:
            return
        log.info("rotation: %d -> %d degrees", self._rotation, degrees)
        self._rotation = degrees
        if self._state in (RendererState.NEW, RendererState.CLOSED):
            return
        self._discard_next()
        current = self._current
        if current is None or (current.finished and not current.held_picture):
            return
        if current.message is not None:
            self._open(current.message, None, self._message_path(current.message))
        elif current.item is not None and current.item.media_type == "image":
            # The same item again, turned: its timer runs on from where it was.
            self._reopen_turned(current)

    def set_volume(self, percent: int) -> None:
        """Audio volume 0..100 (up to 200 amplifies), applied at once to what plays."""
        if not 0 <= percent <= 200:
            raise ValueError(f"volume must be within 0..200, not {percent}")
        self._volume = percent
        for slot in self._slots:
            slot.player.audio_set_volume(percent)

    def identify(self, text: str, duration_s: float = IDENTIFY_S) -> bool:
        """Show `text` in large type on a dark band in the middle of the screen, over
        whatever is on it, for `duration_s` seconds. What plays is not touched: no event,
        no switch.

        libvlc's `logo` sub-source filter blends the band (player.overlay) on every
        player, so a switch meanwhile keeps it (drawn again for the new picture's size),
        and the loop takes it off after `duration_s`. It shows on the window output over
        videos, images and messages (paused ones too); the dummy output draws nothing, and
        libvlc leaves overlays out of snapshots (measured, docs/commands.md). False when
        the renderer is not open or the band cannot be drawn.
        """
        if self._state in (RendererState.NEW, RendererState.CLOSED) or self._loop is None:
            return False
        shown = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
        if len(shown) > IDENTIFY_MAX_CHARS:
            shown = shown[: IDENTIFY_MAX_CHARS - 1] + "…"
        self._identify_text = shown or "?"
        if self._identify_timer is not None:
            self._identify_timer.cancel()
        self._identify_timer = self._loop.call_later(duration_s, self._end_identify)
        shown_on = [slot for slot in self._slots if self._show_identify(slot)]
        if not shown_on:
            self._end_identify()
            return False
        self._wake_held()  # a stopped still has no output to lay the band on
        log.info("identify: showing %r over the screen for %.0f s", self._identify_text, duration_s)
        return True

    def _show_identify(self, slot: _Slot) -> bool:
        """Lay the identify band over `slot`'s picture, drawn for its size."""
        assert self._vlc is not None
        text = self._identify_text
        if text is None:
            return False
        try:
            overlay = identify_overlay(
                text, self._picture_size(slot), self._rotation, self._messages_dir / "overlays"
            )
        except OSError as exc:
            log.error("cannot draw the identify overlay into %s: %s", self._messages_dir, exc)
            return False
        if "," in str(overlay) or ";" in str(overlay):
            # libvlc reads logo-file as "file[,delay[,alpha]][;file...]"
            log.error("cannot show the identify overlay from %s: its path has , or ;", overlay)
            return False
        option = self._vlc.VideoLogoOption
        player = slot.player
        player.video_set_logo_string(option.logo_file, str(overlay))
        player.video_set_logo_int(option.logo_position, 0)  # centred
        player.video_set_logo_int(option.logo_opacity, 255)  # the band's own alpha applies
        player.video_set_logo_int(option.logo_enable, 1)
        return True

    def _end_identify(self) -> None:
        self._identify_timer = None
        self._identify_text = None
        if self._vlc is None:
            return
        for slot in self._slots:
            slot.player.video_set_logo_int(self._vlc.VideoLogoOption.logo_enable, 0)
        front = self._front
        if self._stop_held and front is not None and front.paused and not front.held:
            # Held paused for the band: stop it once the picture without it is out.
            self._rest_later(front)

    def _wake_held(self) -> None:
        """Open the held still picture on screen again, when its player is stopped."""
        front, current = self._front, self._current
        if (
            front is None
            or not front.held
            or front.shown_path is None
            or current is None
            or current.shown_at is None
            or current.slot is not front
            or self._next is not None
        ):
            return
        log.debug("opening the held picture %s again for a live output", front.shown_path)
        self._reshow(current, front.shown_path)

    def _picture_size(self, slot: _Slot) -> tuple[int, int]:
        """The size of the picture `slot` shows, as laid on the screen (overlays are
        blended in its pixels); the screen's before libvlc knows it."""
        try:
            width, height = slot.player.video_get_size(0)
        except Exception:  # python-vlc raises VLCException when there is no video yet
            width = height = 0
        if width <= 0 or height <= 0:
            return self.screen_size
        playback = slot.playback
        turned_video = (
            playback is not None and playback.item is not None
            and _moving(playback.item) and self._rotation in (90, 270)
        )  # fmt: skip
        # A video is turned by VLC's transform filter after it is decoded; pictures and
        # messages were turned before (player.images), so libvlc's size is the shown one.
        return (int(height), int(width)) if turned_video else (int(width), int(height))

    # --- life cycle -----------------------------------------------------------------

    async def start(self, emit: EmitEvent) -> None:
        if self._state != RendererState.NEW:
            raise RendererError(f"renderer already started (state {self._state})")
        self._loop = asyncio.get_running_loop()
        self._emit = emit
        self._runtime_dir = ensure_xdg_runtime_dir()
        module = load_vlc()
        if self._video_output.name == "window" and "WAYLAND_DISPLAY" not in os.environ:
            from player.x11 import X11Screen

            self._screen = X11Screen(os.environ.get("DISPLAY"))
            self._stop_held = not self._double_buffer
            if self._draws_stills and self._stop_held and self._screen.draws_pictures:
                self._stills = StillPictures(self._screen, self._spawn)
        instance = new_instance(module, self._args)
        self._vlc, self._instance = module, instance
        for name in ("a", "b") if self._double_buffer else ("a",):
            self._slots.append(self._new_slot(name))
        self._front = self._slots[-1]
        self._set_state(RendererState.IDLE)
        size = "x".join(map(str, self.screen_size))
        log.info(
            "libvlc %s ready, video output %r (%s, pictures fitted to %s%s): %s",
            libvlc_version(module),
            self._video_output.name,
            "double-buffered" if self._double_buffer else "one player",
            size,
            f", turned {self._rotation} degrees" if self._rotation else "",
            self._video_output.reason,
        )

    def _new_slot(self, name: str) -> _Slot:
        assert self._instance is not None and self._vlc is not None
        player = self._instance.media_player_new()
        window = None
        if self._screen is not None:
            # Double-buffered, the window behind must keep what its player drew (Composite),
            # or a raise shows black until libvlc's next picture.
            window = self._screen.new_window(
                f"signage {name}",
                keep_contents=self._double_buffer,
                keep_last_picture=self._stop_held,
            )
            player.set_xwindow(window)
        elif self._video_output.name == "window":
            # Wayland: libvlc's own window; --fullscreen does not reach a player's windows.
            player.set_fullscreen(True)
        player.audio_set_volume(self._volume)
        # python-vlc hands out one EventManager per player and keeps one callback per
        # event type in it: this renderer must be the only one attaching to its players.
        events = player.event_manager()
        slot = _Slot(name, player, events, window)
        for kind in SIGNALS:
            events.event_attach(
                getattr(self._vlc.EventType, kind), self._on_libvlc_event, slot, _SIGNAL_OF[kind]
            )
        return slot

    async def close(self) -> None:
        if self._state in (RendererState.NEW, RendererState.CLOSED):
            self._state = RendererState.CLOSED
            self._remove_runtime_dir()
            return
        self._drop_current()
        self._discard_next()
        self._cancel_watchdog()
        if self._identify_timer is not None:
            self._identify_timer.cancel()
            self._identify_timer = None
        self._identify_text = None
        for slot in self._slots:
            slot.token = -1
        self._set_state(RendererState.CLOSED)
        slots, instance = self._slots, self._instance
        self._slots, self._front, self._instance = [], None, None
        stopping = [slot.stopping for slot in slots if slot.stopping is not None]
        if stopping:  # a held picture's player being stopped: not released under it
            await asyncio.wait(stopping, timeout=2 * STOP_WAIT_S)
        try:
            async with asyncio.timeout(2 * self._stop_timeout_s), self._blocking_calls:
                await call_with_timeout(
                    lambda: self._release(slots, instance), self._stop_timeout_s, "stop"
                )
        except TimeoutError:
            log.error(
                "libvlc did not stop within %.0f s; leaving it behind. If the screen is "
                "frozen, restart the agent",
                self._stop_timeout_s,
            )
        else:
            self._remove_runtime_dir()
        if self._stills is not None:
            self._stills.close()
            self._stills = None
        if self._screen is not None:
            self._screen.close()
            self._screen = None

    def _release(self, slots: list[_Slot], instance: vlc.Instance | None) -> None:
        """Runs on a worker thread: stop, detach callbacks and release what we created."""
        assert self._vlc is not None
        for slot in slots:
            slot.player.stop()
            for kind in SIGNALS:
                slot.events.event_detach(getattr(self._vlc.EventType, kind))
            if slot.media is not None:
                slot.media.release()
                slot.media = None
            slot.player.release()
        if instance is not None:
            instance.release()

    def _remove_runtime_dir(self) -> None:
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None

    # --- commands -----------------------------------------------------------------

    def play(self, item: PlayableItem) -> None:
        self._require_open()
        prepared = self._next
        if (
            prepared is not None
            and prepared.shown_at is None  # not a re-show of the picture on screen
            and prepared.item is not None
            and _same(prepared.item, item)
        ):
            self._next = None
            self._promote(prepared, item)
            return
        self._discard_next()
        previous = self._current
        if (
            item.media_type == "image"
            and previous is not None
            and previous.item is not None
            and previous.held_picture
            and previous.item.media_type == "image"
            and _same(previous.item, item)
        ):
            # The same picture is on screen already: keep it rather than reopen it, so a
            # one-image playlist does not flicker every time round.
            playback = self._begin(item=item, message=None, has_media=False)
            playback.slot = previous.slot
            self._later(playback, self._on_picture, playback)
            return
        problem = None if item.path is None else file_problem(item.path)
        if problem is not None:
            # Leave the screen as it is; the engine moves on to the next item.
            playback = self._begin(item=item, message=None, has_media=False)
            self._later(playback, self._fail, playback, problem)
            return
        self._open(None, item, self._item_source(item))

    def prepare(self, item: PlayableItem | None) -> None:
        """`item` is likely to be played next: open it behind the screen, ready to switch.

        A hint only: `play()` of another item discards what was prepared. A stream is
        not opened ahead: it would take the network and play unseen behind the screen;
        it opens when `play()` asks for it.

        With one player only a video after a still image is opened ahead, in the same
        player, libvlc's start-up time before the image ends: the window keeps the
        image until the video's first picture, which then lands at the image's end
        instead of one start-up later. Anything else would cut what is on screen.
        """
        self._require_open()
        if (
            self._stills is not None
            and item is not None
            and item.media_type == "image"
            and item.path is not None
        ):
            self._spawn(self._load_still(item))  # loaded now, drawn at once when played
        if (
            item is None
            or item.url is not None
            or not (self._double_buffer or (self._lead_videos and item.media_type == "video"))
        ):
            self._discard_next()
            self._wanted_next = None
            return
        if self._next is not None and self._next.item is not None and _same(self._next.item, item):
            return
        self._discard_next()
        self._wanted_next = item
        self._schedule_prepare()

    async def _load_still(self, item: PlayableItem) -> None:
        """Fit `item`'s picture to the screen (a worker thread) and upload it."""
        assert item.path is not None  # prepare() asks for files only
        if file_problem(item.path) is not None:
            return  # play() reports it
        source = await asyncio.to_thread(self._item_source, item)
        if self._stills is not None and isinstance(source, Path):
            self._stills.load(source)

    def show_message(self, message: ScreenMessage) -> None:
        self._require_open()
        current = self._current
        if current is not None and current.message == message and not current.finished:
            return
        self._discard_next()
        path = self._message_path(message)
        if path is not None:
            self._open(message, None, path)

    async def snapshot(self, path: Path) -> bool:
        """Save the picture on screen to `path` (PNG). False when nothing could be saved.

        libvlc's snapshot of the front player where it has a video output; otherwise (it
        refuses, or the picture on screen is a held image or message) the picture file
        itself, fitted to the screen.
        """

        def take(player: vlc.MediaPlayer) -> bool:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Right after a switch the new video output is not registered yet and libvlc
            # refuses at once; a few tries over half a second get the new picture.
            for attempt in range(SNAPSHOT_ATTEMPTS):
                if attempt:
                    time.sleep(SNAPSHOT_RETRY_S)
                if player.video_take_snapshot(0, str(path), 0, 0) == 0:
                    return path.is_file() and path.stat().st_size > 0
            return False

        async with self._blocking_calls:
            front = self._front
            if front is None or self._state == RendererState.CLOSED:
                return False
            if front.held and front.shown_path is not None:
                # Stopped on a still picture: no output to ask, the file is what is shown.
                return await asyncio.to_thread(
                    _picture_snapshot, front.shown_path, path, self.screen_size
                )
            try:
                if await call_with_timeout(
                    lambda: take(front.player), self._stop_timeout_s, "snapshot"
                ):
                    return True
            except TimeoutError:
                log.warning(
                    "libvlc took longer than %.0f s to take a snapshot", self._stop_timeout_s
                )
            shown = front.shown_path
            if shown is None:
                return False
            return await asyncio.to_thread(_picture_snapshot, shown, path, self.screen_size)

    # --- opening media --------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state in (RendererState.NEW, RendererState.CLOSED):
            raise RendererError(f"renderer is {self._state}: call start() first")

    def _message_path(self, message: ScreenMessage) -> Path | None:
        try:
            drawn = render_message(message, self._messages_dir)
        except OSError as exc:
            log.error(
                "cannot draw the message %r into %s (%s); the screen keeps what it shows",
                message.headline,
                self._messages_dir,
                exc,
            )
            return None
        return self._fit(drawn, None)

    def _item_source(self, item: PlayableItem) -> Path | str:
        """Where libvlc opens `item` from: a file (a picture fitted to the screen), or a
        stream's URL."""
        if item.url is not None:
            return item.url
        assert item.path is not None  # PlayableItem: a file has its path
        return self._fit(item.path, item.sha256) if item.media_type == "image" else item.path

    def _fit(self, path: Path, sha256: str | None) -> Path:
        return fitted_image(
            path,
            screen=self.screen_size,
            rotation=self._rotation,
            cache_dir=self._image_cache_dir,
            sha256=sha256,
        )

    def _drop_current(self) -> None:
        if self._current is not None:
            self._current.cancel_timers()
            self._current.finished = True

    def _begin(
        self, *, item: PlayableItem | None, message: ScreenMessage | None, has_media: bool
    ) -> Playback:
        """A new playback replaces the current one; events of the old are ignored from now."""
        assert self._loop is not None
        self._drop_current()
        self._cancel_watchdog()
        self._tokens += 1
        playback = Playback(
            self._tokens, item, message, opened_at=self._loop.time(), has_media=has_media
        )
        self._current = playback
        self._set_state(RendererState.OPENING)
        return playback

    def _free_slot(self) -> _Slot:
        """The player not in front (the only one without double buffering)."""
        assert self._front is not None
        for slot in self._slots:
            if slot is not self._front:
                return slot
        return self._front

    def _load(self, slot: _Slot, source: Path | str, playback: Playback, *, still: bool) -> None:
        """Open `source` (a file, or a stream's URL) in `slot` for `playback` and start it."""
        assert self._instance is not None
        if slot.stream or slot.stopping is not None:
            self._load_after_stop(slot, source, playback, still=still)
            return
        if isinstance(source, str):
            media = self._instance.media_new(source)  # a location, not a path
            media.add_option(f":network-caching={NETWORK_CACHING_MS}")
        else:
            media = self._instance.media_new_path(str(source))
        if still:
            media.add_option(":image-duration=-1")  # held until replaced; timed on the loop
        elif self._rotation:
            media.add_option(":video-filter=transform")
            media.add_option(f":transform-type={self._rotation}")
        old_media = slot.media
        # set_media() stops the old input synchronously; its last events carry the old
        # token, so the token moves on only after it returns.
        slot.player.set_media(media)
        slot.media, slot.paused, slot.held = media, False, False
        slot.shown_path = source if isinstance(source, Path) else None
        slot.stream = isinstance(source, str)
        if old_media is not None:
            old_media.release()
        slot.token = playback.token
        slot.playback = playback
        playback.slot = slot
        if slot.player.play() != 0:
            playback.broken = "libvlc refused to start playing it"

    def _load_after_stop(
        self, slot: _Slot, source: Path | str, playback: Playback, *, still: bool
    ) -> None:
        """`_load` once `slot`'s player has stopped, unless `playback` is over by then."""
        stopping = self._stop_off_loop(slot)

        async def load() -> None:
            ready = await stopping
            if (
                playback.finished
                or self._state == RendererState.CLOSED
                or (playback is not self._current and playback is not self._next)
            ):
                return
            if ready not in self._slots:  # replaced meanwhile (a recovery)
                ready = self._free_slot()
            self._load(ready, source, playback, still=still)
            if playback.broken is not None and playback is self._current:
                self._later(playback, self._fail, playback, playback.broken)

        self._spawn(load())

    def _stop_off_loop(self, slot: _Slot) -> asyncio.Task[_Slot]:
        """Stop `slot`'s player on a worker thread (a stream's, or a held still picture's);
        the task gives the player to use next.

        libvlc's stop() waits for the input to end, and a stream's input can be stuck on
        its source: 5 s measured for an RTSP source that took the connection and never
        answered (VLC cannot interrupt ffmpeg's RTSP client). On the loop that would
        freeze the agent. A player that has not stopped within STOP_WAIT_S is
        replaced by a new one, so the next item is not held up, and released once its
        stop returns.
        """
        if slot.stopping is not None:
            return slot.stopping
        slot.token = -1  # its last events are of no playback
        slot.playback = None

        async def stop() -> _Slot:
            try:
                await call_with_timeout(slot.player.stop, STOP_WAIT_S, "stop")
            except TimeoutError:
                if self._state == RendererState.CLOSED or slot not in self._slots:
                    return slot
                log.warning(
                    "the VLC player has not stopped after %.0f s (a stream's source that does "
                    "not answer, or a stuck output); the next item gets a new player",
                    STOP_WAIT_S,
                )
                fresh = self._new_slot(slot.name)
                self._slots[self._slots.index(slot)] = fresh
                if self._front is slot:
                    self._front = fresh
                self._spawn(self._retire([slot], None, timeout_s=4 * self._stop_timeout_s))
                return fresh
            else:
                slot.stream = False
                return slot
            finally:
                slot.stopping = None

        slot.stopping = self._spawn(stop())
        return slot.stopping

    def _open(
        self, message: ScreenMessage | None, item: PlayableItem | None, source: Path | str
    ) -> None:
        still = message is not None or (item is not None and item.media_type == "image")
        if still and self._stills is not None and isinstance(source, Path):
            hold_until = self._last_frame_until()
            self._draw_still(
                self._begin(item=item, message=message, has_media=False), source, hold_until
            )
            return
        playback = self._begin(item=item, message=message, has_media=True)
        slot = self._free_slot()
        # A player with a stream, or stopping off the loop, is waited for up to STOP_WAIT_S.
        stop_wait_s = STOP_WAIT_S if slot.stream or slot.stopping is not None else 0.0
        self._load(slot, source, playback, still=still)
        no_picture = f"no picture after {self._start_timeout_s:.0f} s"
        if item is not None and item.url is not None:
            no_picture = (
                f"stream {url_for_log(item.url)} showed no picture within "
                f"{self._start_timeout_s:.0f} s (the source sends nothing, or nothing VLC "
                "can show)"
            )
        self._later(
            playback, self._fail, playback, no_picture, delay=self._start_timeout_s + stop_wait_s
        )
        if playback.broken is not None:
            self._later(playback, self._fail, playback, playback.broken)

    def _reopen_turned(self, current: Playback) -> None:
        """Show the image on screen again turned; its own timers carry on."""
        assert current.item is not None
        source = self._item_source(current.item)
        if self._stills is not None and isinstance(source, Path):
            self._redraw_still(current, source)
            return
        self._reshow(current, source)

    def _reshow(self, current: Playback, source: Path) -> None:
        """Open the still picture of `current` again from `source` (turned, or for a live
        output); `current` and its timers carry on."""
        slot = self._free_slot()
        self._tokens += 1
        again = Playback(
            self._tokens, current.item, current.message, opened_at=current.opened_at, prepared=True
        )
        self._load(slot, source, again, still=True)
        self._next = again  # shown by _on_prepared_signal as soon as its picture is out
        again.shown_at = current.shown_at  # marks it as a re-show of the current item

    def _last_frame_until(self) -> float | None:
        """When the last frame of the video that just played to its end has been on
        screen for its frame interval (loop clock), or None (not a video that ended)."""
        current = self._current
        if current is None or current.ended_at is None or not current.frame_s:
            return None
        hold_s = min(current.frame_s, FRAME_HOLD_MAX_S) - END_AFTER_LAST_FRAME_S
        return current.ended_at + max(0.0, hold_s)

    def _draw_still(self, playback: Playback, source: Path, hold_until: float | None) -> None:
        """Show a still picture by copying it into the window (player.stills): the front
        player is stopped first (off the loop) if it plays or shows anything, so that it
        draws nothing over the picture, and stays stopped while the picture shows. After
        a video that played to its end the picture waits until `hold_until`: the window
        keeps the video's last frame, which is shown for its frame interval."""
        assert self._stills is not None
        loading = self._stills.load(source)
        front = self._front
        assert front is not None
        stopping = None
        if not front.held or front.stopping is not None:
            front.held, front.paused = True, False
            stopping = self._stop_off_loop(front)

        async def show() -> None:
            picture = await loading
            slot = await stopping if stopping is not None else self._front
            assert self._loop is not None
            if hold_until is not None and hold_until > self._loop.time():
                await asyncio.sleep(hold_until - self._loop.time())
            if (
                playback is not self._current
                or playback.finished
                or self._stills is None
                or slot is None
                or slot.window is None
            ):
                return
            if isinstance(picture, str):
                self._fail(playback, picture)
                return
            self._stills.draw(slot.window, source, picture)
            slot.held, slot.paused, slot.shown_path = True, False, source
            playback.slot = slot
            self._on_picture(playback)
            if self._identify_text is not None:
                self._wake_held()  # the band is libvlc's: it shows the picture again with it

        self._spawn(show())
        self._later(
            playback,
            self._fail,
            playback,
            f"no picture after {self._start_timeout_s:.0f} s",
            delay=self._start_timeout_s + (STOP_WAIT_S if stopping is not None else 0.0),
        )

    def _redraw_still(self, current: Playback, source: Path) -> None:
        """Draw the still picture of `current` again from `source` (turned); its timers
        carry on."""
        assert self._stills is not None
        loading = self._stills.load(source)

        async def redraw() -> None:
            picture = await loading
            slot = current.slot
            if (
                current is not self._current
                or (current.finished and not current.held_picture)
                or self._stills is None
                or not isinstance(slot, _Slot)
                or slot is not self._front
                or not slot.held
                or slot.window is None
            ):
                return
            if isinstance(picture, str):
                log.warning("cannot show the picture on screen turned: %s", picture)
                return
            self._stills.draw(slot.window, source, picture)
            slot.shown_path = source

        self._spawn(redraw())

    # --- preparing the next item -------------------------------------------------------

    def _schedule_prepare(self) -> None:
        """Open the wanted next item now (images) or timed to land at the current's end."""
        assert self._loop is not None
        if self._prepare_timer is not None:
            self._prepare_timer.cancel()
            self._prepare_timer = None
        item, current = self._wanted_next, self._current
        if item is None or current is None or current.shown_at is None or current.finished:
            return  # tried again once the current item is on screen
        if not self._double_buffer:
            # One player: only a still image, held by the window, can have a video opened
            # under it; the image's own timer still ends it (`_finish`).
            if current.item is None or current.item.media_type != "image":
                return
        elif self._free_slot().playback is current:
            return
        delay = 0.0
        if item.media_type == "video":
            end = self._expected_end(current)
            if end is None:
                return  # a video playing to an unknown end: switch on its end instead
            delay = end - self._startup_ms / 1000 - self._loop.time()
        if delay > 0:
            self._prepare_timer = self._loop.call_later(delay, self._open_next)
        else:
            self._open_next()

    def _expected_end(self, current: Playback) -> float | None:
        if current.shown_at is None or current.item is None:
            return None
        planned = current.item.planned_ms
        if planned is None and current.slot is not None and current.item.media_type == "video":
            length = self._length_ms(current.slot)
            planned = length
        return None if planned is None else current.shown_at + planned / 1000

    def _open_next(self) -> None:
        self._prepare_timer = None
        item, current = self._wanted_next, self._current
        if item is None or current is None or self._state == RendererState.CLOSED:
            return
        self._wanted_next = None
        if item.path is None or file_problem(item.path) is not None:
            return  # play() opens a stream, and reports a broken file
        assert self._loop is not None
        self._tokens += 1
        playback = Playback(self._tokens, item, None, opened_at=self._loop.time(), prepared=True)
        self._load(
            self._free_slot(), self._item_source(item), playback, still=item.media_type == "image"
        )
        self._next = playback

    def _discard_next(self) -> None:
        if self._prepare_timer is not None:
            self._prepare_timer.cancel()
            self._prepare_timer = None
        prepared, self._next = self._next, None
        if prepared is None:
            return
        prepared.cancel_timers()
        prepared.finished = True
        slot = prepared.slot
        # Double-buffered, the front player may show the prepared item already (the
        # current one ended): left to the next load. With one player a video opened under
        # a still image is stopped at once, or it would play over the image.
        in_front = slot is self._front and self._double_buffer
        if isinstance(slot, _Slot) and not in_front and slot.playback is prepared:
            slot.token = -1
            slot.playback = None
            slot.player.stop()

    def _promote(self, prepared: Playback, item: PlayableItem) -> None:
        """`play(item)` of the prepared item: it becomes the current playback."""
        assert self._loop is not None
        self._drop_current()
        self._cancel_watchdog()
        prepared.item, prepared.prepared = item, False
        self._current = prepared
        self._set_state(RendererState.OPENING)
        if prepared.broken is not None:
            self._later(prepared, self._fail, prepared, prepared.broken)
        elif prepared.picture_out:
            self._later(prepared, self._on_picture, prepared)
        else:
            self._later(
                prepared,
                self._fail,
                prepared,
                f"no picture after {self._start_timeout_s:.0f} s",
                delay=max(self._start_timeout_s - (self._loop.time() - prepared.opened_at), 0),
            )

    def _present(self, playback: Playback) -> None:
        """Bring `playback`'s player to the front and stop the one it covers."""
        slot = playback.slot
        assert isinstance(slot, _Slot)
        old = self._front
        if slot is old:
            return
        if self._screen is not None and slot.window is not None:
            self._screen.raise_window(slot.window)
        self._front = slot
        if old is not None and old.playback is not self._next:
            old.token = -1
            old.playback = None
            if old.stream:
                self._stop_off_loop(old)
            else:
                old.player.stop()
        if self._wanted_next is not None:
            self._schedule_prepare()

    def _later(self, playback: Playback, callback: Any, *args: Any, delay: float = 0.0) -> None:
        """Run `callback(*args)` on the loop after `delay` unless `playback` is replaced."""
        assert self._loop is not None
        if delay <= 0:
            # call_soon keeps the order: it runs before any libvlc event handed over later.
            playback.timers.append(self._loop.call_soon(callback, *args))
        else:
            playback.timers.append(self._loop.call_later(delay, callback, *args))

    # --- events -------------------------------------------------------------------

    def _on_libvlc_event(self, _event: object, slot: _Slot, signal: Signal) -> None:
        # Runs on a libvlc thread. Calling libvlc here deadlocks the player, so only note
        # which playback the event belongs to and hand it to the loop.
        token = slot.token
        loop = self._loop
        if loop is None or token < 0:
            return
        # RuntimeError: the loop is closed, the process is shutting down.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_signal, slot, signal, token)

    def _on_signal(self, slot: _Slot, signal: Signal, token: int) -> None:
        playback = slot.playback
        if playback is None or playback.token != token or slot.token != token:
            return  # an event of a playback already replaced
        if signal in (Signal.OUTPUT, Signal.TIME):
            self._note_output(playback, signal)
            signal = Signal.PICTURE
        if playback.prepared:
            self._on_prepared_signal(playback, signal)
            return
        if playback.finished or playback is not self._current or not playback.has_media:
            return
        if signal is Signal.PICTURE:
            if (
                playback.shown_at is None
                and _is_stream(playback.item)
                and not self._stream_picture_out(playback.slot)
            ):
                return  # a stream's Vout comes before its first picture; time moving follows
            self._on_picture(playback)
        elif signal is Signal.END:
            self._on_end(playback)
        else:
            self._fail(playback, self._error_reason(playback))

    def _on_prepared_signal(self, playback: Playback, signal: Signal) -> None:
        assert self._loop is not None
        if signal is Signal.PICTURE:
            if playback.picture_out:
                return
            playback.picture_out = True
            current = self._current
            if playback.shown_at is not None and current is not None:
                # The current image again, turned (set_rotation): show it in its place.
                self._next = None
                self._present(playback)
                current.slot = playback.slot
                self._pause_later(playback)
            elif current is None or current.finished:
                # The current item is already over and holds its last picture: switch now.
                self._present(playback)
            return
        if playback.picture_out:
            return  # it broke after its first picture: play() will find out again
        playback.broken = (
            "VLC could not open or decode it"
            if signal is Signal.ERROR
            else "ended without showing a picture (damaged file, or not a video or image "
            "VLC can decode)"
        )

    def _note_output(self, playback: Playback, signal: Signal) -> None:
        """Keep a running average of a video's start-up: play() -> its picture on screen.

        libvlc's `Vout` event says a video output opened, not that a picture is out, and
        libvlc 3 opens the output once per decoder it tries (VA-API, VDPAU, software:
        three times here, measured about 20, 45 and 65 ms after play(), the picture on
        screen at about 90). Its first picture comes about one and a half opens' time
        after the last open (fitted to measurements under Xvfb, session 8: the last open
        + 25-34 ms), so a start-up is noted, once the input's time has moved (all opens
        done), as the last open's time times (opens + 1.5) / opens.
        """
        assert self._loop is not None
        if signal is Signal.OUTPUT:
            playback.outputs_opened += 1
            playback.output_opened_at = self._loop.time()
            return
        opened, last = playback.outputs_opened, playback.output_opened_at
        if (
            playback.startup_noted
            or last is None
            or playback.item is None
            or playback.item.media_type != "video"
        ):
            return
        playback.startup_noted = True
        sample = (last - playback.opened_at) * 1000 * (opened + 1.5) / opened
        low, high = STARTUP_BOUNDS_MS
        self._startup_ms = min(max(0.8 * self._startup_ms + 0.2 * sample, low), high)

    def _pause_later(self, playback: Playback) -> None:
        """Rest a still picture's player once its picture is out: no decoding while held."""
        slot = playback.slot
        if isinstance(slot, _Slot):
            self._rest_later(slot)

    def _rest_later(self, slot: _Slot) -> None:
        """In IMAGE_PAUSE_AFTER_S, pause `slot`'s player on its still picture, or stop it
        (X11 window, one player) unless the identify band is over it: a paused libvlc
        output still wakes every 80 ms to redisplay; a stopped one leaves the picture in
        the window (its background is None) with no output alive."""
        assert self._loop is not None
        token = slot.token

        def rest() -> None:
            if slot.token != token or slot.held or slot not in self._slots:
                return
            if self._stop_held and self._identify_text is None and slot is self._front:
                slot.held, slot.paused = True, False
                # Off the loop, as a stream is: the next load waits for it (`_load`).
                self._stop_off_loop(slot)
            elif not slot.paused:
                slot.player.set_pause(1)
                slot.paused = True

        self._loop.call_later(IMAGE_PAUSE_AFTER_S, rest)

    def _on_picture(self, playback: Playback) -> None:
        if playback.shown_at is not None or playback.finished or playback is not self._current:
            return
        assert self._loop is not None
        playback.cancel_timers()  # the start timeout
        if playback.has_media:
            playback.picture_out = True
            self._present(playback)
        playback.shown_at = self._loop.time()
        if self._identify_text is not None and isinstance(playback.slot, _Slot):
            self._show_identify(playback.slot)  # drawn for the new picture's size
        if playback.message is not None:
            self._pause_later(playback)
            self._set_state(RendererState.MESSAGE)
            return
        item = playback.item
        assert item is not None
        self._set_state(RendererState.PLAYING)
        length_ms = None
        if item.media_type == "video":
            length_ms = playback.length_ms = self._length_ms(playback.slot)
            playback.frame_s = self._frame_s(playback.slot)
        if _moving(item):
            self._start_watchdog(playback)
        elif playback.has_media:
            self._pause_later(playback)
        planned_ms = item.planned_ms
        if planned_ms is not None:
            # Images, and videos cut short: the loop ends them.
            self._later(playback, self._finish, playback, delay=planned_ms / 1000)
        elif length_ms is not None:
            # A video plays to its end; if the end never comes, do not freeze on it.
            grace_s = max(10.0, length_ms / 2000)
            self._later(
                playback,
                self._fail,
                playback,
                f"still playing {grace_s:.0f} s after its length of {length_ms / 1000:.1f} s",
                delay=length_ms / 1000 + grace_s,
            )
        known_ms = [ms for ms in (planned_ms, length_ms) if ms is not None]
        self._send(Started(item, _utc_now(), min(known_ms) if known_ms else None))
        if self._wanted_next is not None:
            self._schedule_prepare()

    def _on_end(self, playback: Playback) -> None:
        if playback.message is not None:
            log.error("the message picture %r stopped showing", playback.message.headline)
            playback.cancel_timers()
            playback.finished = True
            self._set_state(RendererState.IDLE)
            return
        assert self._loop is not None and playback.item is not None
        playback.ended_at = self._loop.time()
        early_s = self._ended_early_s(playback)
        url = playback.item.url
        if playback.shown_at is None:
            if not (
                self._stream_picture_out(playback.slot)
                if url is not None
                else self._displayed_pictures(playback.slot) > 0
            ):
                elapsed_ms = (self._loop.time() - playback.opened_at) * 1000
                self._fail(
                    playback,
                    f"ended after {elapsed_ms:.0f} ms without showing a picture "
                    "(damaged file, or not a video or image VLC can decode)"
                    if url is None
                    else f"stream {url_for_log(url)} ended after {elapsed_ms:.0f} ms without "
                    "showing a picture (the source sent nothing VLC can show)",
                )
                return
            self._on_picture(playback)
        if url is not None and playback.shown_at is not None:
            # A stream has no end of its own: one that ends before its time was cut off at
            # the source (a live stream stopped, or a file shorter than the item's duration).
            played_s = self._loop.time() - playback.shown_at
            planned_s = (playback.item.planned_ms or 0) / 1000
            self._fail(
                playback,
                f"stream {url_for_log(url)} ended after {played_s:.1f} s of its "
                f"{planned_s:.0f} s: the source stopped sending it",
            )
            return
        if early_s > 0:
            # What is on screen stays for the rest of the video's length (not frozen: the
            # video is over), then the next item comes as it would have.
            self._cancel_watchdog()
            self._later(playback, self._finish, playback, False, delay=early_s)
            return
        self._finish(playback, held=False)

    def _ended_early_s(self, playback: Playback) -> float:
        """How long before its length a video file on screen ended, when by more than
        EARLY_END_S and a frame interval (libvlc 3 at low frame rates); else 0."""
        assert self._loop is not None
        item = playback.item
        if (
            item is None
            or item.media_type != "video"
            or item.url is not None
            or playback.shown_at is None
            or playback.length_ms is None
        ):
            return 0.0
        planned_ms = min(playback.length_ms, item.planned_ms or playback.length_ms)
        early_s = playback.shown_at + planned_ms / 1000 - self._loop.time()
        return early_s if early_s > max(EARLY_END_S, playback.frame_s or 0.0) else 0.0

    def _finish(self, playback: Playback, held: bool = True) -> None:
        if playback.finished or playback.item is None or playback.shown_at is None:
            return
        assert self._loop is not None
        playback.cancel_timers()
        playback.finished = True
        playback.held_picture = held
        self._cancel_watchdog()
        self._set_state(RendererState.HELD)
        prepared = self._next
        if prepared is not None and prepared.picture_out and prepared.broken is None:
            # The next item is ready behind: switch in the same loop turn as the end.
            self._present(prepared)
        played_ms = round((self._loop.time() - playback.shown_at) * 1000)
        self._send(Ended(playback.item, _utc_now(), played_ms))

    def _fail(self, playback: Playback, reason: str) -> None:
        if playback.finished or playback is not self._current:
            return
        playback.cancel_timers()
        playback.finished = True
        self._cancel_watchdog()
        shown = playback.shown_at is not None
        self._set_state(RendererState.HELD if shown else RendererState.IDLE)
        if playback.item is not None:
            self._send(Failed(playback.item, reason))
        else:
            log.error("cannot show the message picture: %s", reason)

    def _error_reason(self, playback: Playback) -> str:
        """What libvlc's error event means for `playback`, for a person."""
        url = playback.item.url if playback.item is not None else None
        if url is None:
            return "VLC could not open or decode it"
        if playback.shown_at is None:
            return (
                f"cannot open stream {url_for_log(url)}: VLC could not connect to it or read "
                "it (check the address, and that the source is on and reachable from here)"
            )
        assert self._loop is not None
        played_s = self._loop.time() - playback.shown_at
        return f"stream {url_for_log(url)} broke off after {played_s:.1f} s: VLC could not read it"

    def _send(self, event: RendererEvent) -> None:
        assert self._emit is not None
        self._emit(event)

    # --- watchdog -----------------------------------------------------------------

    def _start_watchdog(self, playback: Playback) -> None:
        assert self._loop is not None
        self._cancel_watchdog()
        playback.frames_seen, playback.frames_still_since = -1, self._loop.time()
        self._watchdog = self._loop.call_later(WATCHDOG_PERIOD_S, self._watch, playback)

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _watch(self, playback: Playback) -> None:
        """Once a second while a video or stream plays: is libvlc answering, the picture moving?"""
        self._watchdog = None
        if playback is not self._current or playback.finished:
            return
        slot = playback.slot
        assert isinstance(slot, _Slot)
        self._spawn(self._watch_once(playback, slot))

    async def _watch_once(self, playback: Playback, slot: _Slot) -> None:
        assert self._loop is not None
        try:
            frames = await call_with_timeout(
                lambda: self._decoded_pictures(slot), self._stop_timeout_s, "watchdog"
            )
        except TimeoutError:
            if playback is self._current and not playback.finished:
                await self._recover(playback, "libvlc stopped answering", wedged=True)
            return
        if playback is not self._current or playback.finished:
            return
        now = self._loop.time()
        if frames != playback.frames_seen:
            playback.frames_seen, playback.frames_still_since = frames, now
        elif now - (playback.frames_still_since or now) >= self._stall_timeout_s:
            still_s = now - (playback.frames_still_since or now)
            url = playback.item.url if playback.item is not None else None
            if url is not None:
                # The source went quiet: the player is fine (stopping a stream waiting on
                # the network took 2 ms, measured), so no recovery; the engine moves on.
                self._fail(
                    playback,
                    f"stream {url_for_log(url)} stopped sending pictures: no new picture "
                    f"for {still_s:.0f} s",
                )
                return
            await self._recover(
                playback, f"the picture stopped: no new video frame for {still_s:.0f} s"
            )
            return
        self._watchdog = self._loop.call_later(WATCHDOG_PERIOD_S, self._watch, playback)

    async def _recover(self, playback: Playback, reason: str, *, wedged: bool = False) -> None:
        """Replace the players (and the libvlc instance if it hangs); fail the item."""
        assert self._vlc is not None and self._loop is not None
        item = playback.item
        log.error(
            "playback of %s: %s; recreating the VLC player%s and moving on",
            f'"{item.name}"' if item else "a message",
            reason,
            " and instance" if wedged else "",
        )
        self.recoveries += 1
        self._discard_next()
        old_slots, old_instance = self._slots, self._instance
        for slot in old_slots:
            slot.token = -1
            slot.playback = None
        if wedged:
            self._instance = new_instance(self._vlc, self._args)
        self._slots = [self._new_slot(slot.name) for slot in old_slots]
        self._front = self._slots[-1]
        self._send(Recovered(reason, item))
        self._fail(playback, reason)
        release_old = self._retire(
            old_slots, old_instance if wedged else None, timeout_s=self._stop_timeout_s
        )
        if not wedged:
            await release_old
        else:
            self._spawn(release_old)

    async def _retire(
        self, slots: list[_Slot], instance: vlc.Instance | None, *, timeout_s: float
    ) -> None:
        """Release players taken out of use (and their windows), off the loop."""
        try:
            await call_with_timeout(lambda: self._release(slots, instance), timeout_s, "release")
        except TimeoutError:
            log.error("the old VLC player did not stop; it is left behind")
            return
        if self._screen is not None:
            for slot in slots:
                if slot.window is not None:
                    self._screen.destroy_window(slot.window)

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` as a task on the loop, referenced until done (never collected mid-way)."""
        assert self._loop is not None
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- getters (safe from the loop thread) -----------------------------------------

    def _length_ms(self, slot: object) -> int | None:
        if not isinstance(slot, _Slot):
            return None
        length = slot.player.get_length()
        return length if length and length > 0 else None

    def _frame_s(self, slot: object) -> float | None:
        """A video's frame interval from its frame rate, None when libvlc has none."""
        if not isinstance(slot, _Slot):
            return None
        fps = slot.player.get_fps()
        return 1 / fps if fps and math.isfinite(fps) and fps > 0 else None

    def _stats(self, slot: object) -> vlc.MediaStats | None:
        assert self._vlc is not None
        if not isinstance(slot, _Slot) or slot.media is None:
            return None
        stats = self._vlc.MediaStats()
        return stats if slot.media.get_stats(stats) else None

    def _displayed_pictures(self, slot: object) -> int:
        # Displayed, not decoded: a truncated PNG counts one decoded picture that never
        # reaches the screen.
        stats = self._stats(slot)
        return int(stats.displayed_pictures) if stats is not None else 0

    def _decoded_pictures(self, slot: object) -> int:
        stats = self._stats(slot)
        return int(stats.decoded_video) if stats is not None else 0

    def _stream_picture_out(self, slot: object) -> bool:
        """Whether a stream has shown a picture: one displayed, or one decoded with its
        clock running. libvlc's displayed count alone missed it (0 while a stream played
        to 960 ms on the dummy output, 1 run in 25), and its `Vout` event comes early."""
        if not isinstance(slot, _Slot):
            return False
        stats = self._stats(slot)
        if stats is None:
            return False
        if stats.displayed_pictures > 0:
            return True
        return stats.decoded_video > 0 and slot.player.get_time() > 0


def _same(a: PlayableItem, b: PlayableItem) -> bool:
    return a.key == b.key and a.sha256 == b.sha256 and a.path == b.path and a.url == b.url


def _is_stream(item: PlayableItem | None) -> bool:
    return item is not None and item.url is not None


def _moving(item: PlayableItem) -> bool:
    """A video or a stream: decoded picture after picture, watched by the watchdog."""
    return item.media_type in ("video", "stream")


def _picture_snapshot(source: Path, target: Path, screen: tuple[int, int]) -> bool:
    """`source` letterboxed onto a black picture of the screen's size, saved as PNG."""
    try:
        with Image.open(source) as picture:
            canvas = letterboxed(picture.convert("RGBA"), screen)
        target.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(target, format="PNG")
    except OSError as exc:
        log.warning("cannot save a snapshot of %s to %s: %s", source, target, exc)
        return False
    return True


def _utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["TRANSITIONS", "RendererState", "VlcRenderer"]
