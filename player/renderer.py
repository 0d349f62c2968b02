"""What the engine needs from a renderer, and the events a renderer sends back.

A renderer owns the screen. The engine tells it what to show (`play`, `show_message`)
and learns what happened through events, delivered by calling the `emit` function given
to `start()` — always on the asyncio loop thread and never from inside `play()` or
`show_message()` themselves, so the engine is never re-entered.

For every `play(item)` the renderer emits, in this order, either

    Started(item) ... Ended(item)      the item was on screen, then its time was up
    Failed(item)                       nothing of it was ever shown
    Started(item) ... Failed(item)     it broke while playing

(the last preceded by `Recovered` when the renderer had to recreate its output)
and nothing more about that call once `play()`, `show_message()` or `close()` is
called again: a new command replaces what is on screen at once, and whatever was
playing is dropped without an event (the engine accounts for it).

While nothing new is asked for, the last picture stays on screen: an image or a
message is held, never replaced by black.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from player.items import PlayableItem, ScreenMessage


@dataclass(frozen=True)
class Started:
    """The first picture of `item` is on screen."""

    item: PlayableItem
    at: datetime  # aware UTC
    length_ms: int | None = None  # how long the item will last, when known


@dataclass(frozen=True)
class Ended:
    """`item` played to its end, or for its duration."""

    item: PlayableItem
    at: datetime  # aware UTC
    played_ms: int


@dataclass(frozen=True)
class Failed:
    """`item` could not be shown (or broke while showing); `reason` is for a person."""

    item: PlayableItem
    reason: str


@dataclass(frozen=True)
class Recovered:
    """The renderer found its output stuck and recreated it; `item` was playing then.

    Followed by `Failed(item)` for that item, so the engine moves on as for any failure.
    """

    reason: str
    item: PlayableItem | None = None


RendererEvent = Started | Ended | Failed | Recovered
EmitEvent = Callable[[RendererEvent], None]


class Renderer(Protocol):
    """A screen the engine can drive. Call every method from the loop thread."""

    async def start(self, emit: EmitEvent) -> None:
        """Open the output. Raises `RendererError` when it cannot."""
        ...

    def play(self, item: PlayableItem) -> None:
        """Replace what is on screen by `item`; its events follow through `emit`."""
        ...

    def show_message(self, message: ScreenMessage) -> None:
        """Replace what is on screen by `message`, held until the next command."""
        ...

    def prepare(self, item: PlayableItem | None) -> None:
        """`item` is likely the next `play()`: get it ready so the switch shows no gap.

        A hint: a renderer may ignore it, and `play()` of another item discards it.
        Optional: the engine calls it only on renderers that have it.
        """
        ...

    async def snapshot(self, path: Path) -> bool:
        """Write what is on screen to `path` as PNG; False when there is nothing to save."""
        ...

    async def close(self) -> None:
        """Stop and release everything; never hangs. Safe to call twice."""
        ...


class RemoteControls(Protocol):
    """What remote commands (agent.commands) use of a renderer; `VlcRenderer` has them all.

    Each acts on the screen at once without disturbing what plays: no event, no switch.
    """

    async def snapshot(self, path: Path) -> bool:
        """As `Renderer.snapshot`."""
        ...

    def set_volume(self, percent: int) -> None:
        """Audio volume from now on, for what plays and every later item (0..100; up to
        200 amplifies)."""
        ...

    def identify(self, text: str, duration_s: float) -> bool:
        """Show `text` in large type over whatever is on screen for `duration_s` seconds;
        False when there is no screen to show it on."""
        ...


__all__ = [
    "EmitEvent",
    "Ended",
    "Failed",
    "Recovered",
    "RemoteControls",
    "Renderer",
    "RendererEvent",
    "Started",
]
