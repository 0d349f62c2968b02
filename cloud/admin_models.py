"""Bodies and answers of the admin API's scheduling, command and report calls, beside those
in `sync.models`.

They are built from the wire types of `sync.models` (`ClockTime`, `LocalDate`, `Moment`,
`Instant`, `TimeZoneName`, `OnSwitch`, `Weekday`), so that what an admin may store is what
a device accepts, plus what only the cloud can check: that a time zone exists (zoneinfo),
that a window is not empty, the caps per tenant.

`NewPlaylistItem`, `NewPlaylist` and `PlaylistItems` extend those of `sync.models` with an
item's window (`valid_from`, `valid_until`), and `AssetCreated` and `AssetSummary` with a
stream's `url`; they belong there once the contract takes them.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from sync import models as wire
from sync.models import (
    MAX_LOG_LINES,
    MAX_PLAYLIST_ITEMS,
    MAX_PRIORITY,
    MAX_VOLUME,
    ClockTime,
    CommandKind,
    CommandState,
    DeviceStatus,
    DeviceSummary,
    Id,
    Instant,
    Interrupt,
    LocalDate,
    Moment,
    Name,
    OnSwitch,
    PlayOutcome,
    Rotation,
    ScheduleEntry,
    StreamUrl,
    TimeZoneName,
    Volume,
    Weekday,
    WireModel,
)

# Caps per tenant: a device's view holds at most what its tenant has.
MAX_SCHEDULE_ENTRIES = 10_000
MAX_GROUPS = 10_000
# Devices named in one call (`group add`, `group remove`).
MAX_DEVICES_PER_CALL = 10_000
# The longest `for_s` of an interrupt: a century (further: give `until`).
MAX_INTERRUPT_S = 100 * 366 * 86_400
# The widest UTC offsets in use: a local time is an instant within these of UTC.
_EAST, _WEST = timedelta(hours=14), timedelta(hours=12)
# Files of a zoneinfo directory that are not zones of their own.
_NOT_ZONES = {"localtime", "posixrules"}


@functools.cache
def known_time_zones() -> frozenset[str]:
    """The IANA names this cloud's zoneinfo knows (the system's, or the tzdata package's)."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES) | {"UTC"}


def _known_zone(name: str) -> str:
    if name not in known_time_zones():
        raise ValueError(
            f"{name!r} is not a time zone this cloud knows: use an IANA name such as "
            "Europe/Berlin, America/New_York or UTC"
        )
    return name


# A time zone name that zoneinfo knows.
KnownTimeZone = Annotated[TimeZoneName, AfterValidator(_known_zone)]


def _start(moment: date | datetime) -> datetime:
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, time())


def _end(moment: date | datetime) -> datetime:
    """Where a window ends: a date means the end of that day (the next day's midnight)."""
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment + timedelta(days=1), time())


def window_is_empty(valid_from: date | datetime, valid_until: date | datetime) -> bool:
    """True when no instant lies in [valid_from, valid_until) in any screen's time zone.

    A date or a date-time without an offset is the screen's local time, unknown here (one
    playlist plays on screens in many zones): against an instant, it is compared at the
    widest offsets in use, UTC-12 and UTC+14.
    """
    start, end = _start(valid_from), _end(valid_until)
    if (start.tzinfo is None) == (end.tzinfo is None):
        return start >= end
    if start.tzinfo is None:  # local start: at the earliest, start - 14 h in UTC
        return start - _EAST >= end.astimezone(UTC).replace(tzinfo=None)
    return start.astimezone(UTC).replace(tzinfo=None) >= end + _WEST


# --- assets -------------------------------------------------------------------------------


def _parsed_url(url: str) -> str:
    """What the contract's `StreamUrl` lets through but no player could open: a host that
    is only a port or user (`http://:80/`, `rtsp://user@/`), an unclosed IPv6 bracket, a
    port that is not a number from 0 to 65535."""
    try:
        parts = urlsplit(url)
    except ValueError:  # only an unclosed or malformed [IPv6] host
        raise ValueError("a stream URL's [IPv6] host is malformed") from None
    try:
        parts.port  # noqa: B018 - read for the ValueError it raises
    except ValueError:
        raise ValueError("a stream URL's port is a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError("a stream URL names a host")
    return url


class NewStream(WireModel):
    """Body of `POST /assets/streams`: a stream, played from its URL (nothing is uploaded).

    The URL is the contract's `StreamUrl` (what a device accepts), and also parses as a URL
    with a host; the cloud never connects to it."""

    name: Name = Field(min_length=1)
    url: Annotated[StreamUrl, AfterValidator(_parsed_url)]


class AssetCreated(wire.AssetCreated):
    """An asset just made: a stream's `url` too (None for a file)."""

    url: str | None = None


class AssetSummary(wire.AssetSummary):
    """An asset as admins see it: a stream's `url` too (None for a file)."""

    url: str | None = None


# --- playlists ----------------------------------------------------------------------------


class NewPlaylistItem(wire.NewPlaylistItem):
    """An item of a new playlist, with the window it plays in (None: unbounded)."""

    valid_from: Moment | None = None
    valid_until: Moment | None = None

    @model_validator(mode="after")
    def _window_not_empty(self) -> NewPlaylistItem:
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and window_is_empty(self.valid_from, self.valid_until)
        ):
            raise ValueError("valid_until is not after valid_from: the item would never play")
        return self


class NewPlaylist(WireModel):
    name: Name = Field(min_length=1)
    items: list[NewPlaylistItem] = Field(min_length=1, max_length=MAX_PLAYLIST_ITEMS)


class PlaylistItems(WireModel):
    """Body of `PUT /playlists/{id}/items`: the playlist's new items, in play order."""

    items: list[NewPlaylistItem] = Field(min_length=1, max_length=MAX_PLAYLIST_ITEMS)


# --- groups -------------------------------------------------------------------------------


class NewGroup(WireModel):
    name: Name = Field(min_length=1)


class GroupSummary(WireModel):
    id: str
    name: str
    playlist_id: str | None  # the group's default playlist
    devices: int  # how many devices are in it
    created_at: str


class GroupMembers(WireModel):
    """Body of `PATCH /groups/{id}/devices`: devices to add to the group and to take out."""

    add: list[Id] = Field(default_factory=list, max_length=MAX_DEVICES_PER_CALL)
    remove: list[Id] = Field(default_factory=list, max_length=MAX_DEVICES_PER_CALL)

    @model_validator(mode="after")
    def _each_once(self) -> GroupMembers:
        both = sorted(set(self.add) & set(self.remove))
        if both:
            raise ValueError(f"{both[0]} is both added and removed")
        return self


# --- devices ------------------------------------------------------------------------------


class DeviceSettings(WireModel):
    """Body of `PATCH /devices/{id}/settings`: what is given changes, the rest stays.

    `rotation` (0, 90, 180, 270 degrees clockwise) and `volume` (0 to 100) given as null
    go back to the screen's own configuration."""

    timezone: KnownTimeZone | None = None
    on_switch: OnSwitch | None = None
    rotation: Rotation | None = None
    volume: Volume | None = None

    @model_validator(mode="after")
    def _something(self) -> DeviceSettings:
        if (
            self.timezone is None
            and self.on_switch is None
            and not {"rotation", "volume"} & self.model_fields_set
        ):
            raise ValueError("give timezone, on_switch, rotation or volume")
        return self


class Playing(WireModel):
    """What a device should play at `at`, by `player.schedule.evaluate`."""

    at: datetime
    playlist_id: str | None
    reason: str  # interrupt, schedule, device default, group default, nothing
    source_id: str | None  # the interrupt, entry, group or device it comes from
    why: str
    items: int  # the playlist's items inside their windows
    on_switch: OnSwitch
    next_boundary: datetime | None  # when that may change next (None: never)
    warnings: list[str] = Field(default_factory=list)


class ReportedStatus(WireModel):
    """A device's latest heartbeat: what it said of itself at `at`, received at `received_at`."""

    at: datetime
    received_at: datetime
    status: DeviceStatus
    playing_playlist: str | None = None  # the name of `status.playing.playlist_id`, if known


class DeviceDetail(WireModel):
    """Answer of `GET /devices/{id}`: the device, what it plays now and what comes next."""

    id: str
    name: str
    playlist_id: str | None
    group_ids: list[str]
    timezone: str
    on_switch: OnSwitch
    rotation: int | None = None  # None: the screen's own configuration
    volume: int | None = None  # None: the screen's own configuration
    created_at: str
    last_seen_at: str | None
    now: Playing
    next: Playing | None  # from the first boundary at which what plays changes; None: never
    online: bool = False  # holds a long-poll, or was heard from within the online window
    status: ReportedStatus | None = None  # its latest heartbeat (None: none yet)
    dropped_events: dict[str, int] = Field(default_factory=dict)  # by `what`, in total


class DeviceListing(DeviceSummary):
    """A device in `GET /devices`: its summary, whether it is online and what it says it plays."""

    online: bool = False
    playlist: str | None = None  # the name of its default playlist (`playlist_id`)
    group_ids: list[str] = Field(default_factory=list)  # in the order it joined them
    groups: list[str] = Field(default_factory=list)  # their names, in the same order
    status_at: datetime | None = None  # its latest heartbeat's `at` (None: none yet)
    playing: str | None = None  # the item on screen by that heartbeat, by name
    playing_playlist_id: str | None = None
    playing_playlist: str | None = None  # that playlist's name, if the tenant still has it


# --- schedules ----------------------------------------------------------------------------


class NewScheduleEntry(WireModel):
    """Body of `POST /schedules`: an entry of a device or of a group (exactly one)."""

    device_id: Id | None = None
    group_id: Id | None = None
    playlist_id: Id
    days: list[Weekday] = Field(default_factory=list, max_length=7)
    from_time: ClockTime | None = None
    to_time: ClockTime | None = None
    start_date: LocalDate | None = None
    end_date: LocalDate | None = None
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    timezone: KnownTimeZone | None = None
    on_switch: OnSwitch | None = None

    @model_validator(mode="after")
    def _consistent(self) -> NewScheduleEntry:
        if (self.device_id is None) == (self.group_id is None):
            raise ValueError("give device_id or group_id: the entry's screen or group")
        if len(set(self.days)) != len(self.days):
            raise ValueError("days name the same day twice")
        if (self.from_time is None) != (self.to_time is None):
            raise ValueError("from_time and to_time come together, or neither")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ScheduleEntrySummary(ScheduleEntry):
    """A schedule entry as admins see it: the wire entry plus the device it belongs to."""

    device_id: str | None = None  # None: an entry of `group_id`


# --- interrupts ---------------------------------------------------------------------------


class NewInterrupt(WireModel):
    """Body of `PUT /devices/{id}/interrupt` and `PUT /groups/{id}/interrupt`.

    It starts now (the cloud's clock) and lasts `until` an instant in the future, or
    `for_s` seconds, or until it is cleared (neither).
    """

    playlist_id: Id
    until: Instant | None = None
    for_s: float | None = Field(default=None, gt=0, le=MAX_INTERRUPT_S, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_end(self) -> NewInterrupt:
        if self.until is not None and self.for_s is not None:
            raise ValueError("give until or for_s, not both")
        return self


class InterruptSummary(Interrupt):
    """An interrupt as admins see it: the wire interrupt plus the device it belongs to."""

    device_id: str | None = None  # None: an interrupt of `group_id`


# --- commands -----------------------------------------------------------------------------

# How long a command waits for its devices when the admin does not say (and the bounds).
DEFAULT_COMMAND_EXPIRY_S = 3600
MIN_COMMAND_EXPIRY_S = 10
MAX_COMMAND_EXPIRY_S = 30 * 86_400
DEFAULT_LOG_LINES = 200
COMMAND_KINDS = tuple(kind.value for kind in CommandKind)
ATTACHMENT_KINDS = frozenset({CommandKind.SCREENSHOT.value, CommandKind.LOGS.value})


def _whole_number(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} is a whole number from {low} to {high}")
    return value


def command_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a command of `kind`, checked and completed; ValueError saying why not.

    `set-volume` takes {"volume": 0..100}; `logs` {"lines": 1..MAX_LOG_LINES} (200 when not
    given); every other kind takes none.
    """
    if kind not in COMMAND_KINDS:
        raise ValueError(
            f"{kind[:40]!r} is not a kind of command: use one of {', '.join(COMMAND_KINDS)}"
        )
    if kind == CommandKind.SET_VOLUME:
        if set(args) != {"volume"}:
            raise ValueError("set-volume takes one argument, volume (0 to 100)")
        return {"volume": _whole_number(args["volume"], "volume", 0, MAX_VOLUME)}
    if kind == CommandKind.LOGS:
        if set(args) - {"lines"}:
            raise ValueError(f"logs takes one argument, lines (1 to {MAX_LOG_LINES})")
        lines = args.get("lines", DEFAULT_LOG_LINES)
        return {"lines": _whole_number(lines, "lines", 1, MAX_LOG_LINES)}
    if args:
        raise ValueError(f"{kind} takes no arguments")
    return {}


class NewCommand(WireModel):
    """Body of `POST /commands`: a command for a device or for a group's members (one)."""

    device_id: Id | None = None
    group_id: Id | None = None
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    args: dict[Annotated[str, Field(max_length=32)], int | bool | str] = Field(
        default_factory=dict, max_length=8
    )
    expires_in_s: int = Field(
        default=DEFAULT_COMMAND_EXPIRY_S, ge=MIN_COMMAND_EXPIRY_S, le=MAX_COMMAND_EXPIRY_S
    )

    @model_validator(mode="after")
    def _consistent(self) -> NewCommand:
        if (self.device_id is None) == (self.group_id is None):
            raise ValueError("give device_id or group_id: the command's screen or group")
        object.__setattr__(self, "args", command_args(self.kind, dict(self.args)))
        return self


class AttachmentInfo(WireModel):
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class CommandOutcome(WireModel):
    """One device's answer to a command (one row per device it was sent to)."""

    device_id: str
    device_name: str
    # pending: nothing from the device yet; cancelled: an admin cancelled it before the
    # device started it (the cloud's mark; a device's own answer, even a late one, wins)
    state: Literal["pending", "cancelled"] | CommandState
    final: bool  # done, failed, expired, unsupported or cancelled: nothing more to come
    no_answer: bool  # not final, and the command expired: "expired (no answer)"
    detail: str | None
    at: datetime | None  # when the device says it reached `state`
    received_at: datetime | None
    attachment: AttachmentInfo | None


class CommandDetail(WireModel):
    """A command with its result on each device it was sent to."""

    id: str
    kind: str
    args: dict[str, int | bool | str]
    device_id: str | None  # sent to this device, or
    group_id: str | None  # to the members of this group when it was sent
    created_at: datetime
    expires_at: datetime
    expired: bool
    settled: bool  # every device answered for good, or the command expired
    devices: list[CommandOutcome]


# `GET /commands`: a page of the tenant's commands, newest first.
DEFAULT_COMMAND_PAGE = 50
MAX_COMMAND_PAGE = 500
# What `command list --limit` shows at most (several pages).
MAX_COMMAND_LISTING = 10_000


class CommandSummary(WireModel):
    """A command of `GET /commands`: what was sent, and how many of its devices are where."""

    id: str
    kind: str
    args: dict[str, int | bool | str]
    device_id: str | None
    group_id: str | None
    created_at: datetime
    expires_at: datetime
    expired: bool
    settled: bool  # as in CommandDetail
    devices: int  # how many devices it was sent to
    # {state: how many devices}: pending, cancelled and the device states, those with none
    # left out; "pending" after the expiry is what `command show` calls "expired (no answer)"
    states: dict[str, int]


class CommandListing(WireModel):
    """A page of `GET /commands`: ask again with `after=next` while `next` is set."""

    commands: list[CommandSummary]
    next: str | None


class CommandCancelled(WireModel):
    """Answer of `POST /commands/{id}/cancel`: what the cancel did, and the command now."""

    cancelled: list[str]  # the devices it was cancelled for by this call
    message: str  # what was done, for a person
    command: CommandDetail


class AttachmentStored(WireModel):
    """Answer of the device's `PUT /commands/{id}/attachment`."""

    command_id: str
    device_id: str
    content_type: str
    size: int
    sha256: str


# --- reports ------------------------------------------------------------------------------

MAX_REPORT_PAGE = 1000
DEFAULT_REPORT_PAGE = 500
MAX_SUMMARY_DAYS = 366
# Outcomes that count as a play in a summary: the item was on screen (to its end, or until
# a switch cut it).
PLAYED = (PlayOutcome.COMPLETED, PlayOutcome.CUT)


class PlayRecord(WireModel):
    """One play event as the device reported it, with the device that reported it."""

    id: str
    device_id: str
    device_name: str
    asset_id: str | None
    sha256: str
    name: str
    playlist_id: str | None
    schedule_reason: str | None
    schedule_source: str | None
    started_at: datetime
    ended_at: datetime
    duration_ms: int
    outcome: PlayOutcome
    detail: str | None
    received_at: datetime


class PlayReport(WireModel):
    """A page of `GET /reports/plays`: ask again with `after=next` while `next` is set."""

    plays: list[PlayRecord]
    next: str | None


class PlaySummaryRow(WireModel):
    """What one asset did on one day (UTC, by the start of each play)."""

    day: date
    asset_id: str | None
    sha256: str
    name: str  # the asset's name now, or as the device reported it once it is gone
    plays: int  # completed + cut
    completed: int
    cut: int
    interrupted: int
    skipped: int
    failed: int
    seconds: float  # on screen: the durations of every play event
    devices: int  # how many devices reported it that day


class PlaySummary(WireModel):
    since: datetime
    until: datetime
    rows: list[PlaySummaryRow]


__all__ = [
    "ATTACHMENT_KINDS",
    "COMMAND_KINDS",
    "DEFAULT_COMMAND_EXPIRY_S",
    "DEFAULT_COMMAND_PAGE",
    "DEFAULT_LOG_LINES",
    "DEFAULT_REPORT_PAGE",
    "MAX_COMMAND_EXPIRY_S",
    "MAX_COMMAND_LISTING",
    "MAX_COMMAND_PAGE",
    "MAX_DEVICES_PER_CALL",
    "MAX_GROUPS",
    "MAX_INTERRUPT_S",
    "MAX_REPORT_PAGE",
    "MAX_SCHEDULE_ENTRIES",
    "MAX_SUMMARY_DAYS",
    "MAX_VOLUME",
    "MIN_COMMAND_EXPIRY_S",
    "PLAYED",
    "AssetCreated",
    "AssetSummary",
    "AttachmentInfo",
    "AttachmentStored",
    "CommandCancelled",
    "CommandDetail",
    "CommandListing",
    "CommandOutcome",
    "CommandSummary",
    "DeviceDetail",
    "DeviceListing",
    "DeviceSettings",
    "GroupMembers",
    "GroupSummary",
    "InterruptSummary",
    "KnownTimeZone",
    "NewCommand",
    "NewGroup",
    "NewInterrupt",
    "NewPlaylist",
    "NewPlaylistItem",
    "NewScheduleEntry",
    "NewStream",
    "PlayRecord",
    "PlayReport",
    "PlaySummary",
    "PlaySummaryRow",
    "Playing",
    "PlaylistItems",
    "ReportedStatus",
    "ScheduleEntrySummary",
    "command_args",
    "known_time_zones",
    "window_is_empty",
]
