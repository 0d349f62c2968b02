"""The engine's bookkeeping, driven by scripted renderer events (no libvlc, no threads).

The fake renderer only records what the engine asked for; each test plays the part of
libvlc by sending the events a real renderer would send, in the order it would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from player import (
    DEFAULT_MESSAGE,
    Ended,
    Ending,
    Failed,
    PlayableItem,
    Player,
    PlayerError,
    PlayerState,
    RendererError,
    RetryPolicy,
    ScreenMessage,
    Started,
)
from player.items import FAILING_MESSAGE
from player.renderer import EmitEvent
from tests.player.conftest import Recorder, run, video

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
A = video("A", Path("/cache/a.mp4"))
B = video("B", Path("/cache/b.mp4"))
C = video("C", Path("/cache/c.mp4"))


class ScriptedRenderer:
    """Records commands; the test sends the events."""

    def __init__(self, *, fail_to_start: bool = False) -> None:
        self.commands: list[tuple[str, object]] = []
        self.emit: EmitEvent | None = None
        self.closed = 0
        self.fail_to_start = fail_to_start

    async def start(self, emit: EmitEvent) -> None:
        if self.fail_to_start:
            raise RendererError("no display")
        self.emit = emit

    def play(self, item: PlayableItem) -> None:
        self.commands.append(("play", item.key))

    def show_message(self, message: ScreenMessage) -> None:
        self.commands.append(("message", message.headline))

    async def snapshot(self, path: Path) -> bool:
        return False

    async def close(self) -> None:
        self.closed += 1

    def send(self, event: Started | Ended | Failed) -> None:
        assert self.emit is not None
        self.emit(event)


async def settle() -> None:
    """Let the engine handle everything queued so far."""
    for _ in range(5):
        await asyncio.sleep(0)


async def started_player(
    renderer: ScriptedRenderer,
    recorder: Recorder,
    before_run: Callable[[Player], None] = lambda player: None,
    retry: RetryPolicy | None = None,
) -> tuple[Player, asyncio.Task[None]]:
    player = Player(renderer=renderer, listener=recorder, retry=retry)
    before_run(player)
    task = asyncio.create_task(player.run())
    await settle()
    return player, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_commands_given_before_run_take_effect_without_a_flash_of_message() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()

        def configure(player: Player) -> None:
            player.show_message(ScreenMessage("t", "hello"))
            player.set_playlist([A])
            player.set_playlist([B, C])  # only the newest list counts

        player, task = await started_player(renderer, recorder, configure)
        assert renderer.commands == [("play", "B")]
        assert player.state == PlayerState.PLAYING
        await stop(task)
        assert renderer.closed == 1 and player.state == PlayerState.STOPPED

    run(scenario())


def test_no_playlist_shows_the_default_message_then_the_one_set() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        player, task = await started_player(renderer, recorder)
        assert renderer.commands == [("message", DEFAULT_MESSAGE.headline)]
        player.show_message(ScreenMessage("Enroll this screen", "KXRT-9MBD"))
        await settle()
        assert renderer.commands[-1] == ("message", "KXRT-9MBD")
        assert player.now_playing is None and player.state == PlayerState.MESSAGE
        await stop(task)

    run(scenario())


def test_now_playing_follows_started_and_ended() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        player, task = await started_player(renderer, recorder, lambda p: p.set_playlist([A, B]))
        assert player.now_playing is None  # asked for, not on screen yet
        renderer.send(Started(A, NOW, 1000))
        await settle()
        assert player.now_playing is not None
        assert player.now_playing.item == A and player.now_playing.started_at == NOW
        renderer.send(Ended(A, NOW, 1000))
        await settle()
        assert renderer.commands == [("play", "A"), ("play", "B")]
        assert recorder.details("ended") == [("A", 1000)]
        await stop(task)

    run(scenario())


def test_events_for_an_item_no_longer_playing_are_ignored() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        player, task = await started_player(renderer, recorder, lambda p: p.set_playlist([A]))
        renderer.send(Started(A, NOW))
        await settle()
        player.set_playlist([B])  # A is gone: B now
        await settle()
        # A late end of A (already replaced) must not advance B's playlist.
        renderer.send(Ended(A, NOW, 5))
        renderer.send(Failed(A, "late"))
        await settle()
        assert renderer.commands == [("play", "A"), ("play", "B")]
        assert recorder.keys("failed") == []
        assert recorder.keys("ended") == ["A"]  # reported once, when it was cut off
        await stop(task)

    run(scenario())


def test_a_listener_that_raises_does_not_stop_playback(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        def item_started(self, item: PlayableItem, started_at: datetime) -> None:
            raise RuntimeError("listener bug")

    async def scenario() -> None:
        renderer = ScriptedRenderer()
        _, task = await started_player(renderer, Broken(), lambda p: p.set_playlist([A, B]))
        renderer.send(Started(A, NOW))
        renderer.send(Ended(A, NOW, 10))
        await settle()
        assert renderer.commands == [("play", "A"), ("play", "B")]
        await stop(task)

    run(scenario())
    assert "listener item_started raised" in caplog.text


def test_all_items_failing_shows_the_notice_and_retries_when_due() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        retry = RetryPolicy(first_delay_s=0.2, max_delay_s=0.2)
        player, task = await started_player(
            renderer, recorder, lambda p: p.set_playlist([A, B]), retry
        )
        renderer.send(Failed(A, "broken"))
        await settle()
        renderer.send(Failed(B, "broken"))
        await settle()
        assert player.state == PlayerState.BACKING_OFF
        assert renderer.commands == [
            ("play", "A"),
            ("play", "B"),
            ("message", FAILING_MESSAGE.headline),
        ]
        # Nothing more is tried until the back-off ends, then the rotation resumes.
        await recorder.wait_for(lambda: len(renderer.commands) > 3, "the retry")
        assert renderer.commands[3] == ("play", "A")
        assert player.state == PlayerState.PLAYING
        await stop(task)

    run(scenario())


def test_a_new_playlist_ends_the_back_off_at_once() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        player, task = await started_player(renderer, recorder, lambda p: p.set_playlist([A]))
        renderer.send(Failed(A, "broken"))  # default policy: 30 s back-off
        await settle()
        assert player.state == PlayerState.BACKING_OFF
        player.set_playlist([A, C])
        await settle()
        assert renderer.commands[-1] == ("play", "C")
        await stop(task)

    run(scenario())


def test_a_finishing_switch_plays_the_new_list_once_the_video_on_screen_ends() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        player, task = await started_player(renderer, recorder, lambda p: p.set_playlist([A]))
        renderer.send(Started(A, NOW, 60_000))
        await settle()
        player.set_playlist([B, C], finish_video=True)
        await settle()
        assert renderer.commands == [("play", "A")]  # A is not cut
        player.set_playlist([C, B], finish_video=True)  # a change meanwhile: A still finishes
        await settle()
        assert renderer.commands == [("play", "A")]
        renderer.send(Ended(A, NOW, 60_000))
        await settle()
        assert renderer.commands == [("play", "A"), ("play", "C")]  # the new list, from its top
        assert recorder.details("ended") == [("A", 60_000)]
        # without finish_video the item on screen is cut at once
        renderer.send(Started(C, NOW, 60_000))
        await settle()
        player.set_playlist([A])
        await settle()
        assert renderer.commands[-1] == ("play", "A")
        assert recorder.keys("ended") == ["A", "C"]
        assert recorder.endings == [("A", Ending.FINISHED), ("C", Ending.CUT)]
        await stop(task)

    run(scenario())


def test_stopping_reports_the_item_on_screen_as_ended() -> None:
    async def scenario() -> None:
        renderer, recorder = ScriptedRenderer(), Recorder()
        _, task = await started_player(renderer, recorder, lambda p: p.set_playlist([A]))
        renderer.send(Started(A, NOW))
        await settle()
        await stop(task)
        assert recorder.keys("ended") == ["A"]
        assert recorder.endings == [("A", Ending.STOPPED)]

    run(scenario())


def test_renderer_that_cannot_start_fails_run_and_is_closed() -> None:
    async def scenario() -> None:
        renderer = ScriptedRenderer(fail_to_start=True)
        player = Player(renderer=renderer, listener=Recorder())
        with pytest.raises(RendererError, match="no display"):
            await player.run()
        assert renderer.closed == 1
        with pytest.raises(PlayerError, match="only be called once"):
            await player.run()

    run(scenario())
