"""The cloud-clock estimate: pure interval logic (hypothesis), and the real cloud with long-poll."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.utils import formatdate

import httpx
from hypothesis import given
from hypothesis import strategies as st

from sync.clock import (
    DATE_SLACK_S,
    ClockOffsetEstimator,
    Interval,
    date_value,
    sample_interval,
    time_value,
)
from tests.support.cloud import RunningCloud
from tests.support.device import enroll_and_sync

TEN_YEARS_S = 10 * 365 * 86_400
NOW = 1_795_600_000.0  # our clock at the start of a simulation


@dataclass(frozen=True)
class Request:
    """One request as the simulated server saw it (all in seconds)."""

    gap: float  # since the previous request went out, on our clock
    forward: float  # network delay, us -> server
    back: float  # network delay, server -> us, plus the server's work
    # How far the answer's Date lags the request's arrival on the server's clock: the
    # header's whole seconds plus the age of the server's cached date (uvicorn refreshes it
    # about once a second).
    lag: float


def requests(lag: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[Request]:
    return st.builds(
        Request,
        gap=st.floats(0.0, 600.0),
        forward=st.floats(0.0, 0.25),
        back=st.floats(0.0, 0.25),
        lag=st.floats(0.0, DATE_SLACK_S, exclude_max=True) if lag is None else lag,
    )


def simulate(truth: float, request: Request, sent: float) -> tuple[float, float, float]:
    """(Date value, sent, received) of one request, the server's clock being ours + `truth`."""
    arrival_on_server = sent + request.forward + truth
    date = arrival_on_server - request.lag
    received = sent + request.forward + request.back
    return date, sent, received


def run(truth: float, timeline: list[Request]) -> ClockOffsetEstimator:
    estimator = ClockOffsetEstimator()
    sent = NOW
    for request in timeline:
        sent += request.gap
        date, at, received = simulate(truth, request, sent)
        estimator.add(date, sent=at, received=received)
    return estimator


@given(
    truth=st.floats(-TEN_YEARS_S, TEN_YEARS_S),
    timeline=st.lists(requests(), min_size=1, max_size=40),
)
def test_the_truth_is_always_inside_and_the_estimate_never_leaves_the_first_sample(
    truth: float, timeline: list[Request]
) -> None:
    estimator = ClockOffsetEstimator()
    sent = NOW
    first: Interval | None = None
    for request in timeline:
        sent += request.gap
        date, at, received = simulate(truth, request, sent)
        estimator.add(date, sent=at, received=received)
        first = first or sample_interval(date, sent=at, received=received)
        interval, estimate = estimator.interval, estimator.offset_s
        assert interval is not None and estimate is not None and first is not None
        assert interval.low - 1e-6 <= truth <= interval.high + 1e-6
        assert first.low - 1e-6 <= estimate <= first.high + 1e-6


@given(
    truth=st.floats(-TEN_YEARS_S, TEN_YEARS_S),
    timeline=st.lists(requests(), max_size=40),
    mid_second=requests(lag=st.floats(0.75, 1.65)),
    where=st.integers(0, 40),
)
def test_the_estimate_is_within_a_second_once_one_answer_came_mid_second(
    truth: float, timeline: list[Request], mid_second: Request, where: int
) -> None:
    # Requests come at random moments of the server's second, so most answers' Date lags
    # their arrival by 0.75..1.65 s ("mid-second"; with uvicorn's 1 s refresh, at least 65 %
    # of them); one such sample alone bounds the error to 0.65 s plus half its round trip.
    # Any number of other samples, at the worst moments, must not spoil that.
    timeline = [*timeline[:where], mid_second, *timeline[where:]]
    estimator = run(truth, timeline)
    assert estimator.offset_s is not None
    assert abs(estimator.offset_s - truth) <= 1.0


@given(truth=st.floats(-TEN_YEARS_S, TEN_YEARS_S), request=requests())
def test_one_sample_is_within_a_second_plus_half_its_round_trip(
    truth: float, request: Request
) -> None:
    estimator = run(truth, [request])
    assert estimator.offset_s is not None
    round_trip = request.forward + request.back
    assert abs(estimator.offset_s - truth) <= 1.0 + round_trip / 2 + 1e-6


def test_one_sample_can_be_off_by_more_than_a_second_so_the_tests_above_can_fail() -> None:
    # A Date refreshed the instant the request arrived, and a slow way there.
    estimator = run(0.0, [Request(gap=0.0, forward=0.25, back=0.0, lag=0.0)])
    assert estimator.offset_s is not None and abs(estimator.offset_s) > 1.0


@given(
    truth=st.floats(-1000.0, 1000.0),
    before=st.lists(requests(), min_size=1, max_size=20),
    jump=st.floats(5.0, TEN_YEARS_S) | st.floats(-TEN_YEARS_S, -5.0),
    after=st.lists(requests(), min_size=1, max_size=20),
)
def test_after_our_clock_jumps_the_estimate_follows_the_newest_sample(
    truth: float, before: list[Request], jump: float, after: list[Request]
) -> None:
    estimator = ClockOffsetEstimator()
    sent = NOW
    for request in before:
        sent += request.gap
        date, at, received = simulate(truth, request, sent)
        estimator.add(date, sent=at, received=received)
    # our clock is set `jump` seconds forward (NTP, or a Pi's clock set at boot)
    sent += jump
    truth -= jump
    for request in after:
        sent += request.gap
        date, at, received = simulate(truth, request, sent)
        estimator.add(date, sent=at, received=received)
        interval = estimator.interval
        assert interval is not None
        assert interval.low - 1e-6 <= truth <= interval.high + 1e-6
    newest = sample_interval(date, sent=at, received=received)
    assert newest is not None and estimator.offset_s is not None
    assert newest.low - 1e-6 <= estimator.offset_s <= newest.high + 1e-6


def test_a_sample_whose_answer_came_before_its_request_is_ignored() -> None:
    estimator = ClockOffsetEstimator()
    estimator.add(NOW, sent=NOW, received=NOW - 3)  # our clock stepped back meanwhile
    assert estimator.offset_s is None


@given(st.integers(0, 4_000_000_000), st.floats(0.0, 0.999))
def test_a_date_header_reads_back_as_its_whole_second(second: int, fraction: float) -> None:
    assert date_value(formatdate(second + fraction, usegmt=True)) == second


def test_an_unusable_date_header_is_no_sample() -> None:
    for header in (None, "", "yesterday", "Wed, 25 Nov 2026 10:15:43"):  # the last: no zone
        assert date_value(header) is None


@given(
    truth=st.floats(-TEN_YEARS_S, TEN_YEARS_S),
    timeline=st.lists(requests(lag=st.just(0.0)), min_size=1, max_size=40),
)
def test_a_precise_stamp_bounds_the_offset_to_its_round_trip(
    truth: float, timeline: list[Request]
) -> None:
    # `Signage-Time` is the server's clock as it answered, to the millisecond (rounded).
    estimator = ClockOffsetEstimator()
    sent = NOW
    for request in timeline:
        sent += request.gap
        stamp, at, received = simulate(truth, request, sent)
        estimator.add_precise(round(stamp, 3), sent=at, received=received)
        interval = estimator.interval
        assert interval is not None and estimator.offset_s is not None
        assert interval.low - 1e-6 <= truth <= interval.high + 1e-6
        assert interval.high - interval.low <= request.forward + request.back + 0.001 + 1e-6


def test_a_time_header_reads_back_and_anything_else_is_no_sample() -> None:
    assert time_value("1795600000.123") == 1_795_600_000.123
    for header in (None, "", "nan", "inf", "-5", "0", "1e400", "12:00", "1" * 30):
        assert time_value(header) is None


async def test_the_offset_is_within_the_round_trip_of_the_truth_with_long_polls(
    cloud: RunningCloud,
) -> None:
    # Cloud and device on one machine: the truth is 0. Every answer carries `Signage-Time`,
    # stamped as it started, so held answers count too and the estimate is within half a
    # round trip on loopback (a `Date`-only estimate is typically half a second off).
    async with httpx.AsyncClient() as http:
        client, cursor = await enroll_and_sync(cloud, http)
        assert client.clock_offset_s is not None
        assert abs(client.clock_offset_s) <= 0.1
        for _ in range(2):
            assert await client.get_state(cursor, wait_s=3) is None  # held 3 s, then 204
            assert client.clock_offset_s is not None
            assert abs(client.clock_offset_s) <= 0.1
            await asyncio.sleep(0.3)
            assert await client.get_state(cursor) is None
            assert abs(client.clock_offset_s) <= 0.1
