"""What the player plays and shows: items, on-screen messages, and the listener interface.

These are plain frozen dataclasses so the engine's decisions can be tested without
libvlc, and so the agent can build them straight from its store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

MediaKind = Literal["video", "image", "stream"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("video", "image", "stream")

# An image whose playlist entry has no duration stays this long on screen.
DEFAULT_IMAGE_DURATION_MS = 10_000
# A stream's URL in log lines and failure reasons is cut to this many characters.
MAX_SHOWN_URL_CHARS = 120


@dataclass(frozen=True)
class PlayableItem:
    """One entry of the playlist, resolved to a verified local file or, for a stream, to
    the URL it plays from (a stream has no file: its sha256 is that of its URL)."""

    key: str  # stable id of the playlist entry, e.g. f"{playlist_id}:{position}"
    name: str  # asset name shown in logs and status
    sha256: str
    media_type: MediaKind
    path: Path | None  # local, verified file; None for a stream, and only for a stream
    # Images: time on screen (None: DEFAULT_IMAGE_DURATION_MS).
    # Videos: None plays to the end, else the video is cut at this time.
    # Streams: always given; the stream is shown for this long.
    duration_ms: int | None
    url: str | None = None  # a stream's (http, https or rtsp), and only a stream's

    def __post_init__(self) -> None:
        if self.media_type not in MEDIA_KINDS:
            raise ValueError(
                f"media_type must be one of {', '.join(MEDIA_KINDS)}, not {self.media_type!r}"
            )
        if self.duration_ms is not None and self.duration_ms <= 0:
            raise ValueError(f"duration_ms must be positive or None, not {self.duration_ms}")
        stream = self.media_type == "stream"
        if stream != (self.url is not None):
            raise ValueError("a stream has a url, and only a stream")
        if stream != (self.path is None):
            raise ValueError("a stream plays from its url with no path; a file needs its path")
        if stream and self.duration_ms is None:
            raise ValueError("a stream has no end of its own: it needs duration_ms")

    @property
    def planned_ms(self) -> int | None:
        """How long the item should stay on screen, when that is known before it plays."""
        if self.media_type == "image":
            return self.duration_ms or DEFAULT_IMAGE_DURATION_MS
        return self.duration_ms  # a stream's is always set

    def same_content(self, other: PlayableItem) -> bool:
        """True when `other` is the same playlist entry showing the same bytes."""
        return self.key == other.key and self.sha256 == other.sha256


@dataclass(frozen=True)
class ScreenMessage:
    """Drawn on screen when there is nothing to play (enrollment code, "no content yet")."""

    title: str  # e.g. "Enroll this screen"
    headline: str  # big text, e.g. the code "KXRT-9MBD"
    lines: tuple[str, ...] = ()  # smaller text under the headline
    qr: str | None = None  # drawn as a QR code beside the text, e.g. the activation URL


DEFAULT_MESSAGE = ScreenMessage(
    title="Signage screen",
    headline="No content yet",
    lines=("Assign a playlist to this screen in the admin portal.",),
)

FAILING_MESSAGE = ScreenMessage(
    title="Playback problem",
    headline="Content cannot be played",
    lines=(
        "None of the files in this playlist could be played.",
        "The screen tries again on its own.",
    ),
)


@dataclass(frozen=True)
class NowPlaying:
    """The item on screen and when its first picture appeared (aware UTC datetime)."""

    item: PlayableItem
    started_at: datetime


class Ending(enum.StrEnum):
    """How an item that started left the screen (`PlayerListener.item_ended`)."""

    FINISHED = "finished"  # the renderer ended it: played to its end, or for its duration
    CUT = "cut"  # a playlist change replaced it (a new playlist, a schedule switch)
    STOPPED = "stopped"  # the player stopped while it played (the agent is shutting down)


class PlayerListener(Protocol):
    """Told about every item the player starts, ends or gives up on.

    Every `item_started` is followed by exactly one `item_ended` (played to its end, for
    its duration, or cut off by a playlist change or shutdown: `how` says which) or
    `item_failed` (it broke while playing). An item that never showed a picture gets
    `item_failed` alone, so proof of play never counts a broken file as played.

    Called on the asyncio loop thread. Implementations must not block: the player
    waits for them before it moves on, so a slow listener delays the next switch.
    """

    def item_started(self, item: PlayableItem, started_at: datetime) -> None: ...

    def item_ended(
        self, item: PlayableItem, ended_at: datetime, played_ms: int, how: Ending
    ) -> None: ...

    def item_failed(self, item: PlayableItem, reason: str) -> None: ...

    # Optional (called only when the listener has it): the renderer found its output
    # stuck (no new frame, or libvlc not answering) and recreated it.
    # def renderer_recovered(self, reason: str) -> None: ...


def describe(item: PlayableItem, length_ms: int | None = None) -> str:
    """`"counter.mp4" (video, 5.0 s)` for log lines; `length_ms` is what the renderer measured."""
    shown_ms = item.planned_ms if item.planned_ms is not None else length_ms
    length = f"{shown_ms / 1000:.1f} s" if shown_ms else "to the end"
    return f'"{item.name}" ({item.media_type}, {length})'


def url_for_log(url: str) -> str:
    """A stream's URL as log lines and failure reasons show it: without the password it may
    carry (`rtsp://user:***@camera/stream`, as the cloud logs it) and at most
    `MAX_SHOWN_URL_CHARS` long, on one line."""
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        url = f"{scheme}://{userinfo.partition(':')[0]}:***@{host}{slash}{path}"
    shown = "".join(char if char.isprintable() else "?" for char in url)
    if len(shown) > MAX_SHOWN_URL_CHARS:
        shown = shown[: MAX_SHOWN_URL_CHARS - 1] + "…"
    return shown


__all__ = [
    "DEFAULT_IMAGE_DURATION_MS",
    "DEFAULT_MESSAGE",
    "FAILING_MESSAGE",
    "MEDIA_KINDS",
    "Ending",
    "MediaKind",
    "NowPlaying",
    "PlayableItem",
    "PlayerListener",
    "ScreenMessage",
    "describe",
    "url_for_log",
]
