"""Remote commands: each one the cloud sends is carried out at most once, and answered.

Commands arrive through the delta stream (kind `command`, `sync.models.Command`) and stay in
the store's `objects` table until the cloud has their result. `CommandRunner` looks at them
when woken (`wake()`, after the sync loop applied a page) and decides what to do with each
(`decide`, a pure function). Every decision is written to `command_runs` together with the
`CommandResult` it produces, in one transaction, so the table and the outbox never disagree:

    no row ──run──▶ started ──carried out──▶ done | failed | unsupported
       │           (row and result "started" are written BEFORE acting)
       └──expired, unknown kind, cannot do, bad args──▶ expired | unsupported | failed

    started, found when the agent starts (it stopped, crashed or restarted mid-way):
       restart-agent, reboot ──▶ done ("done after restart": that restart was the point)
       any other kind        ──▶ failed ("the agent stopped while it ran"), never run again

A command that has a row is never carried out again, whatever the cloud sends, so a
`reboot` cannot loop. Expiry is judged on the cloud-corrected clock (`clock`), when the
command is looked at: an offline screen that comes back after `expires_at` answers
`expired` and does nothing.

`restart-agent` records "started", then asks the daemon to exit (`request_restart`); the
daemon exits with `RESTART_EXIT_STATUS` (75, EX_TEMPFAIL) and systemd's `Restart=always`
starts it again, which answers "done". docs/commands.md describes every kind.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from PIL import Image

from agent.backoff import jittered
from agent.content_cache import ContentCache
from agent.errors import PrivilegedError, StoreError
from agent.log_buffer import LogBuffer
from agent.outbox import Outbox
from agent.privileged import Outcome as HelperOutcome
from agent.privileged import Privileged, Verb
from agent.store import CommandRun, Meta, Store
from agent.waiting import wait_event
from player.renderer import RemoteControls
from sync.errors import CloudUnreachable, SyncError
from sync.models import (
    CONTROL_CHARACTERS,
    MAX_ATTACHMENT_BYTES,
    MAX_DESCRIPTION_CHARS,
    MAX_LOG_LINES,
    Command,
    CommandKind,
    CommandResult,
    CommandState,
)

log = logging.getLogger(__name__)

# The daemon's exit status after `restart-agent` (sysexits' EX_TEMPFAIL: "try again later");
# systemd's Restart=always starts it again, and the journal tells it from a crash (1).
RESTART_EXIT_STATUS = 75
IDENTIFY_S = 10.0  # how long `identify` shows the screen's name
# After asking for a reboot (or a restart), how long the agent may still be running before
# the command is answered "failed": the machine (or the daemon) should have stopped by then.
REBOOT_GRACE_S = 300.0
RESTART_GRACE_S = 60.0
# How long an attachment upload is retried while the cloud is unreachable (at most until
# the command expires).
UPLOAD_PATIENCE_S = 300.0
RETRY_ROUND_S = 30.0  # a round that could not write to the store is tried again after this
# A finished run is forgotten this long after it finished, once the cloud took its command
# out of this device's view: one the cloud sent again after that (a restored database) is
# almost surely expired by then, and is answered so, not run.
RUN_MEMORY = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=6)

DONE_AFTER_RESTART = "done after restart"
STOPPED_WHILE_RUNNING = "the agent stopped while it ran"
# Kinds whose whole point is that the agent stops: found "started" at start, they are done.
RESTARTING_KINDS = frozenset({CommandKind.RESTART_AGENT, CommandKind.REBOOT})
PRIVILEGED_VERBS = {
    CommandKind.REBOOT: Verb.REBOOT,
    CommandKind.DISPLAY_OFF: Verb.DISPLAY_OFF,
    CommandKind.DISPLAY_ON: Verb.DISPLAY_ON,
}


# --- the pure decision -------------------------------------------------------------------


class RunState(StrEnum):
    """What `command_runs` (and this process) know of a command."""

    NEW = "new"  # no row: never looked at before
    RUNNING = "running"  # started by this process, being carried out now
    INTERRUPTED = "interrupted"  # started by an earlier process, which stopped before the end
    FINISHED = "finished"  # its final state is recorded


@dataclass(frozen=True)
class Skip:
    """Nothing to do: it is answered already, or being carried out."""


@dataclass(frozen=True)
class Answer:
    """Record `state` as the final result without carrying the command out."""

    state: CommandState
    detail: str


@dataclass(frozen=True)
class Act:
    """Record "started", then carry out `kind` with its checked `args`."""

    kind: CommandKind
    args: Mapping[str, int] = field(default_factory=dict)


Action = Skip | Answer | Act


def run_state(run: CommandRun | None, *, started_here: bool) -> RunState:
    """The `RunState` of a command from its `command_runs` row."""
    if run is None:
        return RunState.NEW
    if run.state != CommandState.STARTED:
        return RunState.FINISHED
    return RunState.RUNNING if started_here else RunState.INTERRUPTED


def after_interruption(kind: str) -> Answer:
    """The final result of a command found started when the agent starts."""
    if kind in RESTARTING_KINDS:
        return Answer(CommandState.DONE, DONE_AFTER_RESTART)
    return Answer(CommandState.FAILED, STOPPED_WHILE_RUNNING)


def check_args(kind: CommandKind, args: Mapping[str, object]) -> dict[str, int] | str:
    """The arguments `kind` uses, checked; or why they are wrong. Others are ignored."""

    def whole(name: str, low: int, high: int, default: int | None) -> int | str:
        value = args.get(name, default)
        # bool is an int in Python, but `true` is not a volume
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = "missing" if value is None else repr(value)[:40]
            return f"args.{name} must be a whole number from {low} to {high}, not {shown}"
        return value

    if kind == CommandKind.SET_VOLUME:
        volume = whole("volume", 0, 100, None)
        return volume if isinstance(volume, str) else {"volume": volume}
    if kind == CommandKind.LOGS:
        lines = whole("lines", 1, MAX_LOG_LINES, MAX_LOG_LINES)
        return lines if isinstance(lines, str) else {"lines": lines}
    return {}


def decide(
    command: Command,
    run: RunState,
    now: datetime,
    unavailable: Mapping[str, str] | None = None,
) -> Action:
    """What to do with `command` now (on the cloud-corrected clock).

    `unavailable` names the kinds this device cannot do, with the reason (no display power
    control, no privileged helper). In order: a command already answered or being carried
    out is skipped; one interrupted by a stop is answered by `after_interruption`, even
    past its expiry (it did start in time); a new one past `expires_at` is expired; one of
    a kind this agent does not know, or cannot do here, is unsupported; one with bad
    arguments failed; anything else is carried out.
    """
    if run in (RunState.FINISHED, RunState.RUNNING):
        return Skip()
    if run == RunState.INTERRUPTED:
        return after_interruption(command.kind)
    if now >= command.expires_at:
        return Answer(
            CommandState.EXPIRED,
            f"received after it expired at {command.expires_at.isoformat()}: not run",
        )
    try:
        kind = CommandKind(command.kind)
    except ValueError:
        return Answer(
            CommandState.UNSUPPORTED, f"this agent does not know the command {command.kind!r}"
        )
    reason = (unavailable or {}).get(kind)
    if reason is not None:
        return Answer(CommandState.UNSUPPORTED, reason)
    args = check_args(kind, command.args)
    if isinstance(args, str):
        return Answer(CommandState.FAILED, args)
    return Act(kind, args)


# --- carrying commands out -----------------------------------------------------------------


class Uploader(Protocol):
    """`sync.client.DeviceClient.put_attachment`: PUT /device/commands/{id}/attachment."""

    async def __call__(self, command_id: str, data: bytes, content_type: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """How carrying a command out ended."""

    state: CommandState
    detail: str
    attachment: bool = False  # uploaded before the result
    volume: int | None = None  # `set-volume`: kept in the store with the result


def printable(text: str) -> str:
    """`text` as a result's detail: one line, no control characters, within the bound."""
    text = CONTROL_CHARACTERS.sub(" ", text)
    if len(text) > MAX_DESCRIPTION_CHARS:
        text = text[: MAX_DESCRIPTION_CHARS - 1] + "…"
    return text


def png_within(data: bytes, limit: int) -> bytes:
    """`data` (a PNG) as it is when it fits in `limit` bytes, else scaled down until it does."""
    if len(data) <= limit:
        return data
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGB")
    while True:
        picture = picture.resize((max(1, picture.width * 3 // 4), max(1, picture.height * 3 // 4)))
        out = io.BytesIO()
        picture.save(out, format="PNG", optimize=True)
        if out.tell() <= limit or picture.width <= 16:
            return out.getvalue()


def text_within(lines: list[str], limit: int) -> bytes:
    """The newest of `lines` that fit in `limit` bytes of UTF-8, one per line."""
    kept: list[bytes] = []
    size = 0
    for line in reversed(lines):
        encoded = f"{line}\n".encode()
        if size + len(encoded) > limit:
            break
        kept.append(encoded)
        size += len(encoded)
    return b"".join(reversed(kept))


class CommandRunner:
    """Carries out the commands the store holds, one at a time, each at most once.

    Build it with the daemon's parts (keyword arguments), run `run()` as one of the
    daemon's tasks, and call `wake()` whenever a page of changes was applied.
    """

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        clock: Callable[[], datetime],
        sync_now: Callable[[], None],
        request_restart: Callable[[], None],
        privileged: Privileged,
        cache: ContentCache,
        upload: Uploader,
        screen: RemoteControls | None = None,
        logs: LogBuffer | None = None,
        now_showing: Callable[[], str | None] = lambda: None,
        identify_s: float = IDENTIFY_S,
        reboot_grace_s: float = REBOOT_GRACE_S,
        restart_grace_s: float = RESTART_GRACE_S,
        upload_patience_s: float = UPLOAD_PATIENCE_S,
    ) -> None:
        """`clock`: the cloud-corrected time (agent.clock.ScheduleClock's reading);
        `sync_now`: ask the sync loop to poll the cloud at once; `request_restart`: ask the
        daemon to exit with `RESTART_EXIT_STATUS`; `upload`: `DeviceClient.put_attachment`;
        `screen`: the renderer; `logs`: the CLI's `LogBuffer`; `now_showing`: the sha256
        of the item on screen (kept by `clear-cache` even if no playlist names it now)."""
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._sync_now = sync_now
        self._request_restart = request_restart
        self._privileged = privileged
        self._cache = cache
        self._upload = upload
        self._screen = screen
        self._logs = logs
        self._now_showing = now_showing
        self._identify_s = identify_s
        self._reboot_grace_s = reboot_grace_s
        self._restart_grace_s = restart_grace_s
        self._upload_patience_s = upload_patience_s
        self._wanted = asyncio.Event()
        self._started_here: set[str] = set()
        self._pruned_at: datetime | None = None
        self._unsaved: dict[str, tuple[str, Outcome]] = {}  # finals the store refused
        self._resolved_interrupted = False
        self._retry = False

    # --- driving -------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the commands held soon (the sync loop applied a page). Never blocks."""
        self._wanted.set()

    async def run(self) -> None:
        """Answer what is held now, then again on every `wake()`, until cancelled."""
        while True:
            self._wanted.clear()
            try:
                await self.run_once()
            except Exception:  # a bug must not end the daemon's commands task
                log.exception("commands: a round failed; trying again in %.0f s", RETRY_ROUND_S)
                self._retry = True
            wait = RETRY_ROUND_S if (self._retry or self._unsaved) else None
            await wait_event(self._wanted, wait)

    async def run_once(self) -> None:
        """One round: answer interrupted runs (first round), then every command held."""
        self._retry = False
        for command_id, (kind, outcome) in list(self._unsaved.items()):
            if self._finish(command_id, kind, outcome):
                del self._unsaved[command_id]
        if not self._resolved_interrupted:
            self._resolved_interrupted = self._answer_interrupted()
        self._prune()
        runs = self._store.command_runs()
        unavailable: dict[str, str] | None = None
        for command in self._store.commands():
            state = run_state(runs.get(command.id), started_here=command.id in self._started_here)
            if state in (RunState.FINISHED, RunState.RUNNING):
                continue
            if unavailable is None:
                unavailable = self._unavailable()
            action = decide(command, state, self._clock(), unavailable)
            if isinstance(action, Answer) and state == RunState.INTERRUPTED:
                self._finish(command.id, command.kind, Outcome(action.state, action.detail))
            elif isinstance(action, Answer):
                self._answer(command, action)
            elif isinstance(action, Act):
                await self._carry_out(command, action)

    def _prune(self) -> None:
        """Forget old finished runs, every `PRUNE_EVERY` at most (`Store.prune_command_runs`)."""
        now = self._clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        try:
            forgotten = self._store.prune_command_runs(now - RUN_MEMORY)
        except StoreError as exc:
            log.warning("%s", exc)
            return
        if forgotten:
            log.info("commands: forgot %d run(s) finished before %s", forgotten, now - RUN_MEMORY)

    def _answer_interrupted(self) -> bool:
        """Answer every run an earlier process left "started"; False if one could not be."""
        answered_all = True
        for run in self._store.command_runs().values():
            if run.state != CommandState.STARTED or run.command_id in self._started_here:
                continue
            answer = after_interruption(run.kind)
            log.warning(
                "command %s (%s) was started before the agent stopped: answering %s (%s)",
                run.command_id, run.kind, answer.state, answer.detail,
            )  # fmt: skip
            outcome = Outcome(answer.state, answer.detail)
            answered_all &= self._finish(run.command_id, run.kind, outcome)
        return answered_all

    def _unavailable(self) -> dict[str, str]:
        reasons: dict[str, str] = {}
        for kind, verb in PRIVILEGED_VERBS.items():
            reason = self._privileged.unavailable(verb)
            if reason is not None:
                reasons[kind] = reason
        if self._screen is None:
            for kind in (CommandKind.SCREENSHOT, CommandKind.SET_VOLUME, CommandKind.IDENTIFY):
                reasons[kind] = "this agent runs without a screen"
        if self._logs is None:
            reasons[CommandKind.LOGS] = "this agent keeps no log lines (no log buffer installed)"
        return reasons

    # --- writing ---------------------------------------------------------------------------

    def _result(
        self, command_id: str, state: CommandState, detail: str | None, attachment: bool = False
    ) -> CommandResult:
        return CommandResult(
            id=str(uuid.uuid4()),
            command_id=command_id,
            at=self._clock(),
            state=state,
            detail=None if detail is None else printable(detail),
            attachment=attachment,
        )

    def _answer(self, command: Command, answer: Answer) -> None:
        """A final state without acting: the row and the result in one transaction."""
        result = self._result(command.id, answer.state, answer.detail)
        try:
            with self._store.transaction(f"answer command {command.id}") as db:
                Store.record_command_run(
                    db, command.id, kind=command.kind[:64], state=answer.state,
                    at=result.at, detail=result.detail,
                )  # fmt: skip
                self._outbox.add(db, result)
        except StoreError as exc:
            log.error("%s; trying again later", exc)
            self._retry = True
            return
        log.info("command %s (%s): %s, %s", command.id, command.kind, answer.state, answer.detail)

    def _start(self, command: Command) -> bool:
        """Record "started" and its result in one transaction, before acting."""
        result = self._result(command.id, CommandState.STARTED, None)
        try:
            with self._store.transaction(f"start command {command.id}") as db:
                Store.record_command_run(
                    db, command.id, kind=command.kind, state=CommandState.STARTED, at=result.at
                )
                self._outbox.add(db, result)
        except StoreError as exc:
            log.error("%s; it is not run now, trying again later", exc)
            self._retry = True
            return False
        self._started_here.add(command.id)
        log.info("command %s (%s): started", command.id, command.kind)
        return True

    def _finish(self, command_id: str, kind: str, outcome: Outcome) -> bool:
        """Record the final state and its result in one transaction; False if the store
        refused (kept in memory and tried again each round: never acted on again)."""
        result = self._result(command_id, outcome.state, outcome.detail, outcome.attachment)
        try:
            with self._store.transaction(f"finish command {command_id}") as db:
                Store.finish_command_run(
                    db, command_id, state=outcome.state, at=result.at, detail=result.detail
                )
                self._outbox.add(db, result)
                if outcome.volume is not None:
                    Store.set_within(db, {Meta.VOLUME: str(outcome.volume)})
        except StoreError as exc:
            log.error("%s; keeping the result to write it later", exc)
            self._unsaved[command_id] = (kind, outcome)
            return False
        self._started_here.discard(command_id)
        log.info("command %s (%s): %s, %s", command_id, kind, outcome.state, outcome.detail)
        return True

    # --- acting ------------------------------------------------------------------------------

    async def _carry_out(self, command: Command, act: Act) -> None:
        if not self._start(command):
            return
        try:
            outcome = await self._act(command, act)
        except asyncio.CancelledError:
            raise  # the daemon is stopping: the next start answers it (after_interruption)
        except Exception as exc:
            log.exception("command %s (%s) failed unexpectedly", command.id, act.kind)
            outcome = Outcome(CommandState.FAILED, f"unexpected {type(exc).__name__}: {exc}")
        if not self._finish(command.id, act.kind, outcome):
            self._retry = True

    async def _act(self, command: Command, act: Act) -> Outcome:
        kind = act.kind
        if kind == CommandKind.SYNC_NOW:
            self._sync_now()
            return Outcome(CommandState.DONE, "asked the sync loop to poll the cloud now")
        if kind == CommandKind.RESTART_AGENT:
            log.warning("restarting the agent, as command %s asks", command.id)
            self._request_restart()
            await asyncio.sleep(self._restart_grace_s)  # the daemon cancels this task first
            return Outcome(
                CommandState.FAILED,
                f"asked the agent to restart, but it still ran {self._restart_grace_s:.0f} s later",
            )
        if kind in PRIVILEGED_VERBS:
            return await self._privileged_action(command, PRIVILEGED_VERBS[kind])
        if kind == CommandKind.SCREENSHOT:
            return await self._screenshot(command)
        if kind == CommandKind.SET_VOLUME:
            assert self._screen is not None  # decide() answered "unsupported" otherwise
            volume = act.args["volume"]
            self._screen.set_volume(volume)
            return Outcome(CommandState.DONE, f"volume set to {volume}", volume=volume)
        if kind == CommandKind.IDENTIFY:
            return self._identify()
        if kind == CommandKind.CLEAR_CACHE:
            return self._clear_cache()
        if kind == CommandKind.LOGS:
            return await self._upload_logs(command, act.args["lines"])
        return Outcome(CommandState.UNSUPPORTED, f"no way to carry out {kind!r} here")

    async def _privileged_action(self, command: Command, verb: Verb) -> Outcome:
        try:
            answer = await self._privileged.run(verb)
        except PrivilegedError as exc:
            return Outcome(CommandState.FAILED, str(exc))
        if answer.outcome == HelperOutcome.UNSUPPORTED:
            return Outcome(CommandState.UNSUPPORTED, answer.detail)
        if answer.outcome == HelperOutcome.FAILED:
            return Outcome(CommandState.FAILED, answer.detail)
        if verb != Verb.REBOOT:
            return Outcome(CommandState.DONE, answer.detail)
        log.warning("rebooting, as command %s asks: %s", command.id, answer.detail)
        await asyncio.sleep(self._reboot_grace_s)  # the reboot stops the daemon first
        return Outcome(
            CommandState.FAILED,
            f"the helper answered {answer.detail!r}, but the device still ran "
            f"{self._reboot_grace_s:.0f} s later",
        )

    async def _screenshot(self, command: Command) -> Outcome:
        assert self._screen is not None  # decide() answered "unsupported" otherwise
        with tempfile.TemporaryDirectory(prefix="signage-screenshot-") as folder:
            path = Path(folder) / "screen.png"
            if not await self._screen.snapshot(path):
                return Outcome(CommandState.FAILED, "nothing on screen to capture yet")
            data = await asyncio.to_thread(
                lambda: png_within(path.read_bytes(), MAX_ATTACHMENT_BYTES)
            )
        return await self._attach(command, data, "image/png", f"screenshot of {len(data)} bytes")

    def _identify(self) -> Outcome:
        assert self._screen is not None  # decide() answered "unsupported" otherwise
        name = self._store.get(Meta.DEVICE_NAME) or self._store.get(Meta.DEVICE_ID) or "?"
        if not self._screen.identify(name, self._identify_s):
            return Outcome(CommandState.FAILED, "the screen is not showing anything yet")
        return Outcome(
            CommandState.DONE, f"showing {name!r} over the screen for {self._identify_s:g} s"
        )

    def _clear_cache(self) -> Outcome:
        keep = set(self._store.referenced_blobs())
        showing = self._now_showing()
        if showing:
            keep.add(showing)
        removed, freed = self._cache.drop_unreferenced(keep)
        kept = self._cache.usage().blobs
        return Outcome(
            CommandState.DONE,
            f"deleted {removed} file(s) nothing plays ({freed / 1e6:.1f} MB); kept {kept} in use",
        )

    async def _upload_logs(self, command: Command, count: int) -> Outcome:
        assert self._logs is not None  # decide() answered "unsupported" otherwise
        lines = self._logs.lines(count)
        data = text_within(lines, MAX_ATTACHMENT_BYTES)
        sent = data.count(b"\n")
        return await self._attach(command, data, "text/plain", f"the last {sent} log line(s)")

    async def _attach(self, command: Command, data: bytes, content_type: str, what: str) -> Outcome:
        """Upload `data` as the command's attachment, retrying while the cloud is
        unreachable (for `upload_patience_s`, at most until the command expires)."""
        loop = asyncio.get_running_loop()
        patience = min(
            self._upload_patience_s, (command.expires_at - self._clock()).total_seconds()
        )
        give_up_at = loop.time() + max(0.0, patience)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._upload(command.id, data, content_type)
            except CloudUnreachable as exc:
                wait = jittered(attempt, cap_s=30.0)
                if loop.time() + wait > give_up_at:
                    return Outcome(CommandState.FAILED, f"could not upload {what}: {exc}")
                log.warning("uploading %s failed (%s); trying again in %.0f s", what, exc, wait)
                await asyncio.sleep(wait)
            except (SyncError, ValueError) as exc:  # ValueError: the client refused it
                return Outcome(CommandState.FAILED, f"could not upload {what}: {exc}")
            else:
                return Outcome(CommandState.DONE, f"uploaded {what}", attachment=True)


__all__ = [
    "DONE_AFTER_RESTART",
    "IDENTIFY_S",
    "RESTART_EXIT_STATUS",
    "STOPPED_WHILE_RUNNING",
    "Act",
    "Action",
    "Answer",
    "CommandRunner",
    "RunState",
    "Skip",
    "Uploader",
    "after_interruption",
    "check_args",
    "decide",
    "run_state",
]
