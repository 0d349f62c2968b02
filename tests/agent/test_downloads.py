"""`agent.downloads.DownloadQueue`: which blob starts next, and when to look again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.downloads import DownloadQueue

SHAS = [f"{n:064x}" for n in range(8)]


@given(st.lists(st.tuples(st.sampled_from(["next", "ok", "fail", "reset"]),
                          st.sampled_from(SHAS), st.floats(0, 1000)), max_size=60))  # fmt: skip
def test_the_queue_never_starts_a_blob_twice_at_once_nor_one_that_is_not_wanted(
    steps: list[tuple[str, str, float]],
) -> None:
    queue = DownloadQueue()
    wanted = list(SHAS[:5])
    queue.reset(wanted)
    now = 0.0
    for action, sha, dt in steps:
        now += dt
        match action:
            case "next":
                started = queue.next_due(now)
                if started is not None:
                    assert started in wanted
                    failure = queue.failures.get(started)
                    assert failure is None or failure.retry_at <= now  # never before its time
            case "ok" if sha in queue.in_flight:
                queue.succeeded(sha)
                wanted.remove(sha) if sha in wanted else None
            case "fail" if sha in queue.in_flight:
                failure = queue.failed(sha, "404", now)
                assert failure is not None and failure.retry_at > now
            case "reset":
                wanted = [s for s in SHAS if s != sha]
                queue.reset(wanted)
        assert queue.in_flight <= set(SHAS)
        assert set(queue.failures) <= set(wanted) | queue.in_flight


def test_fresh_blobs_go_first_in_playlist_order_and_a_failing_one_waits_its_turn() -> None:
    queue = DownloadQueue()
    bad, first, second = SHAS[0], SHAS[1], SHAS[2]
    queue.reset([bad, first, second])
    assert queue.next_due(0.0) == bad
    queue.failed(bad, "404", now=0.0)
    assert queue.next_due(0.0) == first  # the failed one backs off: never starves the rest
    assert queue.next_due(0.0) == second
    assert queue.next_due(0.0) is None
    wake = queue.wake_at()
    assert wake is not None and wake > 0
    assert queue.next_due(wake) == bad


def test_a_blob_no_longer_wanted_is_dropped_even_while_downloading() -> None:
    queue = DownloadQueue()
    queue.reset([SHAS[0], SHAS[1]])
    started = queue.next_due(0.0)
    assert queue.reset([SHAS[1]]) == [started]
    assert queue.failed(started, "cancelled", 1.0) is None  # nothing to retry
    assert queue.next_due(1.0) == SHAS[1]
