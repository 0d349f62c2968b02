"""States of `VlcRenderer`, and its record of one playback.

States (what is on screen):

    NEW --start--> IDLE --play / show_message--> OPENING --first picture--> PLAYING
                                                    |                          |
                                             message picture              time up / end
                                                    v                          v
                                                 MESSAGE                      HELD
    OPENING --nothing shown, broken--> IDLE;  PLAYING --broken--> HELD;
    IDLE, OPENING, PLAYING, HELD, MESSAGE --play / show_message--> OPENING;
    any --close--> CLOSED

HELD: the item is over and its last picture stays until the next command (an image
stays as it was; the engine asks for the next item at once).
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from pathlib import Path

from player.items import PlayableItem, ScreenMessage


class RendererState(enum.StrEnum):
    NEW = "new"
    IDLE = "idle"
    OPENING = "opening"
    PLAYING = "playing"
    HELD = "held"
    MESSAGE = "message"
    CLOSED = "closed"


TRANSITIONS: dict[RendererState, set[RendererState]] = {
    RendererState.NEW: {RendererState.IDLE, RendererState.CLOSED},
    RendererState.IDLE: {RendererState.OPENING, RendererState.CLOSED},
    RendererState.OPENING: {
        RendererState.OPENING,
        RendererState.PLAYING,
        RendererState.MESSAGE,
        RendererState.IDLE,
        RendererState.CLOSED,
    },
    RendererState.PLAYING: {RendererState.OPENING, RendererState.HELD, RendererState.CLOSED},
    RendererState.HELD: {RendererState.OPENING, RendererState.CLOSED},
    RendererState.MESSAGE: {RendererState.OPENING, RendererState.IDLE, RendererState.CLOSED},
    RendererState.CLOSED: set(),
}


class Signal(enum.Enum):
    """What a libvlc event means to us."""

    PICTURE = "picture"  # something is on screen (an output opened, or time moved)
    OUTPUT = "output"  # a video output opened (libvlc reopens it per decoder it tries)
    TIME = "time"  # the input's time moved
    END = "end"
    ERROR = "error"


@dataclass(eq=False)
class Playback:
    """One `play()` or `show_message()` call and what has happened to it so far."""

    token: int
    item: PlayableItem | None
    message: ScreenMessage | None
    opened_at: float  # loop clock
    shown_at: float | None = None
    # False when nothing was handed to libvlc for it (file missing, same image kept on
    # screen): libvlc's events then belong to an earlier playback and are ignored.
    has_media: bool = True
    finished: bool = False
    held_picture: bool = False  # finished by its timer with its picture still on screen
    timers: list[asyncio.Handle] = field(default_factory=list)
    # Double buffering (see `player.vlc`): the player slot it was opened in, whether it
    # was opened ahead of being asked for, whether its first picture is out in that
    # slot, and the decoded-picture count the watchdog last saw.
    slot: object | None = None
    prepared: bool = False
    picture_out: bool = False
    broken: str | None = None  # why it failed while it was only prepared
    frames_seen: int = -1
    frames_still_since: float | None = None
    # libvlc's video outputs opened for it so far, the last one when (loop clock), and
    # whether its start-up time has been noted (`VlcRenderer._note_output`).
    outputs_opened: int = 0
    output_opened_at: float | None = None
    startup_noted: bool = False
    # A video's frame interval (s), once on screen, and when libvlc said it reached its
    # end (loop clock): its last frame is held that long before a picture replaces it.
    frame_s: float | None = None
    ended_at: float | None = None
    length_ms: int | None = None  # a video's length as libvlc gave it once on screen

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def file_problem(path: Path) -> str | None:
    """Why `path` cannot be played at all, or None when it is worth handing to VLC."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"file not found: {path}"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not path.is_file():
        return f"not a regular file: {path}"
    if size == 0:
        return f"file is empty: {path}"
    return None


__all__ = ["TRANSITIONS", "Playback", "RendererState", "Signal", "file_problem"]
