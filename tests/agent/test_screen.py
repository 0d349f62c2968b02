"""`agent.screen`: the message for each situation of the agent (`message_for`), and which
of the store's entries the player gets (`playable_items`, `waiting_items`, `Screen`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from agent.connection import ConnectionState, after_failure
from agent.content_cache import ContentCache
from agent.screen import (
    Screen,
    device_description,
    enrollment_message,
    message_for,
    playable_items,
    waiting_items,
)
from agent.store import CachedItem
from player import PlayableItem
from player.messages import render_message
from sync.models import DeviceAuthorization, stream_sha256
from tests.player.qr import bright_runs, dark_box, decode_qr, needs_zbarimg

URL = "http://cloud.invalid:8080"
GRANT = DeviceAuthorization(
    device_code="d", user_code="BCDF-GHJK", verification_uri="http://c/activate", expires_in=900
)


COMPLETE = "https://signage.example/activate?user_code=BCDF-GHJK"
GRANT_WITH_LINK = GRANT.model_copy(update={"verification_uri_complete": COMPLETE})
DEVICE = "lobby-pi · Raspberry Pi 4 Model B Rev 1.5 · agent 0.1.0"


def failed(times: int) -> ConnectionState:
    state = ConnectionState()
    for at in range(times):
        state = after_failure(state, "cannot reach the cloud (ConnectError: refused)", at)
    return state


def test_connecting_then_a_message_that_says_what_failed_and_what_to_check() -> None:
    connecting = message_for(enrolled=False, device_name=None, grant=None,
                             connection=failed(1), cloud_url=URL)  # fmt: skip
    assert connecting.headline == "Connecting…"
    stuck = message_for(enrolled=False, device_name=None, grant=None,
                        connection=failed(3), cloud_url=URL)  # fmt: skip
    assert stuck.headline == "Cannot reach the cloud"
    text = " ".join(stuck.lines)
    assert URL in text and "refused" in text and "cloud_url" in text


def test_the_code_while_waiting_and_no_content_once_enrolled() -> None:
    fine = ConnectionState(online=True)
    code = message_for(enrolled=False, device_name=None, grant=GRANT, connection=fine,
                       cloud_url=URL)  # fmt: skip
    assert code.headline == "BCDF-GHJK"
    enrolled = message_for(enrolled=True, device_name="Lobby", grant=None, connection=fine,
                           cloud_url=URL)  # fmt: skip
    assert (enrolled.title, enrolled.headline) == ("Lobby", "No content yet")
    offline = message_for(enrolled=True, device_name="Lobby", grant=None,
                          connection=failed(5), cloud_url=URL)  # fmt: skip
    assert (offline.title, offline.headline) == ("Lobby", "Cannot reach the cloud")


@needs_zbarimg
def test_the_enrollment_screen_shows_the_code_and_a_qr_code_that_opens_the_activation_link(
    tmp_path: Path,
) -> None:
    path = render_message(enrollment_message(GRANT_WITH_LINK, device=DEVICE), tmp_path)
    with Image.open(path) as image:
        image.load()
    assert image.size == (1920, 1080)
    assert decode_qr(path) == [COMPLETE]
    # The code's line: the tallest block of bright text, left of the QR code, in large type.
    box = dark_box(image)
    assert box is not None
    runs = bright_runs(image, 0, box[0] - 100)  # left of the quiet zone (<= 80 px)
    top, bottom = max(runs, key=lambda run: run[1] - run[0])
    assert bottom - top > 100 and top < 540
    # Title, code, then the address, the lifetime and the device: six bright lines or more.
    assert len(runs) >= 6


@needs_zbarimg
def test_without_a_complete_link_the_qr_code_opens_the_address_to_type(tmp_path: Path) -> None:
    message = enrollment_message(GRANT, device=DEVICE)
    assert decode_qr(render_message(message, tmp_path)) == ["http://c/activate"]


def test_the_enrollment_screen_says_where_to_go_how_long_and_which_device() -> None:
    message = enrollment_message(GRANT_WITH_LINK, device=DEVICE)
    assert message.headline == "BCDF-GHJK"
    assert message.qr == COMPLETE
    assert "http://c/activate" in message.lines  # the address to type, on a line of its own
    assert "Valid for 15 minutes" in message.lines
    assert DEVICE in message.lines


def test_a_new_code_is_a_new_screen_with_its_own_lifetime() -> None:
    first = enrollment_message(GRANT_WITH_LINK, device=DEVICE)
    renewed = GRANT_WITH_LINK.model_copy(
        update={"user_code": "MNPQ-RSTV", "expires_in": 600,
                "verification_uri_complete": COMPLETE.replace("BCDF-GHJK", "MNPQ-RSTV")}
    )  # fmt: skip
    second = enrollment_message(renewed, device=DEVICE)
    assert second != first
    assert second.headline == "MNPQ-RSTV" and "MNPQ-RSTV" in (second.qr or "")
    assert "Valid for 10 minutes" in second.lines
    short = enrollment_message(GRANT.model_copy(update={"expires_in": 90}), device=DEVICE)
    assert "Valid for 1 minute" in short.lines


def test_the_device_description_is_one_printable_line() -> None:
    text = device_description("lobby\n-pi\x1b[2J", "Raspberry Pi 4 Model B Rev 1.5\x00", "0.1.0")
    assert text == "lobby -pi [2J · Raspberry Pi 4 Model B Rev 1.5 · agent 0.1.0"
    assert device_description("kiosk", None, "0.1.0") == "kiosk · agent 0.1.0"
    assert len(device_description("h" * 500, "m" * 500, "0.1.0")) <= 80
    message = enrollment_message(GRANT, device="evil\nsecond line\x07")
    assert all(line.isprintable() for line in message.lines)


def test_message_for_names_the_device_on_the_enrollment_screen() -> None:
    fine = ConnectionState(online=True)
    code = message_for(enrolled=False, device_name=None, grant=GRANT_WITH_LINK, connection=fine,
                       cloud_url=URL, device="kiosk · agent 9")  # fmt: skip
    assert code.qr == COMPLETE and "kiosk · agent 9" in code.lines
    default = message_for(enrolled=False, device_name=None, grant=GRANT, connection=fine,
                          cloud_url=URL)  # fmt: skip
    assert any(line.endswith("agent 0.1.0") for line in default.lines)


# --- which entries play --------------------------------------------------------------------

LOBBY_URL = "rtsp://door:s3cret@camera.local/stream"


def entry(position: int, media_type: str, **fields: object) -> CachedItem:
    values: dict[str, object] = {
        "playlist_id": "pl", "position": position, "asset_id": f"ast_{position}",
        "name": f"{media_type} {position}", "sha256": str(position) * 64,
        "media_type": media_type, "duration_ms": 5_000,
    }  # fmt: skip
    values.update(fields)
    return CachedItem(**values)  # type: ignore[arg-type]


def stream_entry(
    position: int, url: str = LOBBY_URL, duration_ms: int | None = 30_000
) -> CachedItem:
    return entry(position, "stream", sha256=stream_sha256(url), url=url, duration_ms=duration_ms)


def a_cache(tmp_path: Path, *present: CachedItem) -> ContentCache:
    cache = ContentCache(tmp_path / "state")
    cache.root.mkdir(parents=True)
    for item in present:
        cache.path(item.sha256).write_bytes(b"verified")
    return cache


def test_streams_play_from_their_url_without_a_blob_and_never_wait(tmp_path: Path) -> None:
    picture, video, lobby = entry(0, "image"), entry(1, "video", duration_ms=None), stream_entry(2)
    cache = a_cache(tmp_path, picture)
    playable = playable_items([picture, video, lobby], cache)
    assert [item.key for item in playable] == ["pl:0", "pl:2"]
    shown = playable[1]
    assert shown.media_type == "stream" and shown.url == LOBBY_URL and shown.path is None
    assert shown.sha256 == stream_sha256(LOBBY_URL) and shown.planned_ms == 30_000
    assert playable[0].path == cache.path(picture.sha256) and playable[0].url is None
    assert [item.key for item in waiting_items([picture, video, lobby], cache)] == ["pl:1"]


def test_a_stream_without_its_url_or_duration_is_left_out(tmp_path: Path) -> None:
    """The contract never sends one; a store that holds one must not break the screen."""
    cache = a_cache(tmp_path)
    broken = [stream_entry(0, duration_ms=None), entry(1, "stream", url=None)]
    assert playable_items(broken, cache) == [] and waiting_items(broken, cache) == []


@dataclass
class Handed:
    """What the Screen handed the player (the player's side of `Screen`)."""

    playlists: list[list[str]] = field(default_factory=list)

    def set_playlist(self, items: Sequence[PlayableItem], *, finish_video: bool = False) -> None:
        self.playlists.append([item.key for item in items])

    def show_message(self, message: object) -> None:
        self.playlists.append([])


def test_a_stream_plays_at_once_and_only_missing_files_are_reported_skipped(
    tmp_path: Path,
) -> None:
    skipped: list[str] = []
    handed = Handed()
    screen = Screen(
        handed,  # type: ignore[arg-type]
        a_cache(tmp_path),
        on_skipped=lambda item, _why: skipped.append(item.key),
    )
    screen.show_items([stream_entry(0), entry(1, "image")])
    assert handed.playlists == [["pl:0"]]  # the stream plays while the picture downloads
    assert skipped == ["pl:1"]
