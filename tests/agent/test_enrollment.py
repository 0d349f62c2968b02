from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.backoff import MAX_BACKOFF_S, backoff
from agent.enrollment import (
    Action,
    Enrollment,
    EnrollmentState,
    InvalidTransition,
    decide,
)
from sync.models import OAuthError, TokenResponse

TOKENS = TokenResponse(
    access_token="a",
    token_type="DPoP",
    expires_in=60,
    refresh_token="r",
    device_id="d",
    tenant_id="t",
)


@pytest.mark.parametrize(
    ("answer", "action"),
    [
        (TOKENS, Action.DONE),
        (OAuthError(error="authorization_pending"), Action.POLL_AGAIN),
        (OAuthError(error="slow_down"), Action.POLL_AGAIN),
        (OAuthError(error="expired_token"), Action.NEW_CODE),
        (OAuthError(error="access_denied"), Action.NEW_CODE),
        (OAuthError(error="invalid_grant"), Action.NEW_CODE),
    ],
)
def test_each_token_endpoint_answer_has_one_decision(answer, action) -> None:
    assert decide(answer, 5).action is action


@given(st.lists(st.sampled_from(["authorization_pending", "slow_down"]), max_size=50))
def test_polling_never_gets_faster_and_slow_down_adds_five_seconds(errors: list[str]) -> None:
    interval = 5.0
    for error in errors:
        decision = decide(OAuthError(error=error), interval)
        expected = interval + 5 if error == "slow_down" else interval
        assert decision.interval == expected
        interval = decision.interval


@given(st.integers(min_value=0, max_value=10_000))
def test_backoff_grows_and_is_capped(attempt: int) -> None:
    assert 1 <= backoff(attempt) <= MAX_BACKOFF_S
    assert backoff(attempt + 1) >= backoff(attempt)


def test_the_state_machine_refuses_a_skipped_step() -> None:
    enrollment = Enrollment(client=None, show_code=lambda grant: None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        enrollment.set_state(EnrollmentState.ENROLLED)
    enrollment.set_state(EnrollmentState.REQUESTING_CODE)
    enrollment.set_state(EnrollmentState.AWAITING_APPROVAL)
    enrollment.set_state(EnrollmentState.REQUESTING_CODE)  # code expired
    enrollment.set_state(EnrollmentState.AWAITING_APPROVAL)
    enrollment.set_state(EnrollmentState.ENROLLED)
    assert enrollment.state is EnrollmentState.ENROLLED


@pytest.mark.parametrize(
    ("changed", "held_s", "long_poll_s", "at_once"),
    [
        (True, 0.1, 0, True),  # a change: more may follow
        (True, 0.1, 30, True),
        (False, 29.9, 30, True),  # the cloud held the poll: ask again now
        (False, 0.05, 30, False),  # answered at once: long-poll unsupported, wait instead of spin
        (False, 0.05, 0, False),  # long-poll off: plain polling
    ],
)
def test_when_to_ask_the_cloud_again(changed, held_s, long_poll_s, at_once) -> None:
    from agent.sync_loop import poll_again_now

    assert poll_again_now(changed, held_s, long_poll_s) is at_once


@given(st.integers(0, 100), st.floats(0, 1, exclude_max=True))
def test_jittered_waits_stay_below_the_backoff_and_spread_over_it(attempt: int, r: float) -> None:
    from agent.backoff import jittered

    wait = jittered(attempt, rng=lambda: r)
    assert 0.1 <= wait <= max(0.1, backoff(attempt))
    assert wait == max(0.1, r * backoff(attempt))
