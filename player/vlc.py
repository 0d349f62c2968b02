"""`VlcRenderer`: the `Renderer` that draws through libvlc.

One libvlc instance and one media player for the life of the renderer (a new player per
item leaks memory); each item gets a fresh `Media`, released when the next one replaces
it. What the notes measured on these machines shapes the rest:

- libvlc's event callbacks run on libvlc threads, and calling libvlc from them
  deadlocks the player. Callbacks only tag the event with the current playback's token
  and hand it to the loop with `call_soon_threadsafe`; everything else runs there.
- `Playing` fires even for files that never show anything, and a garbage file ends
  40 ms later without an error. An item counts as started when its first picture is
  out (the `Vout` event, or time moving), and an item that ends before that having
  displayed no picture is reported as failed.
- Images are held on screen (`:image-duration=-1`) and timed on the loop: VLC's own
  image duration ends them about 0.15 s early, the loop timer is within 2%.

Its states are drawn in `player.vlc_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from player.errors import RendererError
from player.items import PlayableItem, ScreenMessage
from player.libvlc import (
    call_with_timeout,
    ensure_xdg_runtime_dir,
    libvlc_version,
    load_vlc,
    new_instance,
)
from player.messages import render_message
from player.output import VideoOutput
from player.renderer import EmitEvent, Ended, Failed, RendererEvent, Started
from player.vlc_state import TRANSITIONS, Playback, RendererState, Signal, file_problem

if TYPE_CHECKING:
    import vlc

log = logging.getLogger(__name__)

SNAPSHOT_ATTEMPTS = 6
SNAPSHOT_RETRY_S = 0.1


class VlcRenderer:
    """Plays items and shows messages through one libvlc media player."""

    def __init__(
        self,
        *,
        video_output: VideoOutput,
        messages_dir: Path,
        extra_args: Sequence[str] = (),
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self._video_output = video_output
        self._messages_dir = messages_dir
        self._args = (*video_output.vlc_args, *extra_args)
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._state = RendererState.NEW
        self._vlc: ModuleType | None = None
        self._instance: vlc.Instance | None = None
        self._player: vlc.MediaPlayer | None = None
        self._events: vlc.EventManager | None = None  # kept alive: it owns the C callback
        self._media: vlc.Media | None = None  # the media set in the player
        self._loop: asyncio.AbstractEventLoop | None = None
        self._emit: EmitEvent | None = None
        self._current: Playback | None = None
        # Read by libvlc threads; only ever written on the loop thread.
        self._token = 0
        self._runtime_dir: Path | None = None
        # Held around blocking libvlc calls made off the loop (snapshot, stop), so that
        # close() never releases the player under a snapshot.
        self._blocking_calls = asyncio.Lock()

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

    def _set_state(self, new: RendererState) -> None:
        old = self._state
        if new == old and new != RendererState.OPENING:
            return
        if new not in TRANSITIONS[old]:
            raise RendererError(f"renderer cannot go from {old} to {new}")
        self._state = new
        log.debug("renderer: %s -> %s", old, new)

    # --- life cycle -----------------------------------------------------------------

    async def start(self, emit: EmitEvent) -> None:
        if self._state != RendererState.NEW:
            raise RendererError(f"renderer already started (state {self._state})")
        self._loop = asyncio.get_running_loop()
        self._emit = emit
        self._runtime_dir = ensure_xdg_runtime_dir()
        module = load_vlc()
        instance = new_instance(module, self._args)
        player = instance.media_player_new()
        if self._video_output.name not in ("dummy", "kms"):
            # The --fullscreen option does not reach a libvlc media player's windows.
            player.set_fullscreen(True)
        # python-vlc hands out one EventManager per player and keeps one callback per
        # event type in it: this renderer must be the only one attaching to its player.
        events = player.event_manager()
        kinds = module.EventType
        for kind, signal in (
            (kinds.MediaPlayerVout, Signal.PICTURE),
            (kinds.MediaPlayerTimeChanged, Signal.PICTURE),
            (kinds.MediaPlayerEndReached, Signal.END),
            (kinds.MediaPlayerEncounteredError, Signal.ERROR),
        ):
            events.event_attach(kind, self._on_libvlc_event, signal)
        self._vlc, self._instance, self._player, self._events = module, instance, player, events
        self._set_state(RendererState.IDLE)
        log.info(
            "libvlc %s ready, video output %r: %s",
            libvlc_version(module),
            self._video_output.name,
            self._video_output.reason,
        )

    async def close(self) -> None:
        if self._state in (RendererState.NEW, RendererState.CLOSED):
            self._state = RendererState.CLOSED
            self._remove_runtime_dir()
            return
        self._drop_current()
        self._token += 1
        self._set_state(RendererState.CLOSED)
        try:
            async with asyncio.timeout(2 * self._stop_timeout_s), self._blocking_calls:
                await call_with_timeout(self._release_all, self._stop_timeout_s, "stop")
        except TimeoutError:
            log.error(
                "libvlc did not stop within %.0f s; leaving it behind. If the screen is "
                "frozen, restart the agent",
                self._stop_timeout_s,
            )
        else:
            self._remove_runtime_dir()

    def _release_all(self) -> None:
        """Runs on a worker thread: stop, detach callbacks and release what we created."""
        player, events, module = self._player, self._events, self._vlc
        if player is None or events is None or module is None:
            return
        player.stop()
        kinds = module.EventType
        for kind in (
            kinds.MediaPlayerVout,
            kinds.MediaPlayerTimeChanged,
            kinds.MediaPlayerEndReached,
            kinds.MediaPlayerEncounteredError,
        ):
            events.event_detach(kind)
        if self._media is not None:
            self._media.release()
            self._media = None
        player.release()
        if self._instance is not None:
            self._instance.release()
        self._player = self._instance = self._events = None

    def _remove_runtime_dir(self) -> None:
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None

    # --- commands -----------------------------------------------------------------

    def play(self, item: PlayableItem) -> None:
        self._require_open()
        previous = self._current
        if (
            item.media_type == "image"
            and previous is not None
            and previous.item is not None
            and previous.held_picture
            and previous.item.media_type == "image"
            and previous.item.path == item.path
            and previous.item.sha256 == item.sha256
        ):
            # The same picture is on screen already: keep it rather than reopen it, so a
            # one-image playlist does not flicker every time round.
            playback = self._begin(item=item, message=None, has_media=False)
            self._later(playback, self._on_picture, playback)
            return
        problem = file_problem(item.path)
        if problem is not None:
            # Leave the screen as it is; the engine moves on to the next item.
            playback = self._begin(item=item, message=None, has_media=False)
            self._later(playback, self._fail, playback, problem)
            return
        self._open(item.path, item=item, message=None)

    def show_message(self, message: ScreenMessage) -> None:
        self._require_open()
        current = self._current
        if current is not None and current.message == message and not current.finished:
            return
        try:
            path = render_message(message, self._messages_dir)
        except OSError as exc:
            log.error(
                "cannot draw the message %r into %s (%s); the screen keeps what it shows",
                message.headline,
                self._messages_dir,
                exc,
            )
            return
        self._open(path, item=None, message=message)

    async def snapshot(self, path: Path) -> bool:
        """Save the picture on screen to `path` (PNG). False when nothing could be saved."""

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
            player = self._player
            if player is None or self._state == RendererState.CLOSED:
                return False
            try:
                return await call_with_timeout(
                    lambda: take(player), self._stop_timeout_s, "snapshot"
                )
            except TimeoutError:
                log.warning(
                    "libvlc took longer than %.0f s to take a snapshot", self._stop_timeout_s
                )
                return False

    # --- opening media --------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state in (RendererState.NEW, RendererState.CLOSED):
            raise RendererError(f"renderer is {self._state}: call start() first")

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
        self._token += 1
        playback = Playback(
            self._token, item, message, opened_at=self._loop.time(), has_media=has_media
        )
        self._current = playback
        self._set_state(RendererState.OPENING)
        return playback

    def _open(
        self, path: Path, *, item: PlayableItem | None, message: ScreenMessage | None
    ) -> None:
        assert self._instance is not None and self._player is not None
        media = self._instance.media_new_path(str(path))
        if message is not None or (item is not None and item.media_type == "image"):
            media.add_option(":image-duration=-1")  # held until replaced; timed on the loop
        old_media = self._media
        # set_media() stops the old input synchronously; its last events carry the old
        # token, so the token moves on only after it returns.
        self._player.set_media(media)
        self._media = media
        if old_media is not None:
            old_media.release()
        playback = self._begin(item=item, message=message, has_media=True)
        self._later(
            playback,
            self._fail,
            playback,
            f"no picture after {self._start_timeout_s:.0f} s",
            delay=self._start_timeout_s,
        )
        if self._player.play() != 0:
            self._later(playback, self._fail, playback, "libvlc refused to start playing it")

    def _later(self, playback: Playback, callback: Any, *args: Any, delay: float = 0.0) -> None:
        """Run `callback(*args)` on the loop after `delay` unless `playback` is replaced."""
        assert self._loop is not None
        if delay <= 0:
            # call_soon keeps the order: it runs before any libvlc event handed over later.
            playback.timers.append(self._loop.call_soon(callback, *args))
        else:
            playback.timers.append(self._loop.call_later(delay, callback, *args))

    # --- events -------------------------------------------------------------------

    def _on_libvlc_event(self, _event: object, signal: Signal) -> None:
        # Runs on a libvlc thread. Calling libvlc here deadlocks the player, so only note
        # which playback the event belongs to and hand it to the loop.
        token = self._token
        loop = self._loop
        if loop is None:
            return
        # RuntimeError: the loop is closed, the process is shutting down.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._on_signal, signal, token)

    def _on_signal(self, signal: Signal, token: int) -> None:
        playback = self._current
        if playback is None or playback.token != token or playback.finished:
            return  # an event of a playback already replaced
        if not playback.has_media:
            return  # the media playing belongs to an earlier playback
        if signal is Signal.PICTURE:
            self._on_picture(playback)
        elif signal is Signal.END:
            self._on_end(playback)
        else:
            self._fail(playback, "VLC could not open or decode it")

    def _on_picture(self, playback: Playback) -> None:
        if playback.shown_at is not None or playback.finished or playback is not self._current:
            return
        assert self._loop is not None
        playback.cancel_timers()  # the start timeout
        playback.shown_at = self._loop.time()
        if playback.message is not None:
            self._set_state(RendererState.MESSAGE)
            return
        item = playback.item
        assert item is not None
        self._set_state(RendererState.PLAYING)
        length_ms = self._video_length_ms() if item.media_type == "video" else None
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

    def _on_end(self, playback: Playback) -> None:
        if playback.message is not None:
            log.error("the message picture %r stopped showing", playback.message.headline)
            playback.cancel_timers()
            playback.finished = True
            self._set_state(RendererState.IDLE)
            return
        if playback.shown_at is None:
            if self._displayed_pictures() == 0:
                assert self._loop is not None
                elapsed_ms = (self._loop.time() - playback.opened_at) * 1000
                self._fail(
                    playback,
                    f"ended after {elapsed_ms:.0f} ms without showing a picture "
                    "(damaged file, or not a video or image VLC can decode)",
                )
                return
            self._on_picture(playback)
        self._finish(playback, held=False)

    def _finish(self, playback: Playback, held: bool = True) -> None:
        if playback.finished or playback.item is None or playback.shown_at is None:
            return
        assert self._loop is not None
        playback.cancel_timers()
        playback.finished = True
        playback.held_picture = held
        self._set_state(RendererState.HELD)
        played_ms = round((self._loop.time() - playback.shown_at) * 1000)
        self._send(Ended(playback.item, _utc_now(), played_ms))

    def _fail(self, playback: Playback, reason: str) -> None:
        if playback.finished or playback is not self._current:
            return
        playback.cancel_timers()
        playback.finished = True
        shown = playback.shown_at is not None
        self._set_state(RendererState.HELD if shown else RendererState.IDLE)
        if playback.item is not None:
            self._send(Failed(playback.item, reason))
        else:
            log.error("cannot show the message picture: %s", reason)

    def _send(self, event: RendererEvent) -> None:
        assert self._emit is not None
        self._emit(event)

    # --- getters (safe from the loop thread) -----------------------------------------

    def _video_length_ms(self) -> int | None:
        assert self._player is not None
        length = self._player.get_length()
        return length if length and length > 0 else None

    def _displayed_pictures(self) -> int:
        assert self._vlc is not None
        if self._media is None:
            return 0
        stats = self._vlc.MediaStats()
        if not self._media.get_stats(stats):
            return 0
        # Displayed, not decoded: a truncated PNG counts one decoded picture that never
        # reaches the screen.
        return int(stats.displayed_pictures)


def _utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["TRANSITIONS", "RendererState", "VlcRenderer"]
