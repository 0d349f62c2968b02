"""What the agent asks the screen to show: the newest playable items, else a message.

The messages (enrollment code, no content yet, cannot reach the cloud) and the mapping from
the store's playlist to `PlayableItem`s live here. `message_for` is pure: given what the
agent knows, it says which message the screen shows whenever nothing is playable.
"""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.connection import ConnectionState
from agent.content_cache import ContentCache
from agent.store import CachedItem
from agent.version import __version__
from player import PlayableItem, Player, ScreenMessage
from sync.models import DeviceAuthorization

log = logging.getLogger(__name__)

CONFIG_HINT = "cloud_url in /etc/signage-agent/agent.toml"
DEVICE_MODEL_FILE = Path("/proc/device-tree/model")  # e.g. "Raspberry Pi 4 Model B Rev 1.5"
MAX_DESCRIPTION_CHARS = 80


def one_line(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """`text` without control characters (a newline, an escape) and at most `limit` long."""
    printable = "".join(char if char.isprintable() else " " for char in text)
    return " ".join(printable.split())[:limit]


def device_description(hostname: str, model: str | None, version: str = __version__) -> str:
    """How the enrollment screen names this device, so an installer approves the right one:
    e.g. "lobby-pi · Raspberry Pi 4 Model B Rev 1.5 · agent 0.1.0"."""
    parts = [one_line(hostname, 40), one_line(model or "", 40), f"agent {one_line(version, 20)}"]
    return one_line(" · ".join(part for part in parts if part))


@functools.cache
def this_device() -> str:
    """`device_description` of the machine the agent runs on (read once)."""
    try:
        model: str | None = DEVICE_MODEL_FILE.read_text(encoding="utf-8", errors="replace")
    except OSError:
        model = None  # not a Raspberry Pi (or any device-tree machine)
    return device_description(socket.gethostname(), model)


def valid_for(expires_in_s: int) -> str:
    """What an installer is told of the code's lifetime, e.g. "Valid for 15 minutes"."""
    if expires_in_s >= 120:
        return f"Valid for {expires_in_s // 60} minutes"
    if expires_in_s >= 60:
        return "Valid for 1 minute"
    return f"Valid for {expires_in_s} seconds"


def enrollment_message(grant: DeviceAuthorization, *, device: str) -> ScreenMessage:
    """The code in large type, a QR code that opens the activation page with the code filled
    in, the address to type instead, how long the code is valid and which device this is.
    Each new code is a new message, so the screen is redrawn with its own lifetime."""
    return ScreenMessage(
        title="Enroll this screen",
        headline=grant.user_code,
        lines=(
            "Scan the QR code with a phone, or open",
            grant.verification_uri,
            "and enter the code above",
            valid_for(grant.expires_in),
            one_line(device),
        ),
        qr=grant.verification_uri_complete or grant.verification_uri,
    )


def no_content_message(device_name: str | None) -> ScreenMessage:
    return ScreenMessage(
        title=device_name or "This screen",
        headline="No content yet",
        lines=("Assign a playlist to this screen in the admin portal",),
    )


def connecting_message(cloud_url: str) -> ScreenMessage:
    return ScreenMessage(
        title="Setting up this screen",
        headline="Connecting…",
        lines=(f"Reaching {cloud_url} to get an enrollment code",),
    )


def unreachable_message(
    cloud_url: str, connection: ConnectionState, *, title: str
) -> ScreenMessage:
    """The cloud has not answered several times: say what failed and what to check."""
    since = (connection.since or "")[11:16]  # HH:MM of the ISO time
    error = connection.last_error or "no answer"
    reason = error.split(f"{cloud_url}: ", 1)[-1]  # the address has a line of its own
    return ScreenMessage(
        title=title,
        headline="Cannot reach the cloud",
        lines=(
            (reason[:1].upper() + reason[1:])[:120],
            f"Check the network and the cloud address {cloud_url}",
            f"({CONFIG_HINT})",
            f"Offline since {since} UTC; retrying" if since else "Retrying",
        ),
    )


def message_for(
    *,
    enrolled: bool,
    device_name: str | None,
    grant: DeviceAuthorization | None,
    connection: ConnectionState,
    cloud_url: str,
    device: str | None = None,
) -> ScreenMessage:
    """The message shown when nothing is playable, from what the agent knows now.

    `device` names this screen on the enrollment screen (default: `this_device()`)."""
    if enrolled:
        if connection.needs_notice:
            return unreachable_message(cloud_url, connection, title=device_name or "This screen")
        return no_content_message(device_name)
    if connection.needs_notice:
        return unreachable_message(cloud_url, connection, title="Setting up this screen")
    if grant is not None:
        return enrollment_message(grant, device=this_device() if device is None else device)
    return connecting_message(cloud_url)


SKIPPED_NOT_DOWNLOADED = "its content is not downloaded yet"


FILE_KINDS = ("video", "image")  # played from a blob in the cache; a stream from its URL


def _playable(item: CachedItem, cache: ContentCache) -> PlayableItem:
    stream = item.media_type == "stream"
    return PlayableItem(
        key=f"{item.playlist_id}:{item.position}",
        name=item.name,
        sha256=item.sha256,
        media_type=item.media_type,  # type: ignore[arg-type]
        path=None if stream else cache.path(item.sha256),
        duration_ms=item.duration_ms,
        url=item.url if stream else None,
    )


def _is_stream(item: CachedItem) -> bool:
    """A stream the player can play: it has its URL and a duration (the contract's rule)."""
    return item.media_type == "stream" and item.url is not None and item.duration_ms is not None


def playable_items(items: Sequence[CachedItem], cache: ContentCache) -> list[PlayableItem]:
    """The entries whose verified blob is in the cache, and the streams (nothing to
    download: they play from their URL); the others are skipped."""
    return [
        _playable(item, cache)
        for item in items
        if _is_stream(item) or (item.media_type in FILE_KINDS and cache.has(item.sha256))
    ]


def waiting_items(items: Sequence[CachedItem], cache: ContentCache) -> list[PlayableItem]:
    """The entries the player could show but whose blob is not in the cache yet (as they
    will be played once it lands). Never a stream: it has no blob to wait for."""
    return [
        _playable(item, cache)
        for item in items
        if item.media_type in FILE_KINDS and not cache.has(item.sha256)
    ]


class Screen:
    """Hands the player the newest playable items and message, each only when it changed."""

    def __init__(
        self,
        player: Player,
        cache: ContentCache,
        *,
        on_message: Callable[[ScreenMessage], None] = lambda _: None,
        on_skipped: Callable[[PlayableItem, str], None] = lambda _item, _why: None,
    ) -> None:
        """`on_message` hears of each new message (the daemon keeps it for `status`);
        `on_skipped` of each entry left out of what plays because its content is missing,
        once until it has played (proof of play reports it as skipped)."""
        self._player = player
        self._cache = cache
        self._on_message = on_message
        self._on_skipped = on_skipped
        self._skipped: set[tuple[str, str]] = set()  # (key, sha256) reported as skipped
        self._holding = False  # the items on screen stay while the new ones download
        self._items: tuple[PlayableItem, ...] | None = None
        self._message: ScreenMessage | None = None

    def show_items(self, items: Sequence[CachedItem], *, finish_video: bool = False) -> None:
        """Play the cached entries of `items`; skipped ones come back once their blob lands.
        When none of `items` is cached yet, what plays now stays until one is.

        `finish_video`: a video on screen that `items` lack plays to its end first."""
        playable = tuple(playable_items(items, self._cache))
        waiting = waiting_items(items, self._cache)
        for entry in waiting:
            if (entry.key, entry.sha256) not in self._skipped:
                self._on_skipped(entry, SKIPPED_NOT_DOWNLOADED)
        self._skipped = {(entry.key, entry.sha256) for entry in waiting}
        if not playable and waiting and self._items:
            # a playlist none of whose content is here yet (an interrupt sent a moment ago):
            # what is on screen stays until some of it lands, never "No content yet"
            if not self._holding:
                self._holding = True
                log.info(
                    "the new playlist's %d item(s) are still downloading; what is on screen "
                    "stays until one is here",
                    len(waiting),
                )
            return
        self._holding = False
        if playable == self._items:
            return
        skipped = len(items) - len(playable)
        if skipped:
            log.info(
                "playing %d of %d playlist items; %d wait for their content",
                len(playable), len(items), skipped,
            )  # fmt: skip
        self._items = playable
        self._player.set_playlist(playable, finish_video=finish_video)

    def show_message(self, message: ScreenMessage) -> None:
        """Shown whenever nothing is playable."""
        if message != self._message:
            self._message = message
            self._player.show_message(message)
            self._on_message(message)


__all__ = [
    "SKIPPED_NOT_DOWNLOADED",
    "Screen",
    "connecting_message",
    "device_description",
    "enrollment_message",
    "message_for",
    "no_content_message",
    "playable_items",
    "this_device",
    "unreachable_message",
    "valid_for",
    "waiting_items",
]
