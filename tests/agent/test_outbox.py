"""`agent.outbox`: queued in the caller's transaction, sent oldest first, bounded.

The bounding rule is tested twice: `plan_room` (pure) with hypothesis, and the outbox on a
real SQLite store as a state machine that adds, reads batches (which are then being sent)
and acknowledges, checking after every step that no play or result is ever lost without
being counted, that heartbeats go first and the oldest first, and that the bound holds
whenever something could still be dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.errors import StoreError
from agent.outbox import DROP_CHUNK_DIVISOR, Outbox, RoomPlan, outbox_status, plan_room
from agent.store import Store
from sync.models import (
    CommandResult,
    CommandState,
    DeviceStatus,
    EventsDropped,
    Heartbeat,
    PlayEvent,
    PlayOutcome,
    WireModel,
)

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHM = Path("/dev/shm")  # SQLite with synchronous=FULL: a RAM disk keeps hypothesis fast


def play(n: int = 0) -> PlayEvent:
    start = AT + timedelta(seconds=10 * n)
    return PlayEvent(
        id=str(uuid.uuid4()), sha256="a" * 64, name=f"item {n}.png", started_at=start,
        ended_at=start + timedelta(seconds=10), duration_ms=10_000,
        outcome=PlayOutcome.COMPLETED,
    )  # fmt: skip


def heartbeat() -> Heartbeat:
    return Heartbeat(
        id=str(uuid.uuid4()), at=AT, status=DeviceStatus(agent_version="0.1.0", uptime_s=1)
    )


def result() -> CommandResult:
    return CommandResult(id=str(uuid.uuid4()), command_id="cmd_1", at=AT, state=CommandState.DONE)


MAKERS = {"play": play, "heartbeat": heartbeat, "command_result": result}


Row = tuple[int, str, str, str]  # seq, id, type, body


def rows(store: Store) -> list[Row]:
    return store.db.execute("SELECT seq, id, type, body FROM outbox ORDER BY seq").fetchall()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path)


# --- the pure rule -----------------------------------------------------------------------


@given(
    max_events=st.integers(1, 100_000),
    heartbeats=st.integers(0, 1000),
    others=st.integers(0, 1000),
    leased_share=st.floats(0, 1),
)
def test_plan_room_drops_heartbeats_first_then_the_fewest_others_in_chunks(
    max_events: int, heartbeats: int, others: int, leased_share: float
) -> None:
    droppable = round(others * (1 - leased_share))
    total = heartbeats + others
    plan = plan_room(total=total, max_events=max_events, heartbeats=heartbeats, droppable=droppable)
    excess = total - max_events
    assert 0 <= plan.heartbeats <= heartbeats and 0 <= plan.others <= droppable
    if excess <= 0:
        assert plan == RoomPlan(0, 0)
        return
    assert plan.heartbeats == min(excess, heartbeats)  # one for one, and first
    if plan.others:
        assert plan.heartbeats == heartbeats  # others only once no heartbeat is left
    chunk = max(1, max_events // DROP_CHUNK_DIVISOR)
    rest = excess - plan.heartbeats
    if rest > 0:
        assert plan.others == min(droppable, rest + chunk)
        # with enough to drop, the events and the record counting them fit
        if droppable >= rest + chunk:
            assert total - plan.heartbeats - plan.others + 1 <= max_events
    else:
        assert plan.others == 0


# --- the outbox on SQLite ------------------------------------------------------------


def test_add_is_part_of_the_callers_transaction(store: Store) -> None:
    outbox = Outbox(store)
    event = play()
    with pytest.raises(RuntimeError), store.transaction() as db:
        outbox.add(db, event)
        raise RuntimeError("the state change failed")
    assert outbox.counts() == {}
    with store.transaction() as db:
        outbox.add(db, event)
        outbox.add(db, event)  # the same event twice is queued once
    assert outbox.counts() == {"play": 1}
    assert outbox.added.is_set()
    [pending] = outbox.oldest(10)
    assert (pending.id, pending.type) == (event.id, "play")
    assert PlayEvent.model_validate_json(pending.body) == event  # sent as it was written


def test_oldest_first_and_acknowledge_deletes_only_what_it_names(store: Store) -> None:
    outbox = Outbox(store)
    events: list[WireModel] = [play(0), heartbeat(), result(), play(1)]
    for event in events:
        outbox.put(event)
    assert [p.id for p in outbox.oldest(3)] == [e.id for e in events[:3]]  # type: ignore[attr-defined]
    assert outbox.acknowledge([events[1].id, "not-ours"]) == 1  # type: ignore[attr-defined]
    assert [p.type for p in outbox.oldest(10)] == ["play", "command_result", "play"]
    assert outbox.counts() == {"command_result": 1, "play": 2}
    assert outbox.acknowledge([]) == 0


def test_a_full_outbox_drops_heartbeats_then_counts_the_plays_it_drops(store: Store) -> None:
    outbox = Outbox(store, max_events=200)
    for n in range(150):
        outbox.put(play(n))
    for _ in range(50):
        outbox.put(heartbeat())
    outbox.put(play(150))  # one over: the oldest heartbeat goes
    assert outbox.counts() == {"heartbeat": 49, "play": 151}
    for n in range(151, 200):
        outbox.put(play(n))  # the heartbeats go, one for one
    assert outbox.counts() == {"play": 200}
    outbox.put(play(200))  # now plays go: the 3 oldest (1 over + a chunk of 2), counted
    kept = rows(store)
    assert [json.loads(r[3])["name"] for r in kept if r[2] == "play"][:2] == [
        "item 3.png",
        "item 4.png",
    ]
    [record] = [EventsDropped.model_validate_json(r[3]) for r in kept if r[2] == "dropped"]
    assert (record.what, record.count) == ("play", 3)
    assert len(kept) <= 200
    for n in range(201, 205):  # the next drops merge into one record
        outbox.put(play(n))
    records = [EventsDropped.model_validate_json(r[3]) for r in rows(store) if r[2] == "dropped"]
    assert [(r.what, r.count) for r in records] == [("play", 6)]
    assert len(rows(store)) <= 200


def test_the_batch_being_sent_is_never_dropped(store: Store) -> None:
    outbox = Outbox(store, max_events=10)
    for n in range(10):
        outbox.put(play(n))
    batch = outbox.oldest(4)  # the uploader is sending these
    for n in range(10, 13):
        outbox.put(play(n))
    ids = {r[1] for r in rows(store)}
    assert {p.id for p in batch} <= ids  # sent events are not also counted as dropped
    names = [json.loads(r[3])["name"] for r in rows(store) if r[2] == "play"]
    # 4-5 went for item 10 (1 over + a chunk of 1), 6-7 for item 11; 12 fits
    assert names[:5] == ["item 0.png", "item 1.png", "item 2.png", "item 3.png", "item 8.png"]


def test_a_store_that_cannot_write_refuses_put(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    read_only = Store.open_read_only(tmp_path)
    assert read_only is not None
    with pytest.raises(StoreError):
        Outbox(read_only).put(play())
    read_only.close()


def test_status_counts_by_type_and_says_how_old_the_oldest_is(store: Store) -> None:
    outbox = Outbox(store)
    assert outbox_status(store) == {
        "events": 0, "by_type": {}, "oldest_at": None, "oldest_age_s": None,
    }  # fmt: skip
    outbox.put(play())
    outbox.put(heartbeat())
    queued = datetime.fromisoformat(outbox.oldest_created_at() or "").timestamp()
    status = outbox_status(store, now=queued + 42)
    assert status == {
        "events": 2,
        "by_type": {"heartbeat": 1, "play": 1},
        "oldest_at": outbox.oldest_created_at(),
        "oldest_age_s": 42.0,
    }


# --- the bound, as a state machine over real SQLite ------------------------------------


class OutboxMachine(RuleBasedStateMachine):
    """Adds, batches and acknowledgements in any order; the model is the list of events."""

    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory(dir=SHM if SHM.is_dir() else None)
        self.store = Store.open(Path(self._dir.name))
        self.outbox: Outbox | None = None
        self.added: list[tuple[str, str]] = []  # (id, type), in order
        self.acknowledged: set[str] = set()
        self.leased: list[str] = []  # the ids the last batch returned
        self.acknowledged_drops = 0  # counts of EventsDropped records the cloud took

    def teardown(self) -> None:
        self.store.close()
        self._dir.cleanup()

    @precondition(lambda self: self.outbox is None)
    @rule(max_events=st.integers(1, 25))
    def open(self, max_events: int) -> None:
        self.outbox = Outbox(self.store, max_events=max_events)

    @precondition(lambda self: self.outbox is not None)
    @rule(kind=st.sampled_from(sorted(MAKERS)), in_transaction_with=st.integers(0, 2))
    def add(self, kind: str, in_transaction_with: int) -> None:
        assert self.outbox is not None
        with self.store.transaction() as db:
            for _ in range(1 + in_transaction_with):
                event = MAKERS[kind]()
                before = rows(self.store)
                self.outbox.add(db, event)
                self.added.append((event.id, event.type))
                self.check_room_made(before, rows(self.store))

    def check_room_made(self, before: list[Row], after: list[Row]) -> None:
        """What went is the oldest, heartbeats first, never from the batch being sent."""
        assert self.outbox is not None
        present = {r[1] for r in after}
        gone = [r for r in before if r[1] not in present]
        leased = set(self.leased)
        kept = [r for r in after if r[2] not in ("heartbeat", "dropped") and r[1] not in leased]
        dropped_kinds = set()
        for seq, id_, type_, _ in gone:
            if type_ == "heartbeat":
                assert all(s > seq for s, _, t, _ in after if t == "heartbeat")
            elif type_ == "dropped":  # merged into the newest record
                assert id_ not in leased
            else:
                dropped_kinds.add(type_)
                assert id_ not in leased
                assert not any(t == "heartbeat" for _, _, t, _ in after)
                assert all(r[0] > seq for r in kept)
        for kind in dropped_kinds:  # one record of that kind outside the batch
            records = [
                r
                for r in after
                if r[2] == "dropped" and r[1] not in leased and json.loads(r[3])["what"] == kind
            ]
            assert len(records) == 1
        # within the bound, unless nothing it may drop is left
        if len(after) > self.outbox.max_events:
            assert not [r for r in after if r[2] == "heartbeat"]
            assert not kept

    @precondition(lambda self: self.outbox is not None)
    @rule(limit=st.integers(1, 10))
    def batch(self, limit: int) -> None:
        assert self.outbox is not None
        pending = self.outbox.oldest(limit)
        assert [p.id for p in pending] == [r[1] for r in rows(self.store)][:limit]
        self.leased = [p.id for p in pending]

    @precondition(lambda self: self.outbox is not None and self.leased)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        assert self.outbox is not None
        ids = data.draw(st.lists(st.sampled_from(self.leased), unique=True))
        bodies = {r[1]: r[3] for r in rows(self.store)}
        deleted = self.outbox.acknowledge(ids)
        assert deleted == len([i for i in ids if i in bodies])
        for id_ in ids:
            if id_ in bodies:
                self.acknowledged.add(id_)
                body = json.loads(bodies[id_])
                if body["type"] == "dropped":
                    self.acknowledged_drops += body["count"]

    @invariant()
    def nothing_but_heartbeats_is_lost_uncounted(self) -> None:
        kept = rows(self.store)
        present = {r[1] for r in kept}
        counted = self.acknowledged_drops + sum(
            json.loads(r[3])["count"] for r in kept if r[2] == "dropped"
        )
        lost = [
            id_
            for id_, type_ in self.added
            if type_ != "heartbeat" and id_ not in present and id_ not in self.acknowledged
        ]
        assert len(lost) == counted


OutboxMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_outbox_bound_as_a_state_machine = OutboxMachine.TestCase


def test_signage_agent_status_shows_the_outbox(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    outbox = Outbox(store)
    for n in range(3):
        outbox.put(play(n))
    outbox.put(heartbeat())
    store.close()
    command = [sys.executable, "-m", "agent", "status", "--state-dir", str(tmp_path)]
    shown = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True,
                                      timeout=60, check=True).stdout)  # fmt: skip
    text = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    assert shown["outbox"]["events"] == 4
    assert shown["outbox"]["by_type"] == {"heartbeat": 1, "play": 3}
    assert 0 <= shown["outbox"]["oldest_age_s"] < 60
    assert "outbox:       4 event(s) to send (1 heartbeat, 3 play), the oldest queued" in text
