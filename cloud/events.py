"""What devices report (`POST /device/events`): proof of play, heartbeats, command results.

A batch is `{"events": [...]}`: at most `MAX_EVENTS_PER_BATCH` events and
`MAX_EVENTS_BATCH_BYTES` bytes (`cloud.limits` cuts a larger body off before it is read
whole). Each event is checked on its own with the contract's `ReportEvent` model: one that
fails is refused with a one-line reason and the others are stored, so a malformed event
never blocks the ones behind it in a device's outbox. The answer (`EventsReceipt`) puts every
event in exactly one list:

    stored      new: kept (its id is recorded in `device_events`)
    duplicates  its id was already recorded for the tenant, by this batch or an earlier one
    refused     not valid, or a command result the cloud cannot take (`cloud.commands`)

Everything is attributed to the device that sent the batch, whatever the body says. A batch
is stored in one transaction. What each type does once stored:

    play            a `play_events` row (the reports of `cloud.reports`)
    heartbeat       the device's `device_status`, if its `at` is newer than the one held:
                    an old heartbeat arriving late never replaces a newer one. One dated
                    more than an hour ahead of the cloud's clock is refused: held as the
                    latest, it would hide every true heartbeat after it
    command_result  the device's answer to the command (`cloud.commands`)
    dropped         a `dropped_events` row: what the device's full outbox had to drop

Event ids are kept as long as their rows, except heartbeats', which are kept a day
(`HEARTBEAT_IDS_KEPT_S`): a device sends one a minute, and a heartbeat resent after a day is
harmless (it is older than the status held, so it changes nothing).

Play events are kept for SIGNAGE_CLOUD_PLAY_RETENTION_S after they started: `forget_old_plays`
(a task of the server) deletes older ones with their ids, `PLAYS_PER_BATCH` per transaction.
A play reported after that long is stored, and deleted by the next run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cloud.commands import Commands
from cloud.errors import BadRequest, ContentTooLarge
from cloud.store import Database
from cloud.views import epoch_text, instant_text
from sync.models import (
    CONTROL_CHARACTERS,
    MAX_DESCRIPTION_CHARS,
    MAX_EVENTS_PER_BATCH,
    MAX_ID_CHARS,
    CommandResult,
    EventRefused,
    EventsDropped,
    EventsReceipt,
    Heartbeat,
    PlayEvent,
    ReportEvent,
)

log = logging.getLogger(__name__)

HEARTBEAT_IDS_KEPT_S = 86_400
# How far ahead of the cloud's clock a heartbeat's `at` may be.
HEARTBEAT_AHEAD_S = 3600
EVENT: TypeAdapter[PlayEvent | Heartbeat | CommandResult | EventsDropped] = TypeAdapter(ReportEvent)
BATCH_FORM = 'send {"events": [...]}'
# Old plays deleted per transaction (`forget_old_plays`): each is a row and its id.
PLAYS_PER_BATCH = 500


def batch_events(body: bytes) -> list[Any]:
    """The events of a batch's body, not yet checked; BadRequest or ContentTooLarge."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"the body is not JSON: {BATCH_FORM}") from None
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise BadRequest(f"the body has no list of events: {BATCH_FORM}")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise ContentTooLarge(
            f"{len(events)} events in one batch: send at most {MAX_EVENTS_PER_BATCH} at a time"
        )
    return events


def one_line(text: str, most: int = MAX_DESCRIPTION_CHARS) -> str:
    """`text` on one line without control characters, at most `most` characters."""
    return " ".join(CONTROL_CHARACTERS.sub("?", text).split())[:most]


def why_invalid(exc: ValidationError) -> str:
    """The first problem pydantic found, naming the field; the input is never echoed."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    reason = f"{where}: {message}" if where else message
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problems)"
    return one_line(reason)


def check(raw: Any) -> PlayEvent | Heartbeat | CommandResult | EventsDropped | EventRefused:
    """An event of a batch, validated on its own: the event, or why it is refused."""
    sent_id = raw.get("id") if isinstance(raw, dict) else None
    shown_id = sent_id[:MAX_ID_CHARS] if isinstance(sent_id, str) else ""
    if not isinstance(raw, dict):
        return EventRefused(id=shown_id, reason="an event is a JSON object")
    try:
        return EVENT.validate_python(raw)
    except ValidationError as exc:
        return EventRefused(id=shown_id, reason=why_invalid(exc))


class Events:
    def __init__(
        self, db: Database, commands: Commands, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._commands = commands
        self._clock = clock

    def store(self, *, tenant_id: str, device_id: str, events: list[Any]) -> EventsReceipt:
        """Store a device's batch (see the module docstring); the receipt."""
        checked = [check(raw) for raw in events]
        now = self._clock()
        received_at = epoch_text(now)
        latest_allowed = epoch_text(now + HEARTBEAT_AHEAD_S)
        stored: list[str] = []
        duplicates: list[str] = []
        refused: list[EventRefused] = []
        seq: list[int] = []  # the batch's sequence number, taken once if a result needs one

        def batch_seq() -> int:
            if not seq:
                seq.append(self._db.next_seq(tenant_id))
            return seq[0]

        with self._db.write():
            for event in checked:
                if isinstance(event, EventRefused):
                    refused.append(event)
                    continue
                if self._db.one(
                    "SELECT 1 FROM device_events WHERE tenant_id = ? AND id = ?",
                    (tenant_id, event.id),
                ):
                    duplicates.append(event.id)
                    continue
                reason = None
                if isinstance(event, CommandResult):
                    reason = self._commands.refusal(
                        tenant_id=tenant_id, device_id=device_id, result=event
                    )
                elif isinstance(event, Heartbeat) and instant_text(event.at) > latest_allowed:
                    reason = (
                        f"at {instant_text(event.at)} is more than {HEARTBEAT_AHEAD_S} s ahead "
                        f"of the cloud's clock ({received_at})"
                    )
                if reason is not None:
                    refused.append(EventRefused(id=event.id, reason=reason))
                    continue
                self._db.insert(
                    "device_events",
                    {
                        "tenant_id": tenant_id,
                        "id": event.id,
                        "device_id": device_id,
                        "type": event.type,
                        "received_at": received_at,
                    },
                )
                if isinstance(event, PlayEvent):
                    self._play(tenant_id, device_id, event, received_at)
                elif isinstance(event, Heartbeat):
                    self._heartbeat(tenant_id, device_id, event, received_at)
                elif isinstance(event, CommandResult):
                    self._commands.record_result(
                        tenant_id=tenant_id,
                        device_id=device_id,
                        result=event,
                        received_at=received_at,
                        seq=batch_seq,
                    )
                else:
                    self._dropped(tenant_id, device_id, event, received_at)
                stored.append(event.id)
        if refused:
            log.info(
                "device %s: refused %d of %d event(s), the first: %s",
                device_id,
                len(refused),
                len(events),
                refused[0].reason,
            )
        return EventsReceipt(stored=stored, duplicates=duplicates, refused=refused)

    def _play(self, tenant_id: str, device_id: str, event: PlayEvent, received_at: str) -> None:
        self._db.insert(
            "play_events",
            {
                "tenant_id": tenant_id,
                "id": event.id,
                "device_id": device_id,
                "asset_id": event.asset_id,
                "sha256": event.sha256,
                "name": event.name,
                "playlist_id": event.playlist_id,
                "schedule_reason": event.schedule_reason,
                "schedule_source": event.schedule_source,
                "started_at": instant_text(event.started_at),
                "ended_at": instant_text(event.ended_at),
                "duration_ms": event.duration_ms,
                "outcome": event.outcome.value,
                "detail": event.detail,
                "received_at": received_at,
            },
        )

    def _heartbeat(
        self, tenant_id: str, device_id: str, event: Heartbeat, received_at: str
    ) -> None:
        self._db.execute(
            "INSERT INTO device_status (tenant_id, device_id, event_id, at, status, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, device_id) DO UPDATE SET"
            " event_id = excluded.event_id, at = excluded.at, status = excluded.status,"
            " received_at = excluded.received_at WHERE excluded.at > device_status.at",
            (
                tenant_id,
                device_id,
                event.id,
                instant_text(event.at),
                event.status.model_dump_json(),
                received_at,
            ),
        )

    def _dropped(
        self, tenant_id: str, device_id: str, event: EventsDropped, received_at: str
    ) -> None:
        self._db.insert(
            "dropped_events",
            {
                "tenant_id": tenant_id,
                "id": event.id,
                "device_id": device_id,
                "at": instant_text(event.at),
                "what": event.what,
                "count": event.count,
                "received_at": received_at,
            },
        )
        log.warning(
            "device %s dropped %d %s event(s) from its full outbox",
            device_id,
            event.count,
            event.what,
        )

    def forget_old_heartbeat_ids(self) -> int:
        """Delete the ids of heartbeats received more than a day ago (a server task)."""
        cutoff = epoch_text(self._clock() - HEARTBEAT_IDS_KEPT_S)
        with self._db.write():
            return self._db.execute(
                "DELETE FROM device_events WHERE type = 'heartbeat' AND received_at < ?",
                (cutoff,),
            )

    def forget_old_plays(self, *, keep_s: int) -> int:
        """Delete the play events that started more than `keep_s` ago, with their ids, in
        transactions of `PLAYS_PER_BATCH` (a server task); how many were deleted."""
        cutoff = epoch_text(self._clock() - keep_s)
        deleted = 0
        for tenant in self._db.all("SELECT id FROM tenants ORDER BY id"):
            tenant_id = tenant["id"]

            def one_batch(tenant_id: str = tenant_id) -> int:
                ids = [
                    row["id"]
                    for row in self._db.all(
                        "SELECT id FROM play_events INDEXED BY play_events_by_start"
                        " WHERE tenant_id = ? AND started_at < ? ORDER BY started_at LIMIT ?",
                        (tenant_id, cutoff, PLAYS_PER_BATCH),
                    )
                ]
                if not ids:
                    return 0
                params = {"tenant": tenant_id, "ids": json.dumps(ids)}
                for table in ("play_events", "device_events"):  # the ledger after its rows
                    self._db.execute(
                        f"DELETE FROM {table} WHERE tenant_id = :tenant"  # noqa: S608 - constants
                        " AND id IN (SELECT value FROM json_each(:ids))",
                        params,
                    )
                return len(ids)

            forgotten = self._db.in_batches(one_batch)
            if forgotten:
                log.info(
                    "deleted %d play event(s) of tenant %s that started before %s (kept %d s)",
                    forgotten,
                    tenant_id,
                    cutoff,
                    keep_s,
                )
            deleted += forgotten
        return deleted


__all__ = [
    "EVENT",
    "HEARTBEAT_AHEAD_S",
    "HEARTBEAT_IDS_KEPT_S",
    "PLAYS_PER_BATCH",
    "Events",
    "batch_events",
    "check",
    "why_invalid",
]
