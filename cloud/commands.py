"""Commands: what an admin asks screens to do, delivered through the delta stream.

A command is sent to one device or to a group; it reaches the devices it names *when it is
sent* (a group's members then: its targets, one `command_targets` row each). A device joining
the group later does not get it, one leaving does not lose it, and every target's answer is
accounted for:

    pending ──(started)──▶ started ──(done | failed | expired | unsupported)──▶ final
       └──────────────(done | failed | expired | unsupported)────────────────────▶ final

A command is in a target's view (`cloud.views`) while it is pending or started there and has
not expired (`expires_at`, the cloud's clock): sending it records it for every target, which
wakes their long-polls; a final result records it again for that device, which reads as a
tombstone (it left the view). So does expiry: an expired command is out of every view at once,
and `purge_expired` (a task of the server, every second) records the tombstones for the
devices that still held it, once (`commands.expiry_told`).

Results arrive as `CommandResult` events (`cloud.events`): a result for a command that was not
sent to the reporting device is refused, and so is a second final one (the first stands); a
"started" after the device's final answer changes nothing. A result that comes after the
command expired is still stored: the device may have run it just in time and reported late.
A target that never answered shows as "expired (no answer)" once the command expired.

Screenshots and log lines come as an attachment of the device's result
(`PUT /device/commands/{id}/attachment`), stored per (command, device) as a BLOB of at most
`MAX_ATTACHMENT_BYTES`. An admin waiting for results (`GET /commands/{id}?wait=N`) is woken by
every change of the command's results: `Database.wake` with the command's id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cloud.admin_models import (
    ATTACHMENT_KINDS,
    AttachmentInfo,
    AttachmentStored,
    CommandDetail,
    CommandOutcome,
    NewCommand,
)
from cloud.changelog import ChangeLog
from cloud.devices import no_device
from cloud.errors import Conflict, NotFound, Unprocessable, UnsupportedMediaType
from cloud.groups import no_group
from cloud.store import Database, Row, new_id
from cloud.views import Views, epoch_text, ids_json, instant_text
from sync.models import (
    FINAL_COMMAND_STATES,
    ChangeKind,
    Command,
    CommandKind,
    CommandResult,
    CommandState,
)

log = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What each kind of command may upload.
ATTACHMENT_TYPE = {CommandKind.SCREENSHOT.value: "image/png", CommandKind.LOGS.value: "text/plain"}
OPEN_STATES = ("pending", CommandState.STARTED.value)


def no_command(command_id: str) -> NotFound:
    return NotFound(f"no command {command_id} in this tenant: check the id `command send` printed")


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Commands:
    def __init__(
        self,
        db: Database,
        changelog: ChangeLog,
        views: Views,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._changelog = changelog
        self._views = views
        self._clock = clock

    # --- admin ----------------------------------------------------------------------------

    def send(self, *, tenant_id: str, command: NewCommand) -> CommandDetail:
        """Send a command to a device or to a group's members now; 404 for an unknown target,
        422 for a group with no devices."""
        created = datetime.fromtimestamp(self._clock(), UTC)
        expires = created + timedelta(seconds=command.expires_in_s)
        command_id = new_id("cmd")
        # What the devices will receive, checked by the contract's own model first.
        Command.model_validate(
            {
                "id": command_id,
                "kind": command.kind,
                "args": command.args,
                "created_at": created,
                "expires_at": expires,
            }
        )
        with self._db.write():
            targets = self._views.target(
                tenant_id, device_id=command.device_id, group_id=command.group_id
            )
            if targets is None:
                if command.device_id is not None:
                    raise no_device(command.device_id)
                raise no_group(str(command.group_id))
            if not targets:
                raise Unprocessable(
                    f"group {command.group_id} has no devices: nothing would receive the "
                    "command (`signage-cloud group add` puts devices in it)"
                )
            self._db.insert(
                "commands",
                {
                    "id": command_id,
                    "tenant_id": tenant_id,
                    "kind": command.kind,
                    "args": json.dumps(command.args, sort_keys=True),
                    "device_id": command.device_id,
                    "group_id": command.group_id,
                    "created_at": instant_text(created),
                    "expires_at": instant_text(expires),
                    "expiry_told": 0,
                },
            )
            self._db.insert_many(
                "command_targets",
                ("tenant_id", "command_id", "device_id"),
                [(tenant_id, command_id, device_id) for device_id in targets],
            )
            seq = self._db.next_seq(tenant_id)
            self._changelog.record(tenant_id, seq, targets, [(ChangeKind.COMMAND, command_id)])
        log.info(
            "tenant %s sent %s command %s to %s %s (%d device(s)), expiring at %s",
            tenant_id,
            command.kind,
            command_id,
            "device" if command.device_id else "group",
            command.device_id or command.group_id,
            len(targets),
            instant_text(expires),
        )
        return self.show(tenant_id=tenant_id, command_id=command_id)

    def show(self, *, tenant_id: str, command_id: str) -> CommandDetail:
        """The command and each target's answer; 404 when the tenant has no such command."""
        with self._db.read():
            row = self._db.one(
                "SELECT * FROM commands WHERE tenant_id = ? AND id = ?", (tenant_id, command_id)
            )
            if row is None:
                raise no_command(command_id)
            targets = self._db.all(
                "SELECT t.*, d.name AS device_name, a.content_type, a.size, a.sha256,"
                " a.uploaded_at FROM command_targets t JOIN devices d"
                " ON d.tenant_id = t.tenant_id AND d.id = t.device_id"
                " LEFT JOIN command_attachments a ON a.tenant_id = t.tenant_id"
                " AND a.command_id = t.command_id AND a.device_id = t.device_id"
                " WHERE t.tenant_id = ? AND t.command_id = ? ORDER BY t.device_id",
                (tenant_id, command_id),
            )
        expired = row["expires_at"] <= epoch_text(self._clock())
        devices = [self._outcome(target, expired=expired) for target in targets]
        return CommandDetail(
            id=row["id"],
            kind=row["kind"],
            args=json.loads(row["args"]),
            device_id=row["device_id"],
            group_id=row["group_id"],
            created_at=datetime.fromisoformat(row["created_at"]),
            expires_at=datetime.fromisoformat(row["expires_at"]),
            expired=expired,
            settled=expired or all(outcome.final for outcome in devices),
            devices=devices,
        )

    @staticmethod
    def _outcome(row: Row, *, expired: bool) -> CommandOutcome:
        final = row["state"] in FINAL_COMMAND_STATES
        attachment = None
        if row["content_type"] is not None:
            attachment = AttachmentInfo(
                content_type=row["content_type"],
                size=row["size"],
                sha256=row["sha256"],
                uploaded_at=datetime.fromisoformat(row["uploaded_at"]),
            )
        return CommandOutcome(
            device_id=row["device_id"],
            device_name=row["device_name"],
            state=row["state"],
            final=final,
            no_answer=expired and not final,
            detail=row["detail"],
            at=_when(row["at"]),
            received_at=_when(row["received_at"]),
            attachment=attachment,
        )

    def attachment(self, *, tenant_id: str, command_id: str, device_id: str) -> tuple[str, bytes]:
        """(content type, bytes) a device uploaded for a command; 404 when there are none."""
        row = self._db.one(
            "SELECT content_type, data FROM command_attachments"
            " WHERE tenant_id = ? AND command_id = ? AND device_id = ?",
            (tenant_id, command_id, device_id),
        )
        if row is None:
            if not self._db.one(
                "SELECT id FROM commands WHERE tenant_id = ? AND id = ?", (tenant_id, command_id)
            ):
                raise no_command(command_id)
            raise NotFound(
                f"device {device_id} uploaded nothing for command {command_id} (yet): "
                f"`signage-cloud command show {command_id}` says where it stands"
            )
        return row["content_type"], bytes(row["data"])

    # --- devices --------------------------------------------------------------------------

    def refusal(self, *, tenant_id: str, device_id: str, result: CommandResult) -> str | None:
        """Why a device's result cannot be taken (None: it can); inside the write."""
        row = self._target(tenant_id, result.command_id, device_id)
        if row is None:
            return f"command {result.command_id} was not sent to this device"
        if row["state"] in FINAL_COMMAND_STATES and result.state in FINAL_COMMAND_STATES:
            return (
                f"this device already answered command {result.command_id} for good "
                f"({row['state']}): the first final result stands"
            )
        return None

    def record_result(
        self,
        *,
        tenant_id: str,
        device_id: str,
        result: CommandResult,
        received_at: str,
        seq: Callable[[], int],
    ) -> None:
        """Store a device's result (after `refusal` said None), inside the caller's write.

        A final result takes the command out of the device's view: it is recorded for the
        device at `seq()` (the batch's sequence number) and reads as a tombstone."""
        row = self._target(tenant_id, result.command_id, device_id)
        assert row is not None
        if row["state"] != "pending" and result.state == CommandState.STARTED:
            return  # already started, or answered for good: nothing newer in it
        self._db.execute(
            "UPDATE command_targets SET state = ?, detail = ?, at = ?, event_id = ?,"
            " received_at = ? WHERE tenant_id = ? AND command_id = ? AND device_id = ?",
            (
                result.state.value,
                result.detail,
                instant_text(result.at),
                result.id,
                received_at,
                tenant_id,
                result.command_id,
                device_id,
            ),
        )
        if result.state in FINAL_COMMAND_STATES:
            self._changelog.record(
                tenant_id, seq(), [device_id], [(ChangeKind.COMMAND, result.command_id)]
            )
        self._db.wake(tenant_id, [result.command_id])  # an admin waiting for its results
        log.info(
            "device %s: command %s %s%s",
            device_id,
            result.command_id,
            result.state.value,
            f" ({result.detail})" if result.detail else "",
        )

    def attach(
        self, *, tenant_id: str, device_id: str, command_id: str, content_type: str, data: bytes
    ) -> AttachmentStored:
        """Store what a device uploaded for a command, replacing an earlier upload of it."""
        if not data:
            raise Unprocessable("the attachment is empty: send the PNG or the log lines")
        with self._db.write():
            command = self._db.one(
                "SELECT kind FROM commands WHERE tenant_id = ? AND id = ?", (tenant_id, command_id)
            )
            if command is None or self._target(tenant_id, command_id, device_id) is None:
                raise NotFound(f"no command {command_id} was sent to this device")
            kind = command["kind"]
            if kind not in ATTACHMENT_KINDS:
                raise Conflict(
                    f"command {command_id} is a {kind} command: only a screenshot or logs "
                    "command takes an attachment"
                )
            if content_type != ATTACHMENT_TYPE[kind]:
                raise UnsupportedMediaType(
                    f"a {kind} command's attachment is {ATTACHMENT_TYPE[kind]}, not {content_type}"
                )
            if content_type == "image/png" and not data.startswith(PNG_SIGNATURE):
                raise Unprocessable("the attachment is labelled image/png but is not a PNG")
            sha256 = hashlib.sha256(data).hexdigest()
            self._db.execute(
                "INSERT INTO command_attachments (tenant_id, command_id, device_id, content_type,"
                " size, sha256, data, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant_id, command_id, device_id) DO UPDATE SET"
                " content_type = excluded.content_type, size = excluded.size,"
                " sha256 = excluded.sha256, data = excluded.data,"
                " uploaded_at = excluded.uploaded_at",
                (
                    tenant_id,
                    command_id,
                    device_id,
                    content_type,
                    len(data),
                    sha256,
                    data,
                    epoch_text(self._clock()),
                ),
            )
            self._db.wake(tenant_id, [command_id])
        log.info(
            "device %s uploaded %d bytes of %s for command %s",
            device_id,
            len(data),
            content_type,
            command_id,
        )
        return AttachmentStored(
            command_id=command_id,
            device_id=device_id,
            content_type=content_type,
            size=len(data),
            sha256=sha256,
        )

    def _target(self, tenant_id: str, command_id: str, device_id: str) -> Row | None:
        return self._db.one(
            "SELECT state FROM command_targets"
            " WHERE tenant_id = ? AND command_id = ? AND device_id = ?",
            (tenant_id, command_id, device_id),
        )

    # --- expiry ---------------------------------------------------------------------------

    def purge_expired(self) -> int:
        """Tell the devices that still held a command at its expiry (tombstones), once.

        A server task calls it every second: a cheap read, and a write only when a command
        expired since. Returns how many commands' expiry was recorded."""
        now = epoch_text(self._clock())
        due = "SELECT tenant_id, id FROM commands WHERE expiry_told = 0 AND expires_at <= ?"
        if not self._db.all(due, (now,)):
            return 0
        with self._db.write():
            by_tenant: dict[str, list[str]] = defaultdict(list)
            for row in self._db.all(due, (now,)):
                by_tenant[row["tenant_id"]].append(row["id"])
            for tenant_id, command_ids in by_tenant.items():
                held: dict[str, list[tuple[str, str]]] = defaultdict(list)
                for row in self._db.all(
                    "SELECT t.device_id, t.command_id FROM command_targets t JOIN devices d"
                    " ON d.tenant_id = t.tenant_id AND d.id = t.device_id"
                    " WHERE t.tenant_id = :tenant AND d.revoked_at IS NULL"
                    " AND t.state IN ('pending', 'started')"
                    " AND t.command_id IN (SELECT value FROM json_each(:ids))",
                    {"tenant": tenant_id, "ids": ids_json(command_ids)},
                ):
                    held[row["device_id"]].append((ChangeKind.COMMAND.value, row["command_id"]))
                if held:
                    self._changelog.record_each(tenant_id, self._db.next_seq(tenant_id), held)
                self._db.execute(
                    "UPDATE commands SET expiry_told = 1 WHERE tenant_id = :tenant"
                    " AND id IN (SELECT value FROM json_each(:ids))",
                    {"tenant": tenant_id, "ids": ids_json(command_ids)},
                )
                self._db.wake(tenant_id, command_ids)
                log.info(
                    "%d command(s) of tenant %s expired; %d device(s) had not answered",
                    len(command_ids),
                    tenant_id,
                    len(held),
                )
        return sum(len(ids) for ids in by_tenant.values())


__all__ = ["ATTACHMENT_TYPE", "PNG_SIGNATURE", "Commands", "no_command"]
