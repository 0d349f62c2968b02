"""Wire models of the device API (v3), shared by the agent and the reference cloud.

The cloud's OpenAPI document is generated from these classes, so the contract the
agent parses and the contract the cloud serves cannot drift apart. Every model
ignores unknown fields, so a newer cloud can add fields without breaking an older
agent, and rejects a missing or mistyped field with a validation error the client
turns into one log line.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal, NewType

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    model_validator,
)

Sha256 = NewType("Sha256", str)
DurationMs = NewType("DurationMs", int)

API_PREFIX = "/api/v3"
DEVICE_PREFIX = f"{API_PREFIX}/device"
ADMIN_PREFIX = f"{API_PREFIX}/admin"
# Every device answer carries the server's POSIX time when it started, to the millisecond.
SERVER_TIME_HEADER = "Signage-Time"

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105 (a grant type name, not a secret)
CLIENT_ID = "signage-agent"

SHA256_PATTERN = r"^[0-9a-f]{64}$"

# --- Limits of the contract ---------------------------------------------------------------
# Both sides enforce them: the cloud refuses to create what exceeds them (422), the agent
# rejects a whole answer that exceeds them. Documented in docs/device-api.md.
MAX_PLAYLIST_ITEMS = 10_000
MAX_STATE_ASSETS = 10_000
MAX_NAME_CHARS = 200  # asset, playlist and device names
MAX_ID_CHARS = 64  # ids, cursors and tenant ids
MAX_DURATION_MS = 86_400_000  # one day on screen for one item
MAX_ASSET_BYTES = 1 << 40  # 1 TiB: above any Pi's disk, far below 2^63
# Default cap on a state answer's body, on the agent (configurable there): a 10,000-item
# playlist is about 2.3 MB.
DEFAULT_MAX_STATE_BYTES = 8 * 1024 * 1024
MAX_PAGE_CHANGES = 1_000  # changes in one page of delta sync
DEFAULT_PAGE_CHANGES = 500
MAX_CURSOR_CHARS = 200
MAX_VERSION = 2**53  # exact in every JSON parser
# Every other JSON answer (grants, tokens, errors) is far smaller than this.
MAX_JSON_ANSWER_BYTES = 64 * 1024
MAX_POSITION = 2**31 - 1  # playlist positions: fits a 32-bit integer everywhere
MAX_TOKEN_CHARS = 4096  # access and refresh tokens, device codes
MAX_CODE_CHARS = 64  # user codes and OAuth error codes
MAX_URI_CHARS = 2048  # verification URIs
MAX_DESCRIPTION_CHARS = 1000  # an OAuth error_description
MAX_EXPIRES_IN_S = 366 * 86_400  # lifetimes of codes and tokens
MAX_INTERVAL_S = 3600  # the enrollment polling interval
# Scheduling (docs/scheduling.md)
MAX_GROUPS_PER_DEVICE = 100
MAX_PRIORITY = 1_000_000  # schedule priorities lie in [-MAX_PRIORITY, MAX_PRIORITY]
MAX_TIMEZONE_CHARS = 64
MIN_YEAR, MAX_YEAR = 2000, 2200  # dates and instants of schedules, interrupts, item windows

# C0, DEL, C1 and the Unicode line and paragraph separators: any of them in a name could
# forge a line in a log or on screen, so text from the cloud must not carry them.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# "stream": a live or remote source played from its URL (HTTP(S) file or HLS, RTSP) for its
# item's duration; it has no blob (its sha256 is that of its URL, its size 0).
MediaType = Literal["video", "image", "stream"]
STREAM_SCHEMES = ("http", "https", "rtsp")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a schedule-caused switch does to the item on screen: "cut" it at the boundary, or let
# a video "finish" first (an image is always cut). docs/scheduling.md.
OnSwitch = Literal["cut", "finish"]


# How the screen is turned (degrees clockwise) and its audio volume (percent), as an admin
# sets them for a device; None in a device's record: the screen's own configuration.
def _whole(value: Any) -> Any:
    """A JSON whole number as it is; true, false, 90.0 or "90" are refused."""
    if type(value) is not int:
        raise ValueError(f"expected a whole number, not {value!r:.20}")
    return value


ROTATIONS = (0, 90, 180, 270)
Rotation = Annotated[Literal[0, 90, 180, 270], BeforeValidator(_whole)]
MAX_VOLUME = 100
Volume = Annotated[int, Field(ge=0, le=MAX_VOLUME, strict=True)]


class ErrorCode(StrEnum):
    """OAuth error codes both sides use (RFC 6749 §5.2, RFC 8628 §3.5, RFC 9449 §§5, 7, 8)."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 (an error code, not a secret)
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _printable(text: str) -> str:
    found = CONTROL_CHARACTERS.search(text)
    if found is not None:
        raise ValueError(
            f"contains the control character U+{ord(found.group()):04X} at {found.start()}"
        )
    return text


Printable = AfterValidator(_printable)

# Text the device takes from the cloud (device-facing models only): bounded, one line.
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS), Printable]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS), Printable]
Token = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_CHARS), Printable]
Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE_CHARS), Printable]
Uri = Annotated[str, Field(min_length=1, max_length=MAX_URI_CHARS), Printable]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), Printable]


def _stream_url(text: str) -> str:
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in STREAM_SCHEMES:
        raise ValueError(f"a stream URL starts with {', '.join(f'{s}://' for s in STREAM_SCHEMES)}")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not host or any(c.isspace() for c in text):
        raise ValueError("a stream URL names a host and contains no spaces")
    return text


# Where a stream is played from: http(s) or rtsp, a host, no spaces or control characters.
StreamUrl = Annotated[
    str, Field(min_length=8, max_length=MAX_URI_CHARS), Printable, AfterValidator(_stream_url)
]


def stream_sha256(url: str) -> str:
    """A stream's `sha256`: that of its URL (a stream has no bytes of its own to hash)."""
    return hashlib.sha256(url.encode()).hexdigest()


def _in_years(value: date) -> date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year {value.year} is outside {MIN_YEAR}..{MAX_YEAR}")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("an instant needs a UTC offset, e.g. 2026-11-25T09:00:00Z")
    return _in_years(value)  # type: ignore[return-value]


def _iana_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*", value):
        raise ValueError(f"{value[:40]!r} is not an IANA time zone name like Europe/Berlin")
    return value


def _clock_time(value: Any) -> Any:
    """ "HH:MM" (24-hour) only: no seconds, no offset."""
    if isinstance(value, str) and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        raise ValueError(f"{value[:20]!r} is not a time of day HH:MM (00:00 to 23:59)")
    return value


def _date_or_datetime(value: Any) -> Any:
    """An ISO date (a whole day) or an ISO date-time (with or without an offset)."""
    if isinstance(value, str):
        if len(value) > 40:
            raise ValueError("longer than an ISO date-time")
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value)
    return value


def _check_moment(value: date | datetime) -> date | datetime:
    return _in_years(value)


# An instant on every clock (an offset is required): interrupts, created_at.
Instant = Annotated[datetime, AfterValidator(_aware)]
# A calendar date in the screen's (or entry's) time zone.
LocalDate = Annotated[date, AfterValidator(_in_years)]
# A time of day "HH:MM" in the screen's (or entry's) time zone.
ClockTime = Annotated[
    time,
    BeforeValidator(_clock_time),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
]
# A bound of an item's window: an ISO date (a whole local day), a local date-time (no offset:
# the screen's time zone), or an instant (with an offset).
Moment = Annotated[
    date | datetime,
    BeforeValidator(_date_or_datetime),
    AfterValidator(_check_moment),
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
]
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=MAX_TIMEZONE_CHARS), AfterValidator(_iana_name)
]


# --- RFC 8628 device authorization -------------------------------------------------


class DeviceAuthorization(WireModel):
    """Answer to `POST /device/authorize` (RFC 8628 section 3.2)."""

    device_code: Token
    user_code: Code
    verification_uri: Uri
    verification_uri_complete: Uri | None = None
    expires_in: int = Field(gt=0, le=MAX_EXPIRES_IN_S)
    interval: int = Field(default=5, gt=0, le=MAX_INTERVAL_S)


class TokenResponse(WireModel):
    """A successful answer of `POST /device/token` (RFC 6749 section 5.1, RFC 9449 section 5)."""

    access_token: Token
    token_type: Literal["DPoP"]
    expires_in: int = Field(gt=0, le=MAX_EXPIRES_IN_S)
    refresh_token: Token
    device_id: Id
    tenant_id: Id


class OAuthError(WireModel):
    """An OAuth error body (RFC 6749 section 5.2, RFC 8628 section 3.5)."""

    error: Code
    error_description: Description | None = None
    # Extension member: true when an admin removed this device. The device then deletes its
    # tenant's content and enrolls afresh; merely revoked tokens keep the content playing.
    device_removed: bool | None = None


# --- Device state ---------------------------------------------------------------------


class Asset(WireModel):
    """A piece of content, addressed by the sha256 of its bytes; a stream by its `url`
    (its sha256 that of the URL, `stream_sha256`, and its size 0: nothing to download)."""

    id: Id
    name: Name
    sha256: Sha256 = Field(pattern=SHA256_PATTERN)
    media_type: MediaType
    size: int = Field(ge=0, le=MAX_ASSET_BYTES)
    url: StreamUrl | None = None

    @model_validator(mode="after")
    def _stream_has_a_url(self) -> Asset:
        if (self.media_type == "stream") != (self.url is not None):
            raise ValueError("a stream has a url, and only a stream")
        if self.url is not None and (self.size != 0 or self.sha256 != stream_sha256(self.url)):
            raise ValueError("a stream's size is 0 and its sha256 that of its url")
        return self


class PlaylistItem(WireModel):
    asset_id: Id
    position: int = Field(ge=0, le=MAX_POSITION)
    # For images: how long they stay on screen. For videos: None plays to the end.
    duration_ms: DurationMs | None = Field(default=None, ge=1, le=MAX_DURATION_MS)
    # The item's own window: outside [valid_from, valid_until) it is skipped. A date means
    # the whole local day (from its start; until its end), a date-time without an offset is
    # the screen's local time, one with an offset an instant. None: unbounded.
    valid_from: Moment | None = None
    valid_until: Moment | None = None


class Playlist(WireModel):
    id: Id
    name: Name
    items: list[PlaylistItem] = Field(max_length=MAX_PLAYLIST_ITEMS)

    @model_validator(mode="after")
    def _positions_are_unique(self) -> Playlist:
        seen: set[int] = set()
        for index, item in enumerate(self.items):
            if item.position in seen:
                raise ValueError(f"items[{index}].position {item.position} appears twice")
            seen.add(item.position)
        return self


# --- Delta sync (answer to `GET /device/state`) ----------------------------------------
#
# The cloud answers a cursor with the changes since it that concern this device, in pages:
# upserts (`data` holds the object) and tombstones (`deleted`), each with the kind, id and
# version. Without a cursor (or after a 410 for an expired one) the pages are a full
# listing (`full`): once its last page is applied, whatever the listing did not name is
# deleted locally. Kinds this agent does not know are skipped, so an older agent survives a
# newer cloud. Versions grow with every change of what the device should hold, so applying
# a page twice, or an old change after a newer one, changes nothing.


class ChangeKind(StrEnum):
    DEVICE = "device"  # the device's own record: name, default playlist, groups, settings
    ASSET = "asset"
    PLAYLIST = "playlist"
    GROUP = "group"  # a group the device is in: its name and default playlist
    SCHEDULE = "schedule"  # a schedule entry of the device or of one of its groups
    INTERRUPT = "interrupt"  # an interrupt of the device or of one of its groups
    COMMAND = "command"  # a command for the device (or one of its groups) not yet answered


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} name the same value twice")


class DeviceRecord(WireModel):
    """What the device knows of itself: its name, tenant, default playlist, groups, settings."""

    id: Id
    name: Name
    tenant_id: Id
    playlist_id: Id | None = None
    group_ids: list[Id] = Field(default_factory=list, max_length=MAX_GROUPS_PER_DEVICE)
    timezone: TimeZoneName = "UTC"  # the screen's time zone: schedules without one use it
    on_switch: OnSwitch = "cut"
    # None: what the screen's configuration says (agent.config: rotation, volume)
    rotation: Rotation | None = None
    volume: Volume | None = None

    @model_validator(mode="after")
    def _groups_are_unique(self) -> DeviceRecord:
        _unique(self.group_ids, "group_ids")
        return self


class Group(WireModel):
    """A group the device is in; its default playlist applies when the device has none."""

    id: Id
    name: Name
    playlist_id: Id | None = None


class ScheduleEntry(WireModel):
    """Play `playlist_id` on the days and in the window given, in the entry's time zone.

    Every field but the playlist narrows when the entry is active: `days` (none: every
    day), `from_time`..`to_time` (none: the whole day; a window ending at or before its start
    crosses midnight and belongs to the day it starts), `start_date`..`end_date` (inclusive
    dates of the window's start). The highest `priority` among active entries wins.
    """

    id: Id
    playlist_id: Id
    group_id: Id | None = None  # None: an entry of the device itself
    days: list[Weekday] = Field(default_factory=list, max_length=7)
    from_time: ClockTime | None = None
    to_time: ClockTime | None = None
    start_date: LocalDate | None = None
    end_date: LocalDate | None = None
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    timezone: TimeZoneName | None = None  # None: the screen's time zone
    on_switch: OnSwitch | None = None  # None: the screen's setting
    created_at: Instant

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleEntry:
        _unique(list(self.days), "days")
        if (self.from_time is None) != (self.to_time is None):
            raise ValueError("from_time and to_time come together, or neither")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class Interrupt(WireModel):
    """Play `playlist_id` over every schedule from `starts_at` until `until` (None: cleared)."""

    id: Id
    playlist_id: Id
    group_id: Id | None = None  # None: an interrupt of the device itself
    starts_at: Instant
    until: Instant | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Interrupt:
        if self.until is not None and self.until <= self.starts_at:
            raise ValueError("until is not after starts_at")
        return self


class CommandKind(StrEnum):
    """What an admin can ask a screen to do (docs/commands.md)."""

    REBOOT = "reboot"
    RESTART_AGENT = "restart-agent"
    SYNC_NOW = "sync-now"
    SCREENSHOT = "screenshot"  # the device uploads a PNG of the screen as the attachment
    SET_VOLUME = "set-volume"  # args: {"volume": 0..100}
    IDENTIFY = "identify"  # the screen's name in large type over the content for 10 s
    CLEAR_CACHE = "clear-cache"
    DISPLAY_OFF = "display-off"
    DISPLAY_ON = "display-on"
    LOGS = "logs"  # args: {"lines": 1..MAX_LOG_LINES}; the device uploads them as text


ArgValue = Annotated[str, Field(max_length=MAX_NAME_CHARS), Printable] | int | bool


class Command(WireModel):
    """Run `kind` once, if before `expires_at` (on the cloud's clock); else report it expired.

    `kind` is a plain code, not the enum: a kind this agent does not know is answered
    "unsupported", not rejected with the whole page.
    """

    id: Id
    kind: Code
    args: dict[Annotated[str, Field(max_length=32), Printable], ArgValue] = Field(
        default_factory=dict, max_length=8
    )
    created_at: Instant
    expires_at: Instant

    @model_validator(mode="after")
    def _expires_after_creation(self) -> Command:
        if self.expires_at <= self.created_at:
            raise ValueError("expires_at is not after created_at")
        return self


KIND_MODELS: dict[str, type[WireModel]] = {
    ChangeKind.DEVICE: DeviceRecord,
    ChangeKind.ASSET: Asset,
    ChangeKind.PLAYLIST: Playlist,
    ChangeKind.GROUP: Group,
    ChangeKind.SCHEDULE: ScheduleEntry,
    ChangeKind.INTERRUPT: Interrupt,
    ChangeKind.COMMAND: Command,
}

Cursor = Annotated[str, Field(min_length=1, max_length=MAX_CURSOR_CHARS), Printable]


class Change(WireModel):
    """One object upserted (`data`) or deleted (`deleted`), at `version`."""

    kind: Code
    id: Id
    version: int = Field(ge=1, le=MAX_VERSION)
    deleted: bool = False
    data: dict[str, Any] | None = None
    _object: WireModel | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _data_matches_kind(self) -> Change:
        if self.deleted != (self.data is None):
            raise ValueError("a change has either data (an upsert) or deleted: true, not both")
        model = KIND_MODELS.get(self.kind)
        if model is not None and self.data is not None:
            obj = model.model_validate(self.data)
            if getattr(obj, "id", self.id) != self.id:
                raise ValueError(f"data.id {getattr(obj, 'id', None)!r} is not the change's id")
            self._object = obj
        return self

    @property
    def known(self) -> bool:
        return self.kind in KIND_MODELS

    @property
    def object(self) -> WireModel | None:
        """The validated object of a known kind's upsert; None for tombstones and unknowns."""
        return self._object


class StatePage(WireModel):
    """One page of changes; ask again with `cursor` (at once while `more`)."""

    cursor: Cursor
    full: bool = False  # part of a full listing: reconcile after its last page
    more: bool = False  # another page follows: ask again at once, without waiting
    changes: list[Change] = Field(max_length=MAX_PAGE_CHANGES)

    @model_validator(mode="after")
    def _each_object_once(self) -> StatePage:
        seen: set[tuple[str, str]] = set()
        for index, change in enumerate(self.changes):
            key = (change.kind, change.id)
            if key in seen:
                raise ValueError(f"changes[{index}]: {change.kind} {change.id!r} appears twice")
            seen.add(key)
        return self


# --- Reports (device -> cloud): `POST /device/events` ---------------------------------------
#
# The agent's outbox uploads events in batches. Each event has a UUID the device chose, so a
# batch sent twice is stored once. The cloud validates each event on its own and answers
# which it stored, which it already had and which it refused (and why): the device deletes
# all three from its outbox, so one malformed event can never block the ones behind it.

MAX_EVENTS_PER_BATCH = 200
MAX_EVENTS_BATCH_BYTES = 1024 * 1024
MAX_PLAY_MS = 7 * 86_400_000  # a week: above any item's time on screen
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024  # a screenshot (PNG) or the agent's last log lines
MAX_LOG_LINES = 2000
MAX_STATUS_LIST = 16  # addresses, errors: at most this many in a heartbeat
EVENT_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

EventId = Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
Detail = Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS), Printable]


class PlayOutcome(StrEnum):
    COMPLETED = "completed"  # played to its end (a video) or for its whole duration (an image)
    CUT = "cut"  # ended early by a switch (a new playlist, a schedule boundary, a command)
    INTERRUPTED = "interrupted"  # the agent stopped while it played (shutdown, crash, kill)
    SKIPPED = "skipped"  # never shown: its file is missing or not yet downloaded
    FAILED = "failed"  # libvlc could not play it; `detail` says why


class PlayEvent(WireModel):
    """Proof of play: one item that really appeared on screen (or was skipped, or failed)."""

    type: Literal["play"] = "play"
    id: EventId
    asset_id: Id | None = None
    sha256: Sha256 = Field(pattern=SHA256_PATTERN)
    name: Name
    playlist_id: Id | None = None
    schedule_reason: Code | None = None  # player.schedule.Reason of the decision in force
    schedule_source: Id | None = None  # the interrupt, entry, group or device it came from
    started_at: Instant  # on the cloud's clock (the device corrects its own)
    ended_at: Instant
    duration_ms: int = Field(ge=0, le=MAX_PLAY_MS)
    outcome: PlayOutcome
    detail: Detail | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> PlayEvent:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class NowPlayingStatus(WireModel):
    name: Name
    asset_id: Id | None = None
    playlist_id: Id | None = None
    since: Instant


class ScheduleStatus(WireModel):
    reason: Code
    source_id: Id | None = None
    why: Detail
    next_boundary: Instant | None = None


class DeviceStatus(WireModel):
    """What a heartbeat says of the device; every field may be missing where unknown."""

    agent_version: Annotated[str, Field(max_length=64), Printable]
    uptime_s: float = Field(ge=0, le=MAX_EXPIRES_IN_S * 100, allow_inf_nan=False)
    playing: NowPlayingStatus | None = None
    message: Detail | None = None  # what the screen shows when nothing plays
    schedule: ScheduleStatus | None = None
    cache_used_bytes: int | None = Field(default=None, ge=0, le=MAX_ASSET_BYTES)
    cache_limit_bytes: int | None = Field(default=None, ge=0, le=MAX_ASSET_BYTES)
    disk_free_bytes: int | None = Field(default=None, ge=0, le=MAX_ASSET_BYTES)
    downloads_pending: int | None = Field(default=None, ge=0, le=MAX_STATE_ASSETS)
    last_sync_at: Instant | None = None
    cursor_age_s: float | None = Field(default=None, ge=0, le=1e10, allow_inf_nan=False)
    clock_offset_s: float | None = Field(default=None, ge=-1e10, le=1e10, allow_inf_nan=False)
    clock_synchronised: bool | None = None
    clock_source: Code | None = None  # "local" or "cloud-corrected"
    cpu_temp_c: float | None = Field(default=None, ge=-100, le=200, allow_inf_nan=False)
    throttled: Code | None = None  # `vcgencmd get_throttled`'s value, e.g. "0x50000"
    display: Detail | None = None  # output and resolution, e.g. "x11 1920x1080"
    ip_addresses: list[Annotated[str, Field(max_length=64), Printable]] = Field(
        default_factory=list, max_length=MAX_STATUS_LIST
    )
    last_errors: list[Detail] = Field(default_factory=list, max_length=MAX_STATUS_LIST)


class Heartbeat(WireModel):
    type: Literal["heartbeat"] = "heartbeat"
    id: EventId
    at: Instant
    status: DeviceStatus


class CommandState(StrEnum):
    STARTED = "started"  # recorded before acting: never run twice, even across a crash
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"  # received after its expiry: not run
    UNSUPPORTED = "unsupported"  # a kind this device cannot do (e.g. no display power control)


FINAL_COMMAND_STATES = frozenset(
    {CommandState.DONE, CommandState.FAILED, CommandState.EXPIRED, CommandState.UNSUPPORTED}
)


class CommandResult(WireModel):
    type: Literal["command_result"] = "command_result"
    id: EventId
    command_id: Id
    at: Instant
    state: CommandState
    detail: Detail | None = None
    attachment: bool = False  # uploaded before this event: `PUT .../commands/{id}/attachment`


class EventsDropped(WireModel):
    """The outbox was full: `count` events of `what` were dropped, oldest first."""

    type: Literal["dropped"] = "dropped"
    id: EventId
    at: Instant
    what: Code
    count: int = Field(ge=1, le=MAX_VERSION)


ReportEvent = Annotated[
    PlayEvent | Heartbeat | CommandResult | EventsDropped, Field(discriminator="type")
]


class EventRefused(WireModel):
    id: Annotated[str, Field(max_length=MAX_ID_CHARS)]  # as sent (it may not be a UUID)
    reason: Detail


class EventsReceipt(WireModel):
    """Answer to `POST /device/events`: every event of the batch is in exactly one list."""

    stored: list[Annotated[str, Field(max_length=MAX_ID_CHARS)]] = Field(
        max_length=MAX_EVENTS_PER_BATCH
    )
    duplicates: list[Annotated[str, Field(max_length=MAX_ID_CHARS)]] = Field(
        max_length=MAX_EVENTS_PER_BATCH
    )
    refused: list[EventRefused] = Field(max_length=MAX_EVENTS_PER_BATCH)


# --- Admin API -------------------------------------------------------------------------


# What an admin sends obeys the bounds a device checks in what the cloud serves (`Name`,
# `Id`: bounded, no control characters), and a name must not be empty.


class ApproveEnrollment(WireModel):
    name: Name = Field(min_length=1)


class ApprovedDevice(WireModel):
    device_id: str
    name: str


class AssetCreated(WireModel):
    id: str
    name: str
    sha256: Sha256
    media_type: MediaType
    size: int


class NewPlaylistItem(WireModel):
    asset_id: Id
    # Finite, and at most the longest an item may stay on screen (a day).
    duration_s: float | None = Field(
        default=None, gt=0, le=MAX_DURATION_MS / 1000, allow_inf_nan=False
    )


class NewPlaylist(WireModel):
    name: Name = Field(min_length=1)
    items: list[NewPlaylistItem] = Field(min_length=1, max_length=MAX_PLAYLIST_ITEMS)


class PlaylistCreated(WireModel):
    id: str
    name: str


class AssignPlaylist(WireModel):
    playlist_id: Id | None


class DeviceSummary(WireModel):
    id: str
    name: str
    playlist_id: str | None
    created_at: str
    last_seen_at: str | None


class Rename(WireModel):
    """Body of the admin rename calls (`PATCH` an asset, a playlist or a device)."""

    name: Name = Field(min_length=1)


class PlaylistItems(WireModel):
    """Body of `PUT /playlists/{id}/items`: the playlist's new items, in play order."""

    items: list[NewPlaylistItem] = Field(min_length=1, max_length=MAX_PLAYLIST_ITEMS)


class AssetSummary(WireModel):
    id: str
    name: str
    sha256: Sha256
    media_type: MediaType
    size: int
    created_at: str
    playlists: int  # how many playlists use it


class PlaylistSummary(WireModel):
    id: str
    name: str
    items: int
    devices: int  # how many devices play it
    created_at: str


class PlaylistDetail(WireModel):
    id: str
    name: str
    created_at: str
    items: list[PlaylistItem]
    devices: list[str]  # ids of the devices that play it


class Role(StrEnum):
    """What a tenant's key may do; docs/device-api.md has the whole matrix."""

    ADMIN = "admin"  # everything, including keys and removing screens
    EDITOR = "editor"  # content, playlists, assigning and renaming screens
    INSTALLER = "installer"  # approve enrollment codes (and name the screen); nothing else
    VIEWER = "viewer"  # read devices, assets and playlists


class NewKey(WireModel):
    """Body of `POST /keys`."""

    role: Role
    name: Name = Field(default="", description="who holds it, e.g. Team North")


class KeySummary(WireModel):
    id: str
    role: Role
    name: str
    created_at: str
    revoked_at: str | None


class KeyCreated(KeySummary):
    key: str  # shown only in this answer: the cloud keeps its SHA-256


__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "CLIENT_ID",
    "CONTROL_CHARACTERS",
    "DEFAULT_MAX_STATE_BYTES",
    "DEFAULT_PAGE_CHANGES",
    "DEVICE_CODE_GRANT",
    "DEVICE_PREFIX",
    "EVENT_ID_PATTERN",
    "FINAL_COMMAND_STATES",
    "KIND_MODELS",
    "MAX_ASSET_BYTES",
    "MAX_ATTACHMENT_BYTES",
    "MAX_CODE_CHARS",
    "MAX_CURSOR_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_DURATION_MS",
    "MAX_EVENTS_BATCH_BYTES",
    "MAX_EVENTS_PER_BATCH",
    "MAX_EXPIRES_IN_S",
    "MAX_GROUPS_PER_DEVICE",
    "MAX_ID_CHARS",
    "MAX_INTERVAL_S",
    "MAX_JSON_ANSWER_BYTES",
    "MAX_LOG_LINES",
    "MAX_NAME_CHARS",
    "MAX_PAGE_CHANGES",
    "MAX_PLAYLIST_ITEMS",
    "MAX_PLAY_MS",
    "MAX_POSITION",
    "MAX_PRIORITY",
    "MAX_STATE_ASSETS",
    "MAX_STATUS_LIST",
    "MAX_TIMEZONE_CHARS",
    "MAX_TOKEN_CHARS",
    "MAX_URI_CHARS",
    "MAX_VERSION",
    "MAX_VOLUME",
    "MAX_YEAR",
    "MIN_YEAR",
    "REFRESH_TOKEN_GRANT",
    "ROTATIONS",
    "SERVER_TIME_HEADER",
    "SHA256_PATTERN",
    "STREAM_SCHEMES",
    "WEEKDAYS",
    "ApproveEnrollment",
    "ApprovedDevice",
    "Asset",
    "AssetCreated",
    "AssetSummary",
    "AssignPlaylist",
    "Change",
    "ChangeKind",
    "ClockTime",
    "Command",
    "CommandKind",
    "CommandResult",
    "CommandState",
    "Cursor",
    "Detail",
    "DeviceAuthorization",
    "DeviceRecord",
    "DeviceStatus",
    "DeviceSummary",
    "DurationMs",
    "ErrorCode",
    "EventId",
    "EventRefused",
    "EventsDropped",
    "EventsReceipt",
    "Group",
    "Heartbeat",
    "Instant",
    "Interrupt",
    "KeyCreated",
    "KeySummary",
    "LocalDate",
    "MediaType",
    "Moment",
    "NewKey",
    "NewPlaylist",
    "NewPlaylistItem",
    "NowPlayingStatus",
    "OAuthError",
    "OnSwitch",
    "PlayEvent",
    "PlayOutcome",
    "Playlist",
    "PlaylistCreated",
    "PlaylistDetail",
    "PlaylistItem",
    "PlaylistItems",
    "PlaylistSummary",
    "Rename",
    "ReportEvent",
    "Role",
    "Rotation",
    "ScheduleEntry",
    "ScheduleStatus",
    "Sha256",
    "StatePage",
    "StreamUrl",
    "TimeZoneName",
    "TokenResponse",
    "Volume",
    "Weekday",
    "stream_sha256",
]
