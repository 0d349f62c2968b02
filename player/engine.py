"""`Player`: the playback engine. It decides what is on screen and keeps it there.

It loops over the playlist through a `Renderer`, skips items that fail (each backs off
on its own, see `player.sequence`), shows the current `ScreenMessage` when the playlist
is empty and a notice when every item is failing, and tells a `PlayerListener` about
every start, end and failure. The decisions are the pure functions of
`player.sequence`; this class only carries them out, one input at a time, from a single
queue fed by `set_playlist`, `show_message`, the renderer's events and its own retry
timer, so nothing here ever runs concurrently with itself.

States:

    NEW --run--> PLAYING | MESSAGE        (whichever the playlist calls for)
    PLAYING <--> MESSAGE                  (the playlist became empty / non-empty)
    PLAYING <--> BACKING_OFF              (every item is failing: a notice is shown
                                           until the first one may be tried again)
    MESSAGE <--> BACKING_OFF              (a new playlist whose items are all failing)
    PLAYING --> PLAYING                   (the next item)
    any --run ends--> STOPPED
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from player.errors import PlayerError
from player.items import (
    DEFAULT_MESSAGE,
    FAILING_MESSAGE,
    Ending,
    NowPlaying,
    PlayableItem,
    PlayerListener,
    ScreenMessage,
    describe,
)
from player.renderer import Ended, Failed, Recovered, Renderer, RendererEvent, Started
from player.sequence import (
    Failures,
    FinishThenStart,
    KeepPlaying,
    Plan,
    RetryPolicy,
    ShowMessage,
    StartAt,
    entry_id,
    first_playable,
    forget_missing,
    next_retry,
    plan_change,
    record_failure,
    record_success,
)

log = logging.getLogger(__name__)


class PlayerState(enum.StrEnum):
    NEW = "new"
    PLAYING = "playing"
    MESSAGE = "message"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


_RUNNING = {PlayerState.PLAYING, PlayerState.MESSAGE, PlayerState.BACKING_OFF}
TRANSITIONS: dict[PlayerState, set[PlayerState]] = {
    PlayerState.NEW: {*_RUNNING, PlayerState.STOPPED},
    PlayerState.PLAYING: {*_RUNNING, PlayerState.STOPPED},
    PlayerState.MESSAGE: {PlayerState.PLAYING, PlayerState.BACKING_OFF, PlayerState.STOPPED},
    PlayerState.BACKING_OFF: {PlayerState.PLAYING, PlayerState.MESSAGE, PlayerState.STOPPED},
    PlayerState.STOPPED: set(),
}


@dataclass(frozen=True)
class _PlaylistChanged:
    """`set_playlist` was called; the newest list waits in `Player._pending`."""


@dataclass(frozen=True)
class _MessageChanged:
    pass


@dataclass(frozen=True)
class _RetryDue:
    generation: int


_Input = _PlaylistChanged | _MessageChanged | _RetryDue | RendererEvent


class Player:
    """Plays a playlist in a loop through `renderer`; never leaves the screen without content."""

    def __init__(
        self,
        *,
        renderer: Renderer,
        listener: PlayerListener,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._renderer = renderer
        self._listener = listener
        self._retry = retry or RetryPolicy()
        self._state = PlayerState.NEW
        self._showing = asyncio.Event()  # set once the first item or message is on screen
        self._inbox: asyncio.Queue[_Input] = asyncio.Queue()
        self._items: tuple[PlayableItem, ...] = ()
        self._pending: tuple[PlayableItem, ...] | None = None
        self._pending_finish = False
        # A video of a previous playlist plays to its end; the new one starts after it.
        self._finishing = False
        self._message = DEFAULT_MESSAGE
        self._failures: Failures = {}
        self._cursor: int | None = None  # index in _items of the item asked for
        self._current: PlayableItem | None = None
        self._now_playing: NowPlaying | None = None
        self._started_clock: float | None = None  # loop clock when _current appeared
        self._retry_timer: asyncio.TimerHandle | None = None
        self._retry_generation = 0
        self._resume_from = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the agent's interface ------------------------------------------------------

    @property
    def state(self) -> PlayerState:
        return self._state

    async def wait_showing(self) -> None:
        """Return once the screen shows something: the first item or message (at start-up,
        systemd's READY=1 and a screenshot command wait for this)."""
        await self._showing.wait()

    @property
    def now_playing(self) -> NowPlaying | None:
        """The item on screen and when it appeared; None while a message is shown."""
        return self._now_playing

    @property
    def playlist(self) -> tuple[PlayableItem, ...]:
        return self._pending if self._pending is not None else self._items

    def set_playlist(self, items: Sequence[PlayableItem], *, finish_video: bool = False) -> None:
        """Replace what plays (see `player.sequence.plan_change` for when it takes effect).

        `finish_video`: a video on screen that the new items lack plays to its end first."""
        if self._pending is None:
            self._inbox.put_nowait(_PlaylistChanged())
        self._pending = tuple(items)
        self._pending_finish = finish_video

    def show_message(self, message: ScreenMessage) -> None:
        """Set the message shown whenever the playlist is empty."""
        self._message = message
        self._inbox.put_nowait(_MessageChanged())

    async def run(self) -> None:
        """Play until cancelled, then stop the renderer. Raises `RendererError` at start-up."""
        if self._state != PlayerState.NEW:
            raise PlayerError(f"Player.run() can only be called once (state {self._state})")
        self._loop = asyncio.get_running_loop()
        try:
            await self._renderer.start(self._inbox.put_nowait)
            # Commands given before run() are already reflected in _pending and _message.
            while not self._inbox.empty():
                self._inbox.get_nowait()
            if self._pending is not None:
                self._handle(_PlaylistChanged())
            else:
                self._show(self._message)
            while True:
                entry = await self._inbox.get()
                try:
                    self._handle(entry)
                except Exception:
                    log.exception("player: handling %r failed; playback carries on", entry)
        finally:
            self._cancel_retry()
            self._interrupt("the player is stopping", Ending.STOPPED)
            self._set_state(PlayerState.STOPPED)
            await self._renderer.close()

    # --- decisions carried out ------------------------------------------------------

    def _set_state(self, new: PlayerState) -> None:
        old = self._state
        if new == old:
            return
        if new not in TRANSITIONS[old]:
            raise PlayerError(f"player cannot go from {old} to {new}")
        self._state = new
        log.info("player: %s -> %s", old, new)
        if new in (PlayerState.PLAYING, PlayerState.MESSAGE):
            self._showing.set()

    def _handle(self, entry: _Input) -> None:
        match entry:
            case _PlaylistChanged():
                items, self._pending = self._pending, None
                if items is not None:
                    self._apply_playlist(items, finish_video=self._pending_finish)
            case _MessageChanged():
                if self._state == PlayerState.MESSAGE:
                    self._show(self._message)
            case _RetryDue(generation):
                if generation == self._retry_generation:
                    self._retry_timer = None
                    if self._state == PlayerState.BACKING_OFF:
                        self._play_from(self._resume_from)
            case Recovered(reason=reason):
                # Optional in PlayerListener: listeners written before it existed still work.
                told = getattr(self._listener, "renderer_recovered", None)
                if told is not None:
                    self._tell(told, reason)
            case Started() | Ended() | Failed():
                self._on_renderer_event(entry)

    def _apply_playlist(self, items: tuple[PlayableItem, ...], *, finish_video: bool) -> None:
        playing = self._cursor if self._state == PlayerState.PLAYING else None
        if self._finishing and playing is not None:
            plan: Plan = ShowMessage() if not items else FinishThenStart()
        else:
            plan = plan_change(self._items, items, playing, finish_video=finish_video)
        self._items = items
        self._failures = forget_missing(self._failures, items)
        log.info("player: new playlist, %d item%s", len(items), "" if len(items) == 1 else "s")
        self._finishing = False
        match plan:
            case ShowMessage():
                self._interrupt("the playlist is now empty", Ending.CUT)
                self._show(self._message)
            case KeepPlaying(index):
                self._cursor = index
                self._prepare_next()
            case StartAt(index):
                self._interrupt("it is no longer in the playlist", Ending.CUT)
                self._play_from(index)
            case FinishThenStart():
                self._finishing = True
                self._cursor = -1  # the current video ends, then the new playlist's first item
                self._prepare_next()

    def _play_from(self, start: int) -> None:
        """Play the first item at or after `start` that is not backing off."""
        self._cancel_retry()
        if not self._items:
            self._show(self._message)
            return
        index = first_playable(self._items, start % len(self._items), self._failures, self._now())
        if index is None:
            self._back_off(start)
            return
        self._cursor, self._current = index, self._items[index]
        self._now_playing = self._started_clock = None
        self._set_state(PlayerState.PLAYING)
        self._renderer.play(self._current)

    def _advance(self) -> None:
        self._finishing = False
        self._play_from(0 if self._cursor is None else self._cursor + 1)

    def _show(self, message: ScreenMessage) -> None:
        self._clear_current()
        self._set_state(PlayerState.MESSAGE)
        log.info('showing message "%s: %s"', message.title, message.headline)
        self._renderer.show_message(message)

    def _back_off(self, start: int) -> None:
        retry_at = next_retry(self._items, self._failures)
        delay = max((retry_at or self._now()) - self._now(), 0.0)
        self._clear_current()
        self._set_state(PlayerState.BACKING_OFF)
        log.warning(
            "all %d items of the playlist failed to play; showing a notice, next try in %.0f s",
            len(self._items),
            delay,
        )
        self._renderer.show_message(FAILING_MESSAGE)
        self._retry_generation += 1
        self._resume_from = start
        assert self._loop is not None
        self._retry_timer = self._loop.call_later(
            delay, self._inbox.put_nowait, _RetryDue(self._retry_generation)
        )

    def _cancel_retry(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None

    def _clear_current(self) -> None:
        self._cursor = self._current = self._now_playing = self._started_clock = None
        self._finishing = False

    def _interrupt(self, why: str, how: Ending) -> None:
        """Account for an item cut off by a playlist change or shutdown."""
        item, started_clock = self._current, self._started_clock
        self._clear_current()
        if item is None or started_clock is None:
            return
        played_ms = round((self._now() - started_clock) * 1000)
        log.info('stopped "%s" after %.1f s: %s', item.name, played_ms / 1000, why)
        self._tell(self._listener.item_ended, item, _utc_now(), played_ms, how)

    # --- renderer events ------------------------------------------------------------

    def _on_renderer_event(self, event: RendererEvent) -> None:
        if event.item is not self._current or self._state != PlayerState.PLAYING:
            log.debug("player: ignoring %s for an item no longer playing", type(event).__name__)
            return
        item = event.item
        match event:
            case Started(at=at, length_ms=length_ms):
                self._now_playing = NowPlaying(item, at)
                self._started_clock = self._now()
                local = at.astimezone().strftime("%H:%M:%S")
                log.info("playing %s at %s", describe(item, length_ms), local)
                self._tell(self._listener.item_started, item, at)
                self._prepare_next()
            case Ended(at=at, played_ms=played_ms):
                self._failures = record_success(self._failures, item)
                self._now_playing = None
                self._tell(self._listener.item_ended, item, at, played_ms, Ending.FINISHED)
                self._advance()
            case Failed(reason=reason):
                self._failures = record_failure(
                    self._failures, item, reason, self._now(), self._retry
                )
                failure = self._failures[entry_id(item)]
                log.warning(
                    'skipping "%s": %s (failure %d in a row; not retried for %.0f s)',
                    item.name,
                    reason,
                    failure.count,
                    failure.retry_at - self._now(),
                )
                self._now_playing = None
                self._tell(self._listener.item_failed, item, reason)
                self._advance()

    def _prepare_next(self) -> None:
        """Tell the renderer what will most likely follow, so it can get it ready."""
        prepare = getattr(self._renderer, "prepare", None)
        if prepare is None or self._cursor is None or not self._items:
            return
        start = (self._cursor + 1) % len(self._items)
        index = first_playable(self._items, start, self._failures, self._now())
        upcoming = self._items[index] if index is not None else None
        current = self._current
        if (
            upcoming is not None
            and current is not None
            and upcoming.media_type == "image"
            and upcoming.same_content(current)
        ):
            upcoming = None  # the same picture again stays on screen as it is
        prepare(upcoming)

    def _tell(self, method: Callable[..., None], *args: Any) -> None:
        # Listeners run on the loop and must not block; one that raises must not stop
        # playback.
        try:
            method(*args)
        except Exception:
            log.exception("player listener %s raised; playback carries on", method.__name__)

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()


def _utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["TRANSITIONS", "Player", "PlayerState"]
