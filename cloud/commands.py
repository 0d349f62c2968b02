"""Commands: what an admin asks screens to do, delivered through the delta stream.

A command is sent to one device or to a group; it reaches the devices it names *when it is
sent* (a group's members then: its targets, one `command_targets` row each). A device joining
the group later does not get it, one leaving does not lose it, and every target's answer is
accounted for:

    pending ──(started)──▶ started ──(done | failed | expired | unsupported)──▶ final
       │└──────────────(done | failed | expired | unsupported)────────────────────▶ final
       └──(an admin cancels it before it expired)──▶ cancelled (the cloud's mark)

A command is in a target's view (`cloud.views`) while it is pending or started there, not
cancelled, and the notice after its expiry has not ended (`offered_until`: `expires_at` plus
SIGNAGE_CLOUD_COMMAND_NOTICE_S as it was when the command was sent). Sending it records it
for every target, which wakes their long-polls; a final result records it again for that
device, which reads as a tombstone (it left the view); so does a cancel, for the devices it
was cancelled for. A screen that was offline at the expiry and comes back within the notice
still gets the command and answers it `expired` (the agent never runs a command past its
expiry), so `command show` says "expired" for it rather than "expired (no answer)". When the
notice ends, `purge_expired` (a task of the server, every second) records the tombstones for
the devices that still held it, once (`commands.expiry_told`).

Expiry is still what settles a command for an admin: `expired` and `settled` turn true at
`expires_at`, so `command show --wait` never waits through the notice; a target with no
answer by then reads "expired (no answer)" until it reports.

Cancelling marks the targets that have not reported anything (`cancelled_at`); the device
contract does not change (it only sees the command leave its view). A target that started or
answered keeps its answer, and so does a device that answers after the cancel (it had the
command and ran it before it heard of the cancel): its own answer is the truth. Cancelling
again, or cancelling a settled command, changes nothing and says so.

Results arrive as `CommandResult` events (`cloud.events`): a result for a command that was not
sent to the reporting device is refused, and so is a second final one (the first stands); a
"started" after the device's final answer changes nothing. A result that comes after the
command expired is still stored: the device may have run it just in time and reported late.

Screenshots and log lines come as an attachment of the device's result
(`PUT /device/commands/{id}/attachment`), stored per (command, device) as a BLOB of at most
`MAX_ATTACHMENT_BYTES`. An admin waiting for results (`GET /commands/{id}?wait=N`) is woken by
every change of the command's results: `Database.wake` with the command's id.

Retention: `forget_old` deletes the commands that expired more than
SIGNAGE_CLOUD_COMMAND_RETENTION_S ago and whose notice ended, with their results and
attachments, in small transactions (`Database.in_batches`), and the ids of command results
received that long ago.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.admin_models import (
    ATTACHMENT_KINDS,
    DEFAULT_COMMAND_PAGE,
    AttachmentInfo,
    AttachmentStored,
    CommandCancelled,
    CommandDetail,
    CommandListing,
    CommandOutcome,
    CommandSummary,
    NewCommand,
)
from cloud.devices import no_device
from cloud.errors import Conflict, NotFound, Unprocessable, UnsupportedMediaType
from cloud.groups import no_group
from cloud.settings import DEFAULT_COMMAND_NOTICE_S
from cloud.store import Row, new_id
from cloud.views import ViewWriter, epoch_text, ids_json, instant_text
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
CANCELLED = "cancelled"
CANCELLED_DETAIL = "cancelled by an admin before the device started it"
# A target's state as `command show` names it: a cancelled one that never reported is
# "cancelled"; a device's own answer wins.
SHOWN_STATE = (
    "CASE WHEN t.state = 'pending' AND t.cancelled_at IS NOT NULL THEN 'cancelled' ELSE t.state END"
)
# A page cursor of `GET /commands`: the last command's creation instant and id.
_LIST_CURSOR = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00)~(cmd_[0-9a-f]{16})"
)
# Deleting old commands (`forget_old`), per transaction: attachments are BLOBs of up to
# 8 MiB (their pages are freed one by one), the other rows are small.
ATTACHMENTS_PER_BATCH = 4
ROWS_PER_BATCH = 1000
COMMANDS_PER_BATCH = 200


def no_command(command_id: str) -> NotFound:
    return NotFound(f"no command {command_id} in this tenant: check the id `command send` printed")


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Commands(ViewWriter):
    # --- admin ----------------------------------------------------------------------------

    def send(
        self, *, tenant_id: str, command: NewCommand, notice_s: int = DEFAULT_COMMAND_NOTICE_S
    ) -> CommandDetail:
        """Send a command to a device or to a group's members now; 404 for an unknown target,
        422 for a group with no devices. It stays in the view of the devices that have not
        answered it for `notice_s` after its expiry (see the module docstring)."""
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
                    "offered_until": instant_text(expires + timedelta(seconds=notice_s)),
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
            **_sent(row, expired=expired),
            settled=expired or all(outcome.final for outcome in devices),
            devices=devices,
        )

    @staticmethod
    def _outcome(row: Row, *, expired: bool) -> CommandOutcome:
        cancelled = row["state"] == "pending" and row["cancelled_at"] is not None
        final = cancelled or row["state"] in FINAL_COMMAND_STATES
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
            state=CANCELLED if cancelled else row["state"],
            final=final,
            no_answer=expired and not final,
            detail=CANCELLED_DETAIL if cancelled else row["detail"],
            at=_when(row["cancelled_at"] if cancelled else row["at"]),
            received_at=_when(row["received_at"]),
            attachment=attachment,
        )

    def list(
        self,
        *,
        tenant_id: str,
        device_id: str | None = None,
        group_id: str | None = None,
        limit: int = DEFAULT_COMMAND_PAGE,
        after: str | None = None,
    ) -> CommandListing:
        """A page of the tenant's commands, newest first: all, those sent to a device (by
        itself or in a group), or those sent to a group. 404 for a device the tenant never
        had; a group is not checked (its commands outlive it). 422 for a bad cursor."""
        if device_id is not None and group_id is not None:
            raise Unprocessable("give device_id or group_id, not both")
        params: dict[str, object] = {"tenant": tenant_id, "count": limit + 1}
        where = ["c.tenant_id = :tenant"]
        if after is not None:
            match = _LIST_CURSOR.fullmatch(after)
            if match is None:
                raise Unprocessable(
                    "after is not a cursor of this listing: give the `next` of the page before"
                )
            params["after_at"], params["after_id"] = match.groups()
            where.append("(c.created_at, c.id) < (:after_at, :after_id)")
        source = "commands c"
        if device_id is not None:
            source = (
                "command_targets t INDEXED BY command_targets_by_device JOIN commands c"
                " ON c.tenant_id = t.tenant_id AND c.id = t.command_id"
            )
            where.append("t.tenant_id = :tenant AND t.device_id = :device")
            params["device"] = device_id
        elif group_id is not None:
            where.append("c.group_id = :group")
            params["group"] = group_id
        sql = (
            f"SELECT c.* FROM {source} WHERE {' AND '.join(where)}"  # noqa: S608 - constants
            " ORDER BY c.created_at DESC, c.id DESC LIMIT :count"
        )
        with self._db.read():
            if device_id is not None and not self._db.one(
                "SELECT 1 FROM devices WHERE tenant_id = ? AND id = ?", (tenant_id, device_id)
            ):
                raise no_device(device_id)
            rows = self._db.all(sql, params)
            more = len(rows) > limit
            rows = rows[:limit]
            counts: dict[str, dict[str, int]] = defaultdict(dict)
            for row in self._db.all(
                f"SELECT t.command_id, {SHOWN_STATE} AS shown, count(*) AS n"  # noqa: S608 - constant
                " FROM command_targets t WHERE t.tenant_id = :tenant"
                " AND t.command_id IN (SELECT value FROM json_each(:ids))"
                " GROUP BY t.command_id, shown",
                {"tenant": tenant_id, "ids": ids_json(row["id"] for row in rows)},
            ):
                counts[row["command_id"]][row["shown"]] = row["n"]
        now = epoch_text(self._clock())
        summaries = []
        for row in rows:
            states = dict(sorted(counts[row["id"]].items()))
            expired = row["expires_at"] <= now
            open_ = states.get("pending", 0) + states.get(CommandState.STARTED.value, 0)
            summaries.append(
                CommandSummary(
                    **_sent(row, expired=expired),
                    settled=expired or open_ == 0,
                    devices=sum(states.values()),
                    states=states,
                )
            )
        last = rows[-1] if rows else None
        cursor = f"{last['created_at']}~{last['id']}" if more and last is not None else None
        return CommandListing(commands=summaries, next=cursor)

    def cancel(self, *, tenant_id: str, command_id: str) -> CommandCancelled:
        """Cancel a command for its targets that have reported nothing yet; 404 when the
        tenant has no such command. Idempotent: what it did is in the answer's `message`."""
        now = epoch_text(self._clock())
        cancelled: list[str] = []
        with self._db.write():
            row = self._db.one(
                "SELECT expires_at FROM commands WHERE tenant_id = ? AND id = ?",
                (tenant_id, command_id),
            )
            if row is None:
                raise no_command(command_id)
            expired = row["expires_at"] <= now
            if not expired:
                cancelled = sorted(
                    target["device_id"]
                    for target in self._db.all(
                        "UPDATE command_targets SET cancelled_at = ? WHERE tenant_id = ?"
                        " AND command_id = ? AND state = 'pending' AND cancelled_at IS NULL"
                        " RETURNING device_id",
                        (now, tenant_id, command_id),
                    )
                )
            if cancelled:  # out of their views at once: a tombstone, as a final result
                seq = self._db.next_seq(tenant_id)
                self._changelog.record(
                    tenant_id, seq, cancelled, [(ChangeKind.COMMAND, command_id)]
                )
                self._db.wake(tenant_id, [command_id])
        detail = self.show(tenant_id=tenant_id, command_id=command_id)
        message = _cancel_message(detail, cancelled)
        if cancelled:
            log.info("tenant %s cancelled command %s: %s", tenant_id, command_id, message)
        return CommandCancelled(cancelled=cancelled, message=message, command=detail)

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

    # --- expiry and retention --------------------------------------------------------------

    def purge_expired(self) -> int:
        """Tell the devices that still held a command when its notice ended (tombstones), once.

        A server task calls it every second: a cheap read, and a write only when a notice
        ended since. Returns how many commands' end was recorded."""
        now = epoch_text(self._clock())
        due = "SELECT tenant_id, id FROM commands WHERE expiry_told = 0 AND offered_until <= ?"
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
                    " AND t.state IN ('pending', 'started') AND t.cancelled_at IS NULL"
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
                    "%d command(s) of tenant %s expired and their notice ended; %d device(s) "
                    "had not answered and no longer get them",
                    len(command_ids),
                    tenant_id,
                    len(held),
                )
        return sum(len(ids) for ids in by_tenant.values())

    def forget_old(self, *, keep_s: int) -> int:
        """Delete the commands that expired more than `keep_s` ago and whose notice ended,
        with their results and attachments, and the ids of command results received more
        than `keep_s` ago; in small transactions. Returns how many commands were deleted."""
        cutoff = epoch_text(self._clock() - keep_s)
        forgotten = 0

        def one_batch() -> int:
            nonlocal forgotten
            deleted, commands = self._forget_batch(cutoff)
            forgotten += commands
            return deleted

        self._db.in_batches(one_batch)
        ids = self._db.in_batches(
            lambda: self._db.execute(
                "DELETE FROM device_events WHERE (tenant_id, id) IN (SELECT tenant_id, id"
                " FROM device_events INDEXED BY device_events_results"
                " WHERE type = 'command_result' AND received_at < ? LIMIT ?)",
                (cutoff, ROWS_PER_BATCH),
            )
        )
        if forgotten or ids:
            log.info(
                "deleted %d command(s) that expired before %s (with their results and "
                "attachments) and %d id(s) of command results received before then",
                forgotten,
                cutoff,
                ids,
            )
        return forgotten

    def _forget_batch(self, cutoff: str) -> tuple[int, int]:
        """One transaction of `forget_old`: (rows deleted, commands among them).

        Attachments first (a few: BLOBs), then results, then the commands left without any;
        the oldest tenant's due commands at a time."""
        first = self._db.one(
            "SELECT tenant_id FROM commands INDEXED BY commands_told_by_expiry"
            " WHERE expiry_told = 1 AND expires_at < ? ORDER BY expires_at LIMIT 1",
            (cutoff,),
        )
        if first is None:
            return 0, 0
        params = {
            "tenant": first["tenant_id"],
            "cutoff": cutoff,
            "commands": COMMANDS_PER_BATCH,
            "attachments": ATTACHMENTS_PER_BATCH,
            "rows": ROWS_PER_BATCH,
        }
        due = (
            "(SELECT id FROM commands WHERE tenant_id = :tenant AND expiry_told = 1"
            " AND expires_at < :cutoff ORDER BY expires_at LIMIT :commands)"
        )
        deleted = self._db.execute(
            "DELETE FROM command_attachments WHERE rowid IN (SELECT rowid"  # noqa: S608 - constant
            f" FROM command_attachments WHERE tenant_id = :tenant AND command_id IN {due}"
            " LIMIT :attachments)",
            params,
        )
        if deleted:
            return deleted, 0
        deleted = self._db.execute(
            "DELETE FROM command_targets WHERE (tenant_id, command_id, device_id) IN"  # noqa: S608 - constant
            " (SELECT tenant_id, command_id, device_id FROM command_targets"
            f" WHERE tenant_id = :tenant AND command_id IN {due} LIMIT :rows)",
            params,
        )
        commands = self._db.execute(
            f"DELETE FROM commands WHERE tenant_id = :tenant AND id IN {due}"  # noqa: S608 - constant
            " AND NOT EXISTS (SELECT 1 FROM command_targets t"
            " WHERE t.tenant_id = commands.tenant_id AND t.command_id = commands.id)",
            params,
        )
        return deleted + commands, commands


def _cancel_message(detail: CommandDetail, cancelled: list[str]) -> str:
    """What `Commands.cancel` did, in a sentence."""
    states = [outcome.state for outcome in detail.devices]
    answered = sum(1 for state in states if state not in ("pending", CANCELLED))
    kept = f"; {answered} device(s) had started or answered it and keep their answer"
    if cancelled:
        return (
            f"cancelled command {detail.id} for {len(cancelled)} device(s) that had not "
            f"started it{kept if answered else ''}"
        )
    if detail.expired and not states.count(CANCELLED):
        return (
            f"nothing to cancel: command {detail.id} expired at "
            f"{instant_text(detail.expires_at)}, and a device that gets it now answers it "
            "expired without running it"
        )
    before = states.count(CANCELLED)
    already = f"it was already cancelled for {before} device(s)" if before else ""
    had = f"{answered} device(s) had started or answered it" if answered else ""
    return f"nothing to cancel: {' and '.join(part for part in (already, had) if part)}"


def _sent(row: Row, *, expired: bool) -> dict[str, Any]:
    """What a `commands` row says of the command as sent (CommandDetail, CommandSummary)."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "args": json.loads(row["args"]),
        "device_id": row["device_id"],
        "group_id": row["group_id"],
        "created_at": datetime.fromisoformat(row["created_at"]),
        "expires_at": datetime.fromisoformat(row["expires_at"]),
        "expired": expired,
    }


__all__ = ["ATTACHMENT_TYPE", "PNG_SIGNATURE", "Commands", "no_command"]
