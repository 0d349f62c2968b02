"""`agent.connection`: online and offline, as `status` and the screen see them."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.connection import (
    FAILURES_BEFORE_NOTICE,
    Connection,
    ConnectionState,
    after_failure,
    after_success,
)
from agent.store import Store


@given(st.lists(st.booleans(), max_size=30))
def test_the_state_follows_the_last_attempts(outcomes: list[bool]) -> None:
    state = ConnectionState()
    for at, ok in enumerate(outcomes):
        state = after_success(state, at) if ok else after_failure(state, "refused\nsecond", at)
    if not outcomes:
        assert state.online is None
        return
    assert state.online is outcomes[-1]
    streak = len(outcomes) - len("".join("1" if o else "0" for o in outcomes).rstrip("0"))
    assert state.failures == streak
    assert state.needs_notice == (streak >= FAILURES_BEFORE_NOTICE)
    if state.last_error is not None:
        assert "\n" not in state.last_error


def test_offline_since_is_the_first_failure_and_survives_a_restart(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = Store.open(tmp_path)
    flips: list[bool | None] = []
    connection = Connection(store, on_change=lambda s: flips.append(s.online), clock=lambda: now[0])
    connection.succeeded()
    for _ in range(4):
        now[0] += 10
        connection.failed(ConnectionRefusedError("connection refused"))
    assert connection.state.since == "1970-01-12T13:46:50+00:00"  # the first failure
    assert connection.state.needs_notice
    assert flips == [True, False, False]  # online, offline, then the notice is due
    store.close()

    reopened = Store.open(tmp_path)
    again = Connection(reopened)
    assert again.state.online is False and again.state.failures == 4
    assert again.state.last_error == "connection refused"
    reopened.close()
