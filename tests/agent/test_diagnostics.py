"""`kill -USR1`: a running agent writes what each thread and each asyncio task is doing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from agent.diagnostics import await_chain
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud


async def innermost(stop: asyncio.Event) -> None:
    await stop.wait()


async def middle(stop: asyncio.Event) -> None:
    await innermost(stop)


async def test_a_tasks_chain_names_each_coroutine_it_waits_in() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(middle(stop), name="waiter")
    await asyncio.sleep(0)
    chain = await_chain(task)
    stop.set()
    await task
    assert [line.rsplit(" in ", 1)[1] for line in chain[:3]] == ["middle", "innermost", "wait"]
    assert chain[-1].startswith("awaiting Future")  # (its iterator, FutureIter, in C)
    assert await_chain(task) == []  # done: nothing to wait in


def test_sigusr1_writes_threads_and_tasks_to_the_log_and_the_agent_plays_on(
    cloud: RunningCloud, tmp_path: Path
) -> None:
    with running_agent(tmp_path / "agent", cloud.url) as agent:
        wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
        wait_until(lambda: "agent starting" in agent.log(), 30, "the agent's start")
        agent.process.send_signal(signal.SIGUSR1)
        wait_until(lambda: "task sync:" in agent.log(), 10, "the tasks in the log")
        log = agent.log()
        assert "Current thread" in log or "Thread 0x" in log  # faulthandler's threads
        assert "task player:" in log and "in run" in log
        assert agent.process.poll() is None  # still running
        assert agent.stop() == 0
