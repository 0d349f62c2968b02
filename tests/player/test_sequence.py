"""The pure sequencing rules: what plays next, what a new playlist changes, back-off."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from player.items import PlayableItem
from player.sequence import (
    Failure,
    FinishThenStart,
    KeepPlaying,
    RetryPolicy,
    ShowMessage,
    StartAt,
    entry_id,
    first_playable,
    forget_missing,
    is_due,
    next_retry,
    plan_change,
    record_failure,
    record_success,
)

POLICY = RetryPolicy(first_delay_s=30, max_delay_s=600)


def entry(key: str, content: str = "") -> PlayableItem:
    sha = (content or key).ljust(64, "0")
    return PlayableItem(key, f"{key}.mp4", sha, "video", Path(f"/cache/{key}.mp4"), None)


ENTRIES = [entry(name) for name in "ABCDE"]
playlists = st.lists(st.sampled_from(ENTRIES), max_size=6, unique=True)


# --- first_playable ---------------------------------------------------------------


def test_plays_in_order_and_wraps_around() -> None:
    items = ENTRIES[:3]
    assert [first_playable(items, start % 3, {}, 0.0) for start in range(1, 5)] == [1, 2, 0, 1]


def test_skips_an_entry_in_back_off_until_its_retry_time() -> None:
    items = ENTRIES[:3]
    failures = record_failure({}, items[1], "broken", now=100.0, policy=POLICY)
    assert first_playable(items, 1, failures, now=100.0) == 2
    assert first_playable(items, 1, failures, now=129.9) == 2
    assert first_playable(items, 1, failures, now=130.0) == 1


def test_nothing_playable_when_every_entry_backs_off() -> None:
    items = ENTRIES[:2]
    failures: dict = {}
    for item in items:
        failures = record_failure(failures, item, "broken", now=0.0, policy=POLICY)
    assert first_playable(items, 0, failures, now=1.0) is None
    assert next_retry(items, failures) == 30.0


def test_empty_playlist_has_nothing_to_play() -> None:
    assert first_playable([], 0, {}, 0.0) is None
    assert next_retry([], {}) is None


@given(
    items=playlists.filter(bool),
    start=st.integers(0, 20),
    failing=st.sets(st.sampled_from("ABCDE")),
    now=st.floats(0, 100),
)
def test_first_playable_is_the_first_due_entry_from_start(
    items: list[PlayableItem], start: int, failing: set[str], now: float
) -> None:
    failures = {
        entry_id(item): Failure(1, retry_at=50.0, reason="x")
        for item in items
        if item.key in failing
    }
    start %= len(items)
    result = first_playable(items, start, failures, now)
    rotation = [(start + step) % len(items) for step in range(len(items))]
    due = [index for index in rotation if is_due(items[index], failures, now)]
    assert result == (due[0] if due else None)


# --- back-off ---------------------------------------------------------------------


def test_delay_doubles_per_failure_in_a_row_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert POLICY.delay(10_000) == 600


def test_success_clears_the_record_and_failures_count_up() -> None:
    item = ENTRIES[0]
    failures = record_failure({}, item, "first", now=0.0, policy=POLICY)
    failures = record_failure(failures, item, "second", now=40.0, policy=POLICY)
    assert failures[entry_id(item)] == Failure(2, retry_at=100.0, reason="second")
    assert record_success(failures, item) == {}


def test_new_bytes_under_the_same_key_are_tried_at_once() -> None:
    old, replaced = entry("A", "old"), entry("A", "new")
    failures = record_failure({}, old, "broken", now=0.0, policy=POLICY)
    assert first_playable([replaced], 0, failures, now=1.0) == 0


def test_records_of_removed_entries_are_forgotten() -> None:
    failures = record_failure({}, ENTRIES[0], "x", now=0.0, policy=POLICY)
    failures = record_failure(failures, ENTRIES[1], "x", now=0.0, policy=POLICY)
    assert set(forget_missing(failures, [ENTRIES[1]])) == {entry_id(ENTRIES[1])}


@pytest.mark.parametrize(("first", "cap"), [(0, 10), (-1, 10), (10, 5)])
def test_retry_policy_rejects_nonsense(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(first_delay_s=first, max_delay_s=cap)


# --- plan_change ------------------------------------------------------------------

A, B, C, D, E = ENTRIES


def test_empty_new_playlist_shows_the_message() -> None:
    assert plan_change([A, B], [], 0) == ShowMessage()
    assert plan_change([], [], None) == ShowMessage()


def test_nothing_playing_starts_at_the_top() -> None:
    assert plan_change([], [A, B], None) == StartAt(0)
    assert plan_change([A, B], [B, A], None) == StartAt(0)


def test_current_entry_kept_finishes_then_the_new_order_follows() -> None:
    # B plays; the new list puts B last: B finishes, then the list goes on from its top.
    assert plan_change([A, B, C], [C, D, B], 1) == KeepPlaying(2)


def test_same_key_with_new_bytes_is_a_different_entry() -> None:
    assert plan_change([A, B], [entry("B", "other"), A], 1) == StartAt(1)


def test_current_entry_gone_switches_to_the_entry_that_followed_it() -> None:
    # B plays and is removed; C followed it and is still there.
    assert plan_change([A, B, C, D], [D, C, A], 1) == StartAt(1)
    # B and C gone: D followed.
    assert plan_change([A, B, C, D], [D, A], 1) == StartAt(0)
    # Followers wrap round the old list: after D comes A.
    assert plan_change([A, B, C, D], [E, A], 3) == StartAt(1)


def test_current_entry_gone_with_no_follower_left_starts_at_the_top() -> None:
    assert plan_change([A, B], [C, D], 0) == StartAt(0)


def test_a_finishing_switch_lets_a_gone_video_end_but_cuts_an_image() -> None:
    picture = PlayableItem("P", "p.png", "p".ljust(64, "0"), "image", Path("/c/p.png"), 5000)
    assert plan_change([A, B], [C, D], 0, finish_video=True) == FinishThenStart()
    assert plan_change([picture, B], [C, D], 0, finish_video=True) == StartAt(0)
    # an entry still there keeps playing either way; an empty list still shows the message
    assert plan_change([A, B], [B, C], 1, finish_video=True) == KeepPlaying(0)
    assert plan_change([A, B], [], 0, finish_video=True) == ShowMessage()


def test_every_small_change_is_decided_consistently() -> None:
    """All playlists of up to 3 of 4 entries, every current position: exhaustive."""
    pool = ENTRIES[:4]
    lists = [
        list(p)
        for size in range(4)
        for combo in itertools.combinations(pool, size)
        for p in itertools.permutations(combo)
    ]
    for old in lists:
        for new in lists:
            for current in [None, *range(len(old))]:
                plan = plan_change(old, new, current)
                if not new:
                    assert plan == ShowMessage()
                elif current is None or not old:
                    assert plan == StartAt(0)
                elif old[current] in new:
                    assert plan == KeepPlaying(new.index(old[current]))
                else:
                    assert isinstance(plan, StartAt)
                    assert 0 <= plan.index < len(new)
                    followers = [old[(current + s) % len(old)] for s in range(1, len(old))]
                    kept = [f for f in followers if f in new]
                    if kept:
                        assert new[plan.index] == kept[0]
                    else:
                        assert plan.index == 0
