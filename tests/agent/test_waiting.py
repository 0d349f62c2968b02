"""`agent.waiting.wait_event`: a cancellation is never lost, whenever it comes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from agent.waiting import wait_event

Waiter = Callable[[asyncio.Event], Awaitable[object]]


async def loop_until_cancelled(wait: Waiter, event: asyncio.Event, rounds: list[int]) -> None:
    """A daemon task's shape: wait for a poke, handle it, wait again; only a cancel ends it."""
    while True:
        await wait(event)
        event.clear()
        rounds.append(1)


async def cancel_as_the_event_is_set(wait: Waiter, steps: int) -> bool:
    """Set the event, let the loop run `steps` times, cancel: did the task end?"""
    event = asyncio.Event()
    rounds: list[int] = []
    task = asyncio.create_task(loop_until_cancelled(wait, event, rounds))
    await asyncio.sleep(0.01)
    event.set()
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0.05)
    ended = task.done()
    task.cancel()  # the lost-cancellation case: end it for real
    with pytest.raises(asyncio.CancelledError):
        await task
    return ended


async def test_a_cancel_in_any_instant_around_the_event_ends_the_task() -> None:
    for steps in range(6):
        assert await cancel_as_the_event_is_set(lambda e: wait_event(e, 60), steps), steps


async def test_asyncio_wait_for_loses_one_of_them_so_the_test_above_can_fail() -> None:
    async def wait_for(event: asyncio.Event) -> object:
        return await asyncio.wait_for(event.wait(), 60)

    outcomes = [await cancel_as_the_event_is_set(wait_for, steps) for steps in range(6)]
    assert not all(outcomes), outcomes  # Python 3.11: gh-86296


async def test_it_says_whether_the_event_came_or_the_time_ran_out() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True
    assert await wait_event(event, None) is True
