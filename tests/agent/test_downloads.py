"""`agent.downloads.plan`: which blobs start now, and when to look again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.downloads import Failure, plan

SHAS = st.sets(st.text("0123456789abcdef", min_size=64, max_size=64), max_size=12)


@given(
    missing=SHAS,
    data=st.data(),
    now=st.floats(0, 1e6),
    slots=st.integers(-2, 8),
)
def test_plan_starts_only_due_blobs_within_the_free_slots(
    missing: set[str], data: st.DataObject, now: float, slots: int
) -> None:
    in_flight = data.draw(st.sets(st.sampled_from(sorted(missing))) if missing else st.just(set()))
    failed = data.draw(st.sets(st.sampled_from(sorted(missing))) if missing else st.just(set()))
    failures = {
        sha: Failure(attempts=data.draw(st.integers(1, 9)),
                     retry_at=data.draw(st.floats(0, 2e6)), reason="x")
        for sha in failed
    }  # fmt: skip
    step = plan(missing, in_flight, failures, now, slots)

    assert len(step.start) <= max(0, slots)
    assert len(set(step.start)) == len(step.start)
    for sha in step.start:
        assert sha in missing and sha not in in_flight
        assert sha not in failures or failures[sha].retry_at <= now
    due = [s for s in missing - in_flight if s not in failures or failures[s].retry_at <= now]
    assert len(step.start) == min(len(due), max(0, slots))  # never idles while work is due
    waiting = [failures[s].retry_at for s in missing - in_flight
               if s in failures and failures[s].retry_at > now]  # fmt: skip
    assert step.wake_at == (min(waiting) if waiting else None)


def test_a_blob_that_keeps_failing_never_starves_the_others() -> None:
    bad, good = "0" * 64, "f" * 64
    failures = {bad: Failure(attempts=5, retry_at=10.0, reason="404")}
    step = plan({bad, good}, set(), failures, now=20.0, slots=1)
    assert step.start == [good]
