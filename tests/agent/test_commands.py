"""`agent.commands`: every command the cloud sends is carried out at most once and answered
exactly once, across crashes, with a real store (SQLite file), the real outbox, the real
content cache and, for what reaches the screen, the real renderer on libvlc's dummy
output. The privileged helper is replaced at its interface (`agent.privileged.Privileged`)
and the attachment upload at `DeviceClient.put_attachment`'s signature."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageStat

from agent.commands import (
    DONE_AFTER_RESTART,
    RUN_MEMORY,
    STOPPED_WHILE_RUNNING,
    Act,
    Answer,
    CommandRunner,
    RunState,
    Skip,
    check_args,
    decide,
    png_within,
    text_within,
)
from agent.content_cache import ContentCache
from agent.errors import StoreError
from agent.log_buffer import LogBuffer
from agent.outbox import Outbox
from agent.privileged import NO_DISPLAY_CONTROL, HelperClient, Outcome, PrivilegedError, Verb
from agent.privileged import Answer as HelperAnswer
from agent.store import Meta, Store
from player import PlayableItem, VideoOutput, VlcRenderer, choose_video_output
from sync.errors import CloudResponseError, CloudUnreachable
from sync.models import (
    MAX_LOG_LINES,
    Asset,
    Command,
    CommandKind,
    CommandResult,
    CommandState,
    DeviceRecord,
    Playlist,
)
from tests.player.xvfb import running_xvfb, xvfb_available
from tests.support.media import make_image
from tests.support.pages import item, listing, page

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GUARD_S = 20.0


# --- building blocks -----------------------------------------------------------------------


def command(
    id_: str, kind: str, *, args: dict[str, Any] | None = None, expires_in_s: float = 600
) -> Command:
    return Command(
        id=id_,
        kind=kind,
        args=args or {},
        created_at=NOW - timedelta(seconds=5),
        expires_at=NOW + timedelta(seconds=expires_in_s),
    )


def receive(store: Store, *commands: Command, cursor: str = "c2") -> None:
    """The commands arrive through the delta stream, as the sync loop applies them."""
    changes = [
        {"kind": "command", "id": c.id, "version": 10, "data": c.model_dump(mode="json")}
        for c in commands
    ]
    store.apply_page(page(cursor, *changes), starts_listing=False)


def results(store: Store) -> list[CommandResult]:
    """Every command result in the outbox, oldest first."""
    return [
        CommandResult.model_validate_json(p.body)
        for p in Outbox(store).oldest(10_000)
        if p.type == "command_result"
    ]


def states(store: Store, command_id: str) -> list[str]:
    return [r.state.value for r in results(store) if r.command_id == command_id]


@dataclass
class FakePrivileged:
    """`agent.privileged.Privileged` replaced at its interface: what it was asked, and
    what it answers (or a wait that never ends, as a reboot under way)."""

    unavailable_reason: str | None = None
    answer: HelperAnswer = field(default_factory=lambda: HelperAnswer(Outcome.OK, "done"))
    hang: bool = False
    error: str | None = None
    asked: list[Verb] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def unavailable(self, verb: Verb) -> str | None:
        return self.unavailable_reason

    async def run(self, verb: Verb) -> HelperAnswer:
        self.asked.append(verb)
        self.started.set()
        if self.hang:
            await asyncio.Event().wait()
        if self.error:
            raise PrivilegedError(self.error)
        return self.answer


@dataclass
class Uploads:
    """`DeviceClient.put_attachment`'s signature: what was uploaded (or the errors to raise
    first, one per call)."""

    sent: list[tuple[str, bytes, str]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def __call__(self, command_id: str, data: bytes, content_type: str) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((command_id, data, content_type))


@dataclass
class Parts:
    store: Store
    cache: ContentCache
    privileged: FakePrivileged = field(default_factory=FakePrivileged)
    uploads: Uploads = field(default_factory=Uploads)
    polls: list[str] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    now: datetime = NOW

    def runner(self, **overrides: Any) -> CommandRunner:
        arguments: dict[str, Any] = {
            "store": self.store,
            "outbox": Outbox(self.store),
            "clock": lambda: self.now,
            "sync_now": lambda: self.polls.append("poll"),
            "request_restart": lambda: self.restarts.append("restart"),
            "privileged": self.privileged,
            "cache": self.cache,
            "upload": self.uploads,
            "restart_grace_s": 30.0,
            "reboot_grace_s": 30.0,
            **overrides,
        }
        return CommandRunner(**arguments)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def parts(state_dir: Path) -> Iterator[Parts]:
    store = Store.open(state_dir)
    store.apply_page(
        listing("c1", version=1, device=DeviceRecord(id="dev_1", name="Lobby", tenant_id="t_1")),
        starts_listing=True,
    )
    try:
        yield Parts(store=store, cache=ContentCache(state_dir))
    finally:
        store.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def until(condition: Any, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + GUARD_S
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


# --- decide: the pure rule ---------------------------------------------------------------

KNOWN = [kind.value for kind in CommandKind]
kinds = st.one_of(st.sampled_from(KNOWN), st.from_regex(r"[a-z][a-z-]{0,20}", fullmatch=True))
arg_values = st.one_of(st.integers(-5, 3000), st.booleans(), st.text(alphabet="abc 12", max_size=5))
arg_maps = st.dictionaries(st.sampled_from(["volume", "lines", "other"]), arg_values, max_size=3)


@given(
    kind=kinds,
    args=arg_maps,
    run=st.sampled_from(list(RunState)),
    offset_s=st.integers(-3600, 3600),
    unavailable=st.dictionaries(st.sampled_from(KNOWN), st.just("cannot here"), max_size=3),
)
def test_decide_follows_the_rules_in_order(
    kind: str, args: dict[str, Any], run: RunState, offset_s: int, unavailable: dict[str, str]
) -> None:
    cmd = Command(
        id="cmd_1", kind=kind, args=args, created_at=NOW - timedelta(hours=2),
        expires_at=NOW,
    )  # fmt: skip
    now = NOW + timedelta(seconds=offset_s)
    action = decide(cmd, run, now, unavailable)
    if run in (RunState.FINISHED, RunState.RUNNING):
        assert action == Skip()  # never twice, never while it runs
    elif run == RunState.INTERRUPTED:
        # whatever the clock says now: it started in time, and is never started again
        if kind in ("restart-agent", "reboot"):
            assert action == Answer(CommandState.DONE, DONE_AFTER_RESTART)
        else:
            assert action == Answer(CommandState.FAILED, STOPPED_WHILE_RUNNING)
    elif now >= cmd.expires_at:
        assert isinstance(action, Answer) and action.state == CommandState.EXPIRED
    elif kind not in KNOWN:
        assert isinstance(action, Answer) and action.state == CommandState.UNSUPPORTED
        assert repr(kind) in action.detail
    elif kind in unavailable:
        assert action == Answer(CommandState.UNSUPPORTED, "cannot here")
    elif isinstance(check_args(CommandKind(kind), args), str):
        assert isinstance(action, Answer) and action.state == CommandState.FAILED
        assert action.detail.startswith("args.")
    else:
        assert action == Act(CommandKind(kind), check_args(CommandKind(kind), args))
    # Acting happens only for a new command before its expiry.
    if isinstance(action, Act):
        assert run == RunState.NEW and now < cmd.expires_at


@pytest.mark.parametrize(
    ("kind", "args", "expected"),
    [
        ("set-volume", {"volume": 0}, {"volume": 0}),
        ("set-volume", {"volume": 100}, {"volume": 100}),
        (
            "set-volume",
            {"volume": 101},
            "args.volume must be a whole number from 0 to 100, not 101",
        ),
        (
            "set-volume",
            {"volume": True},
            "args.volume must be a whole number from 0 to 100, not True",
        ),
        ("set-volume", {}, "args.volume must be a whole number from 0 to 100, not missing"),
        ("logs", {}, {"lines": MAX_LOG_LINES}),
        ("logs", {"lines": 1}, {"lines": 1}),
        ("logs", {"lines": 0}, "args.lines must be a whole number from 1 to 2000, not 0"),
        ("screenshot", {"anything": "x"}, {}),
    ],
)
def test_arguments_are_checked(kind: str, args: dict[str, Any], expected: object) -> None:
    assert check_args(CommandKind(kind), args) == expected


# --- exactly once --------------------------------------------------------------------------


def test_a_command_is_run_once_and_answered_started_then_done(parts: Parts) -> None:
    async def scenario() -> None:
        runner = parts.runner()
        receive(parts.store, command("cmd_1", "sync-now"))
        await runner.run_once()
        await runner.run_once()  # the cloud has not deleted it yet: still held, not run again
        assert parts.polls == ["poll"]
        assert states(parts.store, "cmd_1") == ["started", "done"]
        run_row = parts.store.command_runs()["cmd_1"]
        assert (run_row.state, run_row.kind) == ("done", "sync-now")
        assert run_row.started_at and run_row.finished_at
        assert results(parts.store)[-1].at == NOW  # on the clock the runner was given

        # A new runner on the same store (the agent restarted) does not run it either.
        await parts.runner().run_once()
        assert parts.polls == ["poll"]
        assert states(parts.store, "cmd_1") == ["started", "done"]

    run(scenario())


def test_a_crash_between_started_and_done_is_answered_failed_and_never_rerun(
    parts: Parts, state_dir: Path
) -> None:
    """The agent dies while the helper switches the display off: the next agent answers
    "failed" without asking the helper again."""

    async def first_agent() -> None:
        parts.privileged.hang = True
        runner = parts.runner()
        receive(parts.store, command("cmd_off", "display-off"))
        task = asyncio.create_task(runner.run_once())
        await until(parts.privileged.started.is_set, "the helper to be asked")
        task.cancel()  # the agent stops here: nothing more of it runs
        with suppress(asyncio.CancelledError):
            await task

    run(first_agent())
    assert parts.privileged.asked == [Verb.DISPLAY_OFF]
    assert states(parts.store, "cmd_off") == ["started"]
    parts.store.close()

    for _ in range(2):  # the next start answers it; the one after does nothing more
        store = Store.open(state_dir)
        privileged = FakePrivileged()
        again = Parts(store=store, cache=ContentCache(state_dir), privileged=privileged)
        run(again.runner().run_once())
        assert privileged.asked == []
        assert states(store, "cmd_off") == ["started", "failed"]
        assert results(store)[-1].detail == STOPPED_WHILE_RUNNING
        store.close()
    parts.store = Store.open(state_dir)  # for the fixture's close


CRASHING_AGENT = textwrap.dedent(
    """
    import asyncio, os, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from agent.commands import CommandRunner
    from agent.content_cache import ContentCache
    from agent.outbox import Outbox
    from agent.store import Store

    class DiesWhenAsked:  # the helper's interface; the process dies the moment it is asked
        def unavailable(self, verb):
            return None
        async def run(self, verb):
            os._exit(9)

    async def main():
        state = Path(sys.argv[1])
        store = Store.open(state)
        runner = CommandRunner(
            store=store, outbox=Outbox(store),
            clock=lambda: datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
            sync_now=lambda: None, request_restart=lambda: None,
            privileged=DiesWhenAsked(), cache=ContentCache(state), upload=None,
        )
        await runner.run_once()

    asyncio.run(main())
    """
)


def test_a_process_killed_mid_command_leaves_it_started_and_the_next_answers_it(
    parts: Parts, state_dir: Path
) -> None:
    """A real crash: another process takes the command, records it started and dies
    (os._exit, no cleanup, no store close) while carrying it out."""
    receive(parts.store, command("cmd_on", "display-on"))
    parts.store.close()
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_AGENT, str(state_dir)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 9, result.stderr
    parts.store = Store.open(state_dir)
    assert states(parts.store, "cmd_on") == ["started"]
    run(parts.runner().run_once())
    assert parts.privileged.asked == []
    assert states(parts.store, "cmd_on") == ["started", "failed"]


def test_restart_agent_is_done_after_the_restart_and_not_repeated(
    parts: Parts, state_dir: Path
) -> None:
    async def first_agent() -> None:
        runner = parts.runner()
        receive(parts.store, command("cmd_restart", "restart-agent"))
        task = asyncio.create_task(runner.run())
        # The daemon hears the request and stops, cancelling the runner with it.
        await until(lambda: parts.restarts == ["restart"], "the restart request")
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    run(first_agent())
    assert states(parts.store, "cmd_restart") == ["started"]
    parts.store.close()

    # systemd starts the agent again; the cloud still lists the command (no result yet).
    parts.store = Store.open(state_dir)
    parts.restarts.clear()
    run(parts.runner().run_once())
    run(parts.runner().run_once())
    assert parts.restarts == []  # not asked again
    assert states(parts.store, "cmd_restart") == ["started", "done"]
    assert results(parts.store)[-1].detail == DONE_AFTER_RESTART


def test_a_reboot_is_asked_once_and_done_after_the_reboot(parts: Parts, state_dir: Path) -> None:
    async def before_reboot() -> None:
        parts.privileged.answer = HelperAnswer(Outcome.OK, "rebooting")
        runner = parts.runner()
        receive(parts.store, command("cmd_reboot", "reboot"))
        task = asyncio.create_task(runner.run_once())
        await until(lambda: parts.privileged.asked == [Verb.REBOOT], "the reboot request")
        await asyncio.sleep(0.05)
        assert not task.done()  # waiting for the machine to go down, not answering
        task.cancel()  # the machine goes down
        with suppress(asyncio.CancelledError):
            await task

    run(before_reboot())
    parts.store.close()
    parts.store = Store.open(state_dir)
    parts.privileged = FakePrivileged()
    run(parts.runner().run_once())
    assert parts.privileged.asked == []
    assert states(parts.store, "cmd_reboot") == ["started", "done"]
    assert results(parts.store)[-1].detail == DONE_AFTER_RESTART


def test_a_reboot_that_does_not_happen_is_answered_failed(parts: Parts) -> None:
    parts.privileged.answer = HelperAnswer(Outcome.OK, "rebooting")
    receive(parts.store, command("cmd_reboot", "reboot"))
    run(parts.runner(reboot_grace_s=0.05).run_once())
    assert states(parts.store, "cmd_reboot") == ["started", "failed"]
    assert "still ran" in (results(parts.store)[-1].detail or "")


# --- answered without running --------------------------------------------------------------


def test_an_expired_command_is_answered_expired_and_not_run(parts: Parts) -> None:
    receive(parts.store, command("cmd_old", "sync-now", expires_in_s=-1))
    run(parts.runner().run_once())
    assert parts.polls == []
    assert states(parts.store, "cmd_old") == ["expired"]  # no "started": it never started
    assert parts.store.command_runs()["cmd_old"].started_at is None


def test_expiry_is_judged_on_the_clock_the_runner_is_given(parts: Parts) -> None:
    """A Pi whose own clock is an hour behind still sees a command as expired when the
    cloud-corrected clock says so (and the other way round)."""
    receive(parts.store, command("cmd_a", "sync-now", expires_in_s=60))
    parts.now = NOW + timedelta(hours=1)  # what the cloud-corrected clock reads
    run(parts.runner().run_once())
    assert states(parts.store, "cmd_a") == ["expired"]


def test_an_unknown_kind_is_unsupported(parts: Parts) -> None:
    receive(parts.store, command("cmd_x", "self-destruct"))
    run(parts.runner().run_once())
    assert states(parts.store, "cmd_x") == ["unsupported"]
    assert results(parts.store)[-1].detail == "this agent does not know the command 'self-destruct'"


def test_display_power_without_a_way_to_do_it_is_unsupported(parts: Parts) -> None:
    parts.privileged.unavailable_reason = NO_DISPLAY_CONTROL
    receive(parts.store, command("cmd_off", "display-off"), command("cmd_on", "display-on"))
    run(parts.runner().run_once())
    assert parts.privileged.asked == []
    assert states(parts.store, "cmd_off") == states(parts.store, "cmd_on") == ["unsupported"]
    assert results(parts.store)[-1].detail == NO_DISPLAY_CONTROL


def test_without_the_helper_installed_reboot_is_unsupported(parts: Parts, tmp_path: Path) -> None:
    """The real client, with no socket: this machine has no helper (a developer's)."""
    helper = HelperClient(tmp_path / "absent.sock")
    receive(parts.store, command("cmd_reboot", "reboot"))
    run(parts.runner(privileged=helper).run_once())
    assert states(parts.store, "cmd_reboot") == ["unsupported"]
    assert "no privileged helper on this device" in (results(parts.store)[-1].detail or "")


def test_the_helper_saying_unsupported_or_failing_is_reported(parts: Parts) -> None:
    parts.privileged.answer = HelperAnswer(Outcome.UNSUPPORTED, NO_DISPLAY_CONTROL)
    receive(parts.store, command("cmd_off", "display-off"))
    run(parts.runner().run_once())
    assert states(parts.store, "cmd_off") == ["started", "unsupported"]

    parts.privileged.answer = HelperAnswer(Outcome.FAILED, "HDMI-CEC: no display acknowledged")
    parts.privileged.error = "cannot ask the privileged helper: connection refused"
    receive(parts.store, command("cmd_on", "display-on"), cursor="c3")
    run(parts.runner().run_once())
    assert states(parts.store, "cmd_on") == ["started", "failed"]
    assert results(parts.store)[-1].detail == "cannot ask the privileged helper: connection refused"


def test_bad_arguments_fail_without_running(parts: Parts) -> None:
    receive(parts.store, command("cmd_v", "logs", args={"lines": 0}))
    run(parts.runner(logs=LogBuffer()).run_once())
    assert states(parts.store, "cmd_v") == ["failed"]
    assert parts.uploads.sent == []
    assert "args.lines" in (results(parts.store)[-1].detail or "")


def test_commands_are_taken_oldest_first_and_a_wake_starts_a_round(parts: Parts) -> None:
    async def scenario() -> None:
        runner = parts.runner()
        task = asyncio.create_task(runner.run())
        try:
            await asyncio.sleep(0.05)
            newer = command("cmd_b", "sync-now").model_copy(
                update={"created_at": NOW - timedelta(seconds=1)}
            )
            receive(parts.store, newer, command("cmd_a", "self-destruct"))
            runner.wake()
            await until(lambda: len(results(parts.store)) == 3, "three results")
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        assert [(r.command_id, r.state.value) for r in results(parts.store)] == [
            ("cmd_a", "unsupported"), ("cmd_b", "started"), ("cmd_b", "done"),
        ]  # fmt: skip

    run(scenario())


def test_a_command_started_is_answered_even_once_the_cloud_no_longer_lists_it(
    parts: Parts, state_dir: Path
) -> None:
    """The cloud may drop a command from the device's view once it has a "started" result;
    the interrupted run is still answered, from command_runs alone."""

    async def first_agent() -> None:
        parts.privileged.hang = True
        receive(parts.store, command("cmd_off", "display-off"))
        task = asyncio.create_task(parts.runner().run_once())
        await until(parts.privileged.started.is_set, "the helper to be asked")
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    run(first_agent())
    parts.store.apply_page(
        page("c9", {"kind": "command", "id": "cmd_off", "version": 11, "deleted": True}),
        starts_listing=False,
    )
    parts.store.close()
    parts.store = Store.open(state_dir)
    assert parts.store.commands() == []
    run(parts.runner().run_once())
    assert states(parts.store, "cmd_off") == ["started", "failed"]


def test_old_runs_are_forgotten_once_the_cloud_no_longer_lists_them_and_never_rerun(
    parts: Parts,
) -> None:
    receive(parts.store, command("cmd_old", "sync-now"), command("cmd_held", "sync-now"))
    run(parts.runner().run_once())
    assert parts.polls == ["poll", "poll"]
    parts.store.apply_page(  # the cloud has cmd_old's result: it left the view
        page("c9", {"kind": "command", "id": "cmd_old", "version": 11, "deleted": True}),
        starts_listing=False,
    )
    parts.now = NOW + RUN_MEMORY - timedelta(minutes=1)  # not yet old enough
    run(parts.runner().run_once())
    assert set(parts.store.command_runs()) == {"cmd_old", "cmd_held"}
    parts.now = NOW + RUN_MEMORY + timedelta(minutes=1)
    run(parts.runner().run_once())
    # cmd_held is still in the view: its run stays, so it is never run again
    assert set(parts.store.command_runs()) == {"cmd_held"}
    assert parts.polls == ["poll", "poll"]
    assert states(parts.store, "cmd_held") == ["started", "done"]


# --- what each kind does -------------------------------------------------------------------


def blob(cache: ContentCache, content: bytes) -> str:
    sha = hashlib.sha256(content).hexdigest()
    cache.root.mkdir(parents=True, exist_ok=True)
    cache.path(sha).write_bytes(content)
    return sha


def test_clear_cache_deletes_what_nothing_plays_and_keeps_the_rest(parts: Parts) -> None:
    cache = ContentCache(parts.cache.root.parent)
    parts.cache = cache
    played = blob(cache, b"in the playlist")
    showing = blob(cache, b"on screen now, from a playlist just replaced")
    stale = [blob(cache, f"old {n}".encode()) for n in range(3)]
    parts.store.apply_page(
        listing(
            "c5",
            version=5,
            device=DeviceRecord(id="dev_1", name="Lobby", tenant_id="t_1", playlist_id="pl"),
            playlist=Playlist(id="pl", name="Main", items=[item("ast", 0, 5000)]),
            assets=[Asset(id="ast", name="a.png", sha256=played, media_type="image", size=15)],
        ),
        starts_listing=True,
    )
    receive(parts.store, command("cmd_clear", "clear-cache"), cursor="c6")
    run(parts.runner(now_showing=lambda: showing).run_once())
    assert cache.path(played).is_file() and cache.path(showing).is_file()
    assert not any(cache.path(sha).exists() for sha in stale)
    assert cache.present() == {played, showing}
    assert states(parts.store, "cmd_clear") == ["started", "done"]
    assert results(parts.store)[-1].detail == (
        "deleted 3 file(s) nothing plays (0.0 MB); kept 2 in use"
    )


def test_logs_uploads_the_last_lines_as_text(parts: Parts) -> None:
    buffer = LogBuffer(max_lines=50)
    logger = logging.getLogger("tests.commands.logs")
    logger.addHandler(buffer)
    logger.propagate = False
    try:
        for n in range(60):
            logger.warning("line %d of the journal", n)
    finally:
        logger.removeHandler(buffer)
    receive(parts.store, command("cmd_logs", "logs", args={"lines": 5}))
    run(parts.runner(logs=buffer).run_once())
    ((command_id, data, content_type),) = parts.uploads.sent
    assert command_id == "cmd_logs" and content_type == "text/plain"
    lines = data.decode().splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        f"line {n} of the journal" for n in range(55, 60)
    ]
    assert "WARNING tests.commands.logs" in lines[0]
    final = results(parts.store)[-1]
    assert (final.state, final.attachment) == (CommandState.DONE, True)
    assert final.detail == "uploaded the last 5 log line(s)"


def test_logs_without_a_log_buffer_is_unsupported(parts: Parts) -> None:
    receive(parts.store, command("cmd_logs", "logs"))
    run(parts.runner(logs=None).run_once())
    assert states(parts.store, "cmd_logs") == ["unsupported"]


def test_an_upload_is_retried_while_the_cloud_is_unreachable(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.commands.jittered", lambda attempt, cap_s: 0.01)
    buffer = LogBuffer()
    buffer.handle(logging.makeLogRecord({"msg": "hello", "levelname": "INFO"}))
    parts.uploads.errors = [CloudUnreachable("connection refused")] * 2
    receive(parts.store, command("cmd_logs", "logs"))
    run(parts.runner(logs=buffer).run_once())
    assert len(parts.uploads.sent) == 1
    assert states(parts.store, "cmd_logs") == ["started", "done"]

    # Refused by the cloud (not a network failure): no retry, the command failed.
    parts.uploads.errors = [CloudResponseError("the cloud answered 413")]
    receive(parts.store, command("cmd_logs2", "logs"), cursor="c3")
    run(parts.runner(logs=buffer).run_once())
    assert states(parts.store, "cmd_logs2") == ["started", "failed"]
    assert results(parts.store)[-1].attachment is False

    # Unreachable for longer than the patience: failed, with why.
    parts.uploads.errors = [CloudUnreachable("connection refused")] * 100
    receive(parts.store, command("cmd_logs3", "logs"), cursor="c4")
    run(parts.runner(logs=buffer, upload_patience_s=0.05).run_once())
    assert states(parts.store, "cmd_logs3") == ["started", "failed"]
    assert "connection refused" in (results(parts.store)[-1].detail or "")


def test_attachments_are_kept_within_the_bound() -> None:
    picture = Image.effect_noise((900, 900), 120).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    data = out.getvalue()
    small = png_within(data, len(data) // 3)
    assert len(small) <= len(data) // 3
    with Image.open(io.BytesIO(small)) as shrunk:
        assert shrunk.width < 900
    assert png_within(data, len(data)) == data
    assert text_within(["a" * 10, "b" * 10, "c" * 10], 25) == b"bbbbbbbbbb\ncccccccccc\n"


# --- the screen: the real renderer on libvlc's dummy output ---------------------------------


def image(key: str, path: Path, duration_ms: int) -> PlayableItem:
    return PlayableItem(key, path.name, key.ljust(64, "0"), "image", path, duration_ms)


@pytest.fixture
def dummy_output() -> VideoOutput:
    """libvlc's dummy video and audio outputs: decodes for real, draws nothing."""
    return choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))


def test_screenshot_uploads_the_picture_on_screen(
    parts: Parts, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    orange = make_image(tmp_path / "orange.png", "", (230, 120, 20), size=(640, 360))

    async def scenario() -> None:
        renderer = VlcRenderer(video_output=dummy_output, messages_dir=tmp_path / "m")
        started = asyncio.Event()
        await renderer.start(lambda event: started.set())
        try:
            renderer.play(image("orange", orange, 30_000))
            await asyncio.wait_for(started.wait(), GUARD_S)
            receive(parts.store, command("cmd_shot", "screenshot"))
            await parts.runner(screen=renderer).run_once()
        finally:
            await renderer.close()

    run(scenario())
    ((command_id, data, content_type),) = parts.uploads.sent
    assert (command_id, content_type) == ("cmd_shot", "image/png")
    with Image.open(io.BytesIO(data)) as shot:
        mean = ImageStat.Stat(shot.convert("RGB")).mean
    assert all(abs(a - b) <= 25 for a, b in zip(mean, (230, 120, 20), strict=True)), mean
    final = results(parts.store)[-1]
    assert (final.state, final.attachment) == (CommandState.DONE, True)


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_screenshot_on_a_real_x_screen_shows_the_items_colour(
    parts: Parts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teal = make_image(tmp_path / "teal.png", "", (20, 150, 140), size=(1280, 720))

    async def scenario(display: str) -> None:
        monkeypatch.setenv("DISPLAY", display)
        output = choose_video_output("window", environ=os.environ, snd_dir=Path("/none"))
        renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "m")
        started = asyncio.Event()
        await renderer.start(lambda event: started.set())
        try:
            renderer.play(image("teal", teal, 30_000))
            await asyncio.wait_for(started.wait(), GUARD_S)
            receive(parts.store, command("cmd_shot", "screenshot"))
            await parts.runner(screen=renderer).run_once()
        finally:
            await renderer.close()

    with running_xvfb() as xvfb:
        run(scenario(xvfb.display))
    ((_, data, content_type),) = parts.uploads.sent
    assert content_type == "image/png"
    with Image.open(io.BytesIO(data)) as shot:
        picture = shot.convert("RGB")
    for x, y in [(10, 10), (picture.width // 2, picture.height // 2), (picture.width - 10, 10)]:
        pixel = picture.getpixel((x, y))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 25 for a, b in zip(pixel, (20, 150, 140), strict=True)), pixel
    assert states(parts.store, "cmd_shot") == ["started", "done"]


def test_screenshot_before_anything_is_on_screen_fails(
    parts: Parts, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    async def scenario() -> None:
        renderer = VlcRenderer(video_output=dummy_output, messages_dir=tmp_path / "m")
        await renderer.start(lambda event: None)
        try:
            receive(parts.store, command("cmd_shot", "screenshot"))
            await parts.runner(screen=renderer).run_once()
        finally:
            await renderer.close()

    run(scenario())
    assert parts.uploads.sent == []
    assert states(parts.store, "cmd_shot") == ["started", "failed"]
    assert results(parts.store)[-1].detail == "nothing on screen to capture yet"


def test_set_volume_and_identify_reach_the_renderer(
    parts: Parts, dummy_output: VideoOutput, tmp_path: Path
) -> None:
    blue = make_image(tmp_path / "blue.png", "", (20, 40, 160), size=(640, 360))

    async def scenario() -> None:
        renderer = VlcRenderer(video_output=dummy_output, messages_dir=tmp_path / "m")
        events: list[object] = []
        await renderer.start(events.append)
        try:
            renderer.play(image("blue", blue, 30_000))
            await until(lambda: len(events) == 1, "the picture")
            receive(
                parts.store,
                command("cmd_vol", "set-volume", args={"volume": 30}),
                command("cmd_id", "identify"),
            )
            await parts.runner(screen=renderer, identify_s=0.3).run_once()
            assert renderer.volume == 30
            await asyncio.sleep(0.5)  # the overlay comes and goes: no event, no switch
            assert len(events) == 1
        finally:
            await renderer.close()

    run(scenario())
    assert states(parts.store, "cmd_vol") == ["started", "done"]
    assert parts.store.get(Meta.VOLUME) == "30"  # the daemon applies it at its next start
    assert states(parts.store, "cmd_id") == ["started", "done"]
    detail = {r.command_id: r.detail for r in results(parts.store)}
    assert detail == {"cmd_id": "showing 'Lobby' over the screen for 0.3 s",
                      "cmd_vol": "volume set to 30"}  # fmt: skip


def test_without_a_screen_screen_commands_are_unsupported(parts: Parts) -> None:
    receive(parts.store, command("a", "screenshot"), command("b", "identify"),
            command("c", "set-volume", args={"volume": 3}))  # fmt: skip
    run(parts.runner(screen=None).run_once())
    assert [r.state.value for r in results(parts.store)] == ["unsupported"] * 3


def test_the_runner_survives_a_store_that_refuses_a_write(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the command is not run now (not started), and is run once it can be."""
    receive(parts.store, command("cmd_1", "sync-now"))
    original = Outbox.add

    def refuse(self: Outbox, db: Any, event: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Outbox, "add", refuse)
    run(parts.runner().run_once())
    assert parts.polls == [] and parts.store.command_runs() == {}
    monkeypatch.setattr(Outbox, "add", original)
    run(parts.runner().run_once())
    assert parts.polls == ["poll"]
    assert states(parts.store, "cmd_1") == ["started", "done"]


def test_the_store_never_records_a_command_twice(parts: Parts) -> None:
    store = parts.store
    with store.transaction() as db:
        Store.record_command_run(db, "cmd_1", kind="reboot", state="started", at=NOW)
    with pytest.raises(StoreError), store.transaction("start cmd_1 again") as db:
        Store.record_command_run(db, "cmd_1", kind="reboot", state="started", at=NOW)
    with store.transaction() as db:
        Store.finish_command_run(db, "cmd_1", state="done", at=NOW, detail="done after restart")
    with pytest.raises(StoreError, match="not started"), store.transaction() as db:
        Store.finish_command_run(db, "cmd_1", state="failed", at=NOW)
    run_row = store.command_runs()["cmd_1"]
    assert (run_row.state, run_row.detail) == ("done", "done after restart")
    assert run_row.received_at == run_row.started_at and run_row.finished_at
    # a command stored by a newer cloud that no longer reads is skipped, not fatal
    store.db.execute(
        "INSERT INTO objects (kind, id, version, deleted, data)"
        " VALUES ('command', 'bad', 1, 0, '{}')"
    )
    receive(store, command("cmd_2", "sync-now"))
    assert [c.id for c in store.commands()] == ["cmd_2"]
