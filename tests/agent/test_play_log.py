"""`agent.play_log.PlayLog`: one `PlayEvent` per play, on the cloud's clock, written to the
outbox in the transaction that closes the play; a play a killed agent left open is reported
as interrupted, never overlapping what plays after the restart; a store that cannot write
loses an event, never the playback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.clock import CloudClock
from agent.content_cache import ContentCache
from agent.outbox import Outbox
from agent.play_log import OpenPlay, PlayLog, recovered_end
from agent.screen import SKIPPED_NOT_DOWNLOADED, Screen
from agent.store import CachedItem, Meta, Store
from player import Ending, PlayableItem, Player
from player.schedule import Decision, Reason
from sync.client import DeviceTokens
from sync.models import Asset, DeviceRecord, PlayEvent, Playlist, PlayOutcome
from tests.agent.test_schedule_runner import TimedRenderer
from tests.support.pages import item, listing

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHA = "a" * 64
ITEM = PlayableItem(
    key="pl:0", name="a.png", sha256=SHA, media_type="image", path=Path("/x"), duration_ms=10_000
)
DECISION = Decision(
    playlist_id="pl", items=(), reason=Reason.SCHEDULE, source_id="sch_1",
    why="schedule entry sch_1", on_switch="cut", next_boundary=None,
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path)
    store.save_tokens(DeviceTokens("at", "rt", device_id="dev_1", tenant_id="ten_1"))
    store.apply_page(
        listing(
            "c1",
            version=1,
            device=DeviceRecord(id="dev_1", name="Lobby", tenant_id="ten_1", playlist_id="pl"),
            playlist=Playlist(id="pl", name="Main", items=[item("ast_a", 0, 10_000)]),
            assets=[Asset(id="ast_a", name="a.png", sha256=SHA, media_type="image", size=3)],
        ),
        starts_listing=True,
    )
    return store


def play_log(store: Store, *, offset_s: float = 0.0, wall: float | None = None) -> PlayLog:
    clock = CloudClock(lambda: offset_s)
    if wall is not None:
        clock = CloudClock(lambda: offset_s, wall=lambda: wall)
    return PlayLog(store, Outbox(store), clock=clock, decision=lambda: DECISION)


def sent(store: Store) -> list[PlayEvent]:
    return [PlayEvent.model_validate_json(p.body) for p in Outbox(store).oldest(1000)]


def test_a_play_is_one_event_on_the_clouds_clock_with_its_context(store: Store) -> None:
    log = play_log(store, offset_s=-3600.0)
    log.item_started(ITEM, AT)
    assert store.get_json(Meta.OPEN_PLAY)["name"] == "a.png"
    assert sent(store) == []  # nothing before it ended
    log.item_ended(ITEM, AT + timedelta(seconds=10), 10_000, Ending.FINISHED)
    [event] = sent(store)
    assert event.started_at == AT - timedelta(hours=1)
    assert event.ended_at == AT - timedelta(hours=1) + timedelta(seconds=10)
    assert (event.duration_ms, event.outcome) == (10_000, PlayOutcome.COMPLETED)
    assert (event.asset_id, event.playlist_id, event.sha256, event.name) == (
        "ast_a", "pl", SHA, "a.png",
    )  # fmt: skip
    assert (event.schedule_reason, event.schedule_source) == ("schedule", "sch_1")
    assert store.get(Meta.OPEN_PLAY) is None
    # the local log keeps starts and ends, with the outcome
    assert [(e["event"], e["at"], e["detail"]) for e in store.play_events()] == [
        ("started", "2026-11-25T11:00:00.000+00:00", None),
        ("ended", "2026-11-25T11:00:10.000+00:00", "completed"),
    ]


@pytest.mark.parametrize(
    ("how", "outcome"),
    [(Ending.CUT, PlayOutcome.CUT), (Ending.STOPPED, PlayOutcome.INTERRUPTED)],
)
def test_a_play_cut_by_a_switch_or_a_shutdown_says_so(
    store: Store, how: Ending, outcome: PlayOutcome
) -> None:
    log = play_log(store)
    log.item_started(ITEM, AT)
    log.item_ended(ITEM, AT + timedelta(seconds=3), 3000, how)
    [event] = sent(store)
    assert (event.outcome, event.duration_ms) == (outcome, 3000)


def test_failures_are_reported_with_their_reason(store: Store) -> None:
    log = play_log(store, wall=(AT + timedelta(seconds=4)).timestamp())
    log.item_started(ITEM, AT)
    log.item_failed(ITEM, "the decoder stopped\nframe 12")  # broke while on screen
    log.item_failed(ITEM, "cannot open the file")  # never showed
    shown, never = sent(store)
    assert (shown.outcome, shown.duration_ms, shown.detail) == (
        PlayOutcome.FAILED, 4000, "the decoder stopped frame 12",
    )  # fmt: skip
    assert shown.started_at == AT
    assert (never.outcome, never.duration_ms) == (PlayOutcome.FAILED, 0)
    assert never.started_at == never.ended_at == AT + timedelta(seconds=4)
    assert shown.id != never.id
    assert [e["event"] for e in store.play_events()] == ["started", "failed", "failed"]


def test_a_play_left_open_by_a_killed_agent_ends_at_its_planned_end(store: Store) -> None:
    play_log(store).item_started(ITEM, AT)  # ... and the agent is killed
    restarted = play_log(store, wall=(AT + timedelta(minutes=5)).timestamp())
    event = restarted.recover()
    assert event is not None and event.outcome == PlayOutcome.INTERRUPTED
    assert (event.started_at, event.ended_at, event.duration_ms) == (
        AT, AT + timedelta(seconds=10), 10_000,
    )  # fmt: skip
    assert sent(store) == [event]
    assert store.get(Meta.OPEN_PLAY) is None
    assert restarted.recover() is None  # reported once


def test_a_quick_restart_ends_the_open_play_at_the_restart(store: Store) -> None:
    play_log(store).item_started(ITEM, AT)
    restart = AT + timedelta(seconds=2, milliseconds=500)
    event = play_log(store, wall=restart.timestamp()).recover()
    assert event is not None
    assert (event.ended_at, event.duration_ms) == (restart, 2500)  # before the next play


def test_a_removed_device_reports_nothing_of_the_play_cut_by_the_wipe(store: Store) -> None:
    log = play_log(store)
    log.item_started(ITEM, AT)
    store.forget_device()
    log.item_ended(ITEM, AT + timedelta(seconds=1), 1000, Ending.CUT)
    assert sent(store) == []


def test_a_store_that_cannot_write_loses_the_event_and_nothing_else(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    read_only = Store.open_read_only(tmp_path)  # every write fails, as on a full disk
    assert read_only is not None
    log = play_log(read_only)
    log.item_started(ITEM, datetime.now(UTC))  # must not raise into the player
    log.item_ended(ITEM, datetime.now(UTC), 5, Ending.FINISHED)
    log.item_failed(ITEM, "no frame")
    assert read_only.play_events() == [] and sent(read_only) == []
    read_only.close()


def test_the_clouds_clock_is_ours_until_the_cloud_has_answered() -> None:
    measured: list[float | None] = [None]
    clock = CloudClock(lambda: measured[0], wall=lambda: AT.timestamp())
    assert clock.now() == AT
    measured[0] = -2.0
    assert clock.now() == AT - timedelta(seconds=2)
    assert clock.convert(AT + timedelta(microseconds=1999)) == AT - timedelta(seconds=2) + (
        timedelta(milliseconds=1)
    )  # to the millisecond


@given(
    planned_ms=st.none() | st.integers(1, 10**9),
    restart_after_ms=st.integers(-(10**9), 10**10),
)
def test_a_recovered_play_never_ends_after_the_restart_nor_its_planned_end(
    planned_ms: int | None, restart_after_ms: int
) -> None:
    open_play = OpenPlay(
        id="x", item_key="pl:0", sha256=SHA, name="a", asset_id=None, playlist_id=None,
        schedule_reason=None, schedule_source=None, started_at=AT, planned_ms=planned_ms,
    )  # fmt: skip
    now = AT + timedelta(milliseconds=restart_after_ms)
    end = recovered_end(open_play, now)
    assert end >= AT  # never before it started
    if planned_ms is not None:
        assert end <= AT + timedelta(milliseconds=planned_ms)
    if now >= AT:
        assert end <= now  # never overlapping what plays after the restart
        assert end in (now, AT + timedelta(milliseconds=planned_ms or 0))
    else:  # a restart that reads earlier than the start: nothing after it is overlapped
        assert end == AT


def test_a_play_never_starts_before_the_previous_one_ended(store: Store) -> None:
    play_log(store).item_started(ITEM, AT)  # killed; restarted 3 s later
    restarted = play_log(store, wall=(AT + timedelta(seconds=3)).timestamp())
    assert restarted.recover() is not None
    # the new run's estimate of the cloud's clock is 0.4 s behind the last one's
    restarted.item_started(ITEM, AT + timedelta(seconds=2.6))
    restarted.item_ended(ITEM, AT + timedelta(seconds=4.6), 2000, Ending.FINISHED)
    interrupted, after = sent(store)
    assert interrupted.ended_at == after.started_at == AT + timedelta(seconds=3)
    # a clock that really moved (hours) is not hidden
    restarted.item_started(ITEM, AT - timedelta(hours=1))
    restarted.item_ended(ITEM, AT - timedelta(hours=1) + timedelta(seconds=2), 2000, Ending.CUT)
    assert sent(store)[-1].started_at == AT - timedelta(hours=1)


def test_a_step_back_of_the_clock_estimate_never_reorders_the_timeline(store: Store) -> None:
    offset = [0.0]
    log = PlayLog(store, Outbox(store), clock=CloudClock(lambda: offset[0]))
    other = PlayableItem(
        key="pl:1", name="b.png", sha256="b" * 64, media_type="image", path=Path("/y"),
        duration_ms=1000,
    )  # fmt: skip
    log.item_started(ITEM, AT)
    offset[0] = -0.7  # a better estimate arrives while A plays
    log.item_ended(ITEM, AT + timedelta(seconds=0.5), 500, Ending.FINISHED)
    log.item_started(other, AT + timedelta(seconds=0.6))
    log.item_ended(other, AT + timedelta(seconds=1.6), 1000, Ending.FINISHED)
    first, second = sent(store)
    assert first.started_at <= first.ended_at <= second.started_at <= second.ended_at
    assert first.ended_at == second.started_at == AT  # held until the clock passed it
    assert second.ended_at == AT + timedelta(seconds=0.9)
    assert (first.duration_ms, second.duration_ms) == (500, 1000)  # as the player measured


def test_an_entry_whose_content_is_missing_is_reported_skipped_once_per_absence(
    store: Store, tmp_path: Path
) -> None:
    cache = ContentCache(tmp_path / "state")
    cache.root.mkdir(parents=True)
    cache.path(SHA).write_bytes(b"png")
    log = play_log(store, wall=AT.timestamp())
    screen = Screen(Player(renderer=TimedRenderer(), listener=log), cache,
                    on_skipped=log.item_skipped)  # fmt: skip
    items = store.playlist_items("pl")
    screen.show_items(items)
    assert sent(store) == []  # its content is here: it plays
    assert cache.drop_unreferenced([]) == (1, 3)  # evicted (say, a full disk)
    screen.show_items(items)
    screen.show_items(items)  # again (a sync, a boundary): still the same absence
    [event] = sent(store)
    assert (event.outcome, event.detail, event.duration_ms) == (
        PlayOutcome.SKIPPED, SKIPPED_NOT_DOWNLOADED, 0,
    )  # fmt: skip
    assert (event.started_at, event.ended_at) == (AT, AT)
    assert (event.asset_id, event.sha256) == ("ast_a", SHA)
    assert [e["event"] for e in store.play_events()] == ["skipped"]


@dataclass
class Handed:
    """What the Screen handed the player (the player's side of `Screen`)."""

    playlists: list[list[str]] = field(default_factory=list)

    def set_playlist(self, items: Sequence[PlayableItem], *, finish_video: bool = False) -> None:
        self.playlists.append([item.name for item in items])

    def show_message(self, message: object) -> None:
        self.playlists.append([])


def test_a_playlist_still_downloading_leaves_what_plays_on_screen(
    store: Store, tmp_path: Path
) -> None:
    cache = ContentCache(tmp_path / "state")
    cache.root.mkdir(parents=True)
    cache.path(SHA).write_bytes(b"png")
    handed = Handed()
    screen = Screen(handed, cache)  # type: ignore[arg-type]
    on_screen = store.playlist_items("pl")
    screen.show_items(on_screen)
    assert handed.playlists == [["a.png"]]
    arriving = [
        CachedItem(
            playlist_id="alert", position=0, asset_id="ast_b", name="alert.png", sha256="b" * 64,
            media_type="image", duration_ms=5_000,
        )
    ]  # fmt: skip
    screen.show_items(arriving)  # its file is not here yet: a.png stays, no "No content yet"
    screen.show_items(arriving)
    assert handed.playlists == [["a.png"]]
    screen.show_items([])  # nothing wanted at all: the screen says so (a message)
    assert handed.playlists == [["a.png"], []]
