"""`agent.log_limit.RepeatLimiter`: a repeated line is held back, then summed up."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from agent.log_limit import RepeatLimiter


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("agent", logging.WARNING, __file__, 1, msg, args, None)


def test_a_repeated_template_passes_a_burst_per_window_then_says_how_many_were_held() -> None:
    now = [0.0]
    limiter = RepeatLimiter(burst=3, window_s=60, clock=lambda: now[0])
    passed = [limiter.filter(record("item %s failed", n)) for n in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert limiter.filter(record("another message"))  # other lines are never hidden
    now[0] = 61
    summary = record("item %s failed", 99)
    assert limiter.filter(summary)
    assert summary.getMessage() == "item 99 failed (7 similar line(s) suppressed)"


@given(st.lists(st.tuples(st.sampled_from(["a %s", "b %s", "c"]), st.floats(0, 30)), max_size=200))
def test_no_template_passes_more_than_its_burst_in_any_window(
    events: list[tuple[str, float]],
) -> None:
    now = [0.0]
    limiter = RepeatLimiter(burst=2, window_s=60, clock=lambda: now[0])
    times: dict[str, list[float]] = {}
    for msg, step in events:
        now[0] += step
        if limiter.filter(record(msg, 1) if "%s" in msg else record(msg)):
            times.setdefault(msg, []).append(now[0])
    for passed in times.values():
        for i, t in enumerate(passed):
            assert len([u for u in passed[i:] if u - t < 60]) <= 2 * 2  # two windows overlap


def test_routine_lines_are_never_held_back() -> None:
    limiter = RepeatLimiter(burst=1)
    info = [logging.LogRecord("player", logging.INFO, __file__, 1, "playing %s", (n,), None)
            for n in range(5)]  # fmt: skip
    assert all(limiter.filter(r) for r in info)
