"""`agent.report_uploader`: the outbox reaches the cloud oldest first, in bounded batches,
exactly as written; nothing leaves it before the cloud named it; nothing the cloud sends
stops the uploader.

The normal path runs against the real cloud (`POST /api/v3/device/events`); an older cloud
without that route is the real cloud app reached under a path it does not serve. Answers
the real cloud never gives (a batch refused whole, a receipt that names nothing, garbage)
are injected at the transport (httpx's `MockTransport`); the client, its auth flow, the
outbox and its SQLite store are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.outbox import Outbox, Pending
from agent.report_uploader import ENVELOPE_BYTES, ReportUploader, batch_of
from agent.store import Store
from sync.client import DeviceClient, DeviceTokens
from sync.errors import CloudResponseError
from sync.identity import DeviceKey
from sync.models import (
    DEVICE_PREFIX,
    CommandResult,
    CommandState,
    DeviceStatus,
    Heartbeat,
    PlayEvent,
    PlayOutcome,
)
from tests.support.cloud import RunningCloud
from tests.support.device import enroll
from tests.support.reports import reports_supported, stored_plays

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TOKENS = DeviceTokens(access_token="at", refresh_token="rt", device_id="dev_1", tenant_id="ten_1")


def play(n: int) -> PlayEvent:
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


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(Store.open(tmp_path / "agent"))


# --- batches -------------------------------------------------------------------------


@given(
    sizes=st.lists(st.integers(2, 400), max_size=60),
    max_events=st.integers(1, 50),
    max_bytes=st.integers(ENVELOPE_BYTES + 2, 4000),
)
def test_a_batch_is_the_longest_prefix_within_both_bounds(
    sizes: list[int], max_events: int, max_bytes: int
) -> None:
    pending = [Pending(id=str(n), type="play", body="x" * size) for n, size in enumerate(sizes)]
    batch = batch_of(pending, max_events=max_events, max_bytes=max_bytes)
    assert batch == pending[: len(batch)]
    assert len(batch) <= max_events
    body = ('{"events":[' + ",".join(p.body for p in batch) + "]}").encode()
    if len(batch) > 1:
        assert len(body) <= max_bytes
    if pending:
        assert batch  # the first always goes (the uploader drops one too large alone)
        if len(batch) < min(len(pending), max_events):  # the next one would not have fitted
            longer = ",".join(p.body for p in pending[: len(batch) + 1])
            assert len(longer) + ENVELOPE_BYTES > max_bytes


# --- the real cloud --------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_the_outbox_drains_oldest_first_in_full_batches_and_each_is_stored_once(
    cloud: RunningCloud, http: httpx.AsyncClient, outbox: Outbox
) -> None:
    if not reports_supported(cloud):
        pytest.skip("the reference cloud does not take POST /device/events yet")
    client = await enroll(cloud, http)
    plays = [play(n) for n in range(430)]
    for n, event in enumerate(plays):
        outbox.put(event)
        if n % 100 == 0:
            outbox.put(heartbeat())
    uploader = ReportUploader(outbox=outbox, client=client)
    assert await uploader.drain() == 435
    assert (uploader.requests, outbox.counts()) == (3, {})  # 200 + 200 + 35
    device_id = client.tokens.device_id  # type: ignore[union-attr]
    stored = stored_plays(cloud, device_id)
    assert sorted(p["id"] for p in stored) == sorted(e.id for e in plays)

    # the answer was lost: the same batch again is acknowledged, and stored once
    receipt = await client.post_events([e.model_dump_json() for e in plays[:5]])
    assert sorted(receipt.duplicates) == sorted(e.id for e in plays[:5])
    assert receipt.stored == [] and receipt.refused == []
    assert len(stored_plays(cloud, device_id)) == 430


async def test_an_event_the_cloud_refuses_is_logged_once_and_leaves_the_outbox(
    cloud: RunningCloud, http: httpx.AsyncClient, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    if not reports_supported(cloud):
        pytest.skip("the reference cloud does not take POST /device/events yet")
    client = await enroll(cloud, http)
    good = play(1)
    outbox.put(good)
    bad_id = str(uuid.uuid4())  # a body the models would never write: refused on its own
    with outbox._store.transaction() as db:
        db.execute(
            "INSERT INTO outbox (id, type, body, created_at) VALUES (?, 'play', ?, '')",
            [bad_id, json.dumps({"type": "play", "id": bad_id, "sha256": "nothex"})],
        )
    outbox.put(play(2))
    uploader = ReportUploader(outbox=outbox, client=client)
    assert await uploader.drain() == 3
    assert outbox.counts() == {}
    lines = [r.getMessage() for r in caplog.records if bad_id in r.getMessage()]
    assert len(lines) == 1 and "refused" in lines[0]


async def test_a_cloud_without_the_route_is_asked_again_later_and_logged_once(
    cloud: RunningCloud, http: httpx.AsyncClient, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    enrolled = await enroll(cloud, http)
    # an older cloud: the real app, reached under a path it does not serve
    client = DeviceClient(
        http=http, base_url=f"{cloud.url}/older", key=DeviceKey.generate(), tokens=enrolled.tokens
    )
    outbox.put(play(1))
    uploader = ReportUploader(outbox=outbox, client=client, unsupported_wait_s=0.01)
    with pytest.raises(CloudResponseError) as refused:
        await uploader.drain()
    assert refused.value.status_code in (404, 405)
    task = asyncio.create_task(uploader.run())
    try:
        while uploader.requests < 4:
            await asyncio.sleep(0.01)
        assert not task.done()
    finally:
        task.cancel()
    assert outbox.counts() == {"play": 1}  # kept for a cloud that takes it
    lines = [r for r in caplog.records if "does not take events" in r.getMessage()]
    assert len(lines) == 1


# --- answers the real cloud never gives ------------------------------------------------


class FakeCloud:
    """Stores events by id and answers receipts, with faults switched on by the test."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.requests: list[int] = []  # events per request
        self.refuse_batches_over: int | None = None  # 413 for larger batches
        self.refuse_whole: set[str] = set()  # a batch holding one of these: 422
        self.faults: list[httpx.Response] = []  # answered first, one per request

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"{DEVICE_PREFIX}/events"
        assert request.headers["Authorization"].startswith("DPoP ") and request.headers["DPoP"]
        events = json.loads(request.content)["events"]
        self.requests.append(len(events))
        if self.faults:
            return self.faults.pop(0)
        if self.refuse_batches_over is not None and len(events) > self.refuse_batches_over:
            return httpx.Response(413, json={"detail": "too large"})
        if any(e["id"] in self.refuse_whole for e in events):
            return httpx.Response(422, json={"detail": "invalid"})
        stored = [e["id"] for e in events if e["id"] not in self.stored]
        duplicates = [e["id"] for e in events if e["id"] in self.stored]
        self.stored.update({e["id"]: e for e in events})
        return httpx.Response(200, json={"stored": stored, "duplicates": duplicates, "refused": []})

    def client(self) -> DeviceClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return DeviceClient(
            http=http, base_url="http://cloud.test", key=DeviceKey.generate(), tokens=TOKENS
        )


async def test_a_batch_refused_whole_is_split_and_a_bad_event_alone_is_dropped(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    cloud = FakeCloud()
    cloud.refuse_batches_over = 60
    events = [play(n) for n in range(150)]
    for event in events:
        outbox.put(event)
    poison = events[70].id
    cloud.refuse_whole = {poison}
    uploader = ReportUploader(outbox=outbox, client=cloud.client())
    assert await uploader.drain() == 150
    assert outbox.counts() == {}
    assert set(cloud.stored) == {e.id for e in events} - {poison}
    assert cloud.requests[0] == 150 and 1 in cloud.requests  # split down to the bad one
    assert any(poison in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
    # sent as written, in order
    assert list(cloud.stored) == [e.id for e in events if e.id != poison]
    assert cloud.stored[events[0].id] == json.loads(events[0].model_dump_json())


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"stored": [], "duplicates": [], "refused": []}),
        httpx.Response(200, json={"stored": ["someone-else"], "duplicates": [], "refused": []}),
        httpx.Response(200, json={"stored": ["someone-else"] * 3}),
        httpx.Response(200, content=b"<html>proxy</html>"),
        httpx.Response(503, json={"detail": "busy"}),
        httpx.Response(200, json={"stored": ["x" * 100_000], "duplicates": [], "refused": []}),
    ],
    ids=["names-none", "names-others", "not-a-receipt", "not-json", "unavailable", "oversized"],
)
async def test_an_answer_that_is_no_receipt_for_the_batch_deletes_nothing(
    outbox: Outbox, answer: httpx.Response
) -> None:
    cloud = FakeCloud()
    cloud.faults = [answer]
    outbox.put(play(1))
    with pytest.raises(CloudResponseError):
        await ReportUploader(outbox=outbox, client=cloud.client()).drain()
    assert outbox.counts() == {"play": 1}


async def test_the_task_backs_off_on_failures_then_drains_and_never_exits(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cloud = FakeCloud()
    cloud.faults = [
        httpx.Response(500, json={}),
        httpx.Response(200, content=b"garbage"),
        httpx.Response(200, json={"stored": [], "duplicates": [], "refused": []}),
    ]
    for n in range(5):
        outbox.put(play(n))
    uploader = ReportUploader(
        outbox=outbox, client=cloud.client(), max_backoff_s=0.05, coalesce_s=0.01
    )
    task = asyncio.create_task(uploader.run())
    try:
        while outbox.counts():
            await asyncio.sleep(0.01)
            assert not task.done(), task
        outbox.put(play(5))  # woken by the new event
        while outbox.counts():
            await asyncio.sleep(0.01)
        assert not task.done()
    finally:
        task.cancel()
    assert cloud.requests == [5, 5, 5, 5, 1]
    failures = [r for r in caplog.records if "sending failed" in r.getMessage()]
    assert len(failures) == 1  # once per streak, not per retry
    assert any("takes events again" in r.getMessage() for r in caplog.records)


async def test_events_queued_together_go_in_one_request(outbox: Outbox) -> None:
    cloud = FakeCloud()
    uploader = ReportUploader(outbox=outbox, client=cloud.client(), coalesce_s=0.05)
    task = asyncio.create_task(uploader.run())
    try:
        await asyncio.sleep(0.1)  # idle, waiting for events
        assert cloud.requests == []
        for n in range(3):
            outbox.put(play(n))
        while len(cloud.stored) < 3:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert cloud.requests == [3]


async def test_a_commands_result_goes_at_once_without_waiting_for_company(outbox: Outbox) -> None:
    cloud = FakeCloud()
    uploader = ReportUploader(outbox=outbox, client=cloud.client(), coalesce_s=3600)
    task = asyncio.create_task(uploader.run())
    try:
        await asyncio.sleep(0.1)  # idle
        outbox.put(play(1))  # waits for company (an hour here) ...
        await asyncio.sleep(0.1)
        assert cloud.requests == []
        result = CommandResult(
            id=str(uuid.uuid4()), command_id="cmd_1", at=AT, state=CommandState.DONE
        )
        outbox.put(result)  # ... until a result comes, which an admin waits for
        await asyncio.wait_for(wait_stored(cloud, result.id), 10)
    finally:
        task.cancel()
    assert cloud.requests == [2]


async def wait_stored(cloud: FakeCloud, event_id: str) -> None:
    while event_id not in cloud.stored:
        await asyncio.sleep(0.01)
