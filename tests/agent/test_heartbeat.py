"""`agent.heartbeat`: what a heartbeat says, read from the machine and the agent's parts, and
when one is queued (every interval, and after a significant change at most every 5 s)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.clock import CloudClock, ScheduleClock
from agent.connection import ConnectionState
from agent.content_cache import ContentCache
from agent.heartbeat import (
    Heartbeats,
    StatusReader,
    cpu_temperature,
    ip_addresses,
    parse_fib_trie,
    parse_if_inet6,
    parse_throttled,
    run_throttled,
)
from agent.outbox import Outbox
from agent.play_log import OpenPlay
from agent.store import Meta, Store
from agent.version import __version__
from player.schedule import Decision, Reason
from sync.models import Heartbeat

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.0
           /24 link UNICAST
        |-- 192.168.1.23
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.168.1.23
        /32 host LOCAL
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000211223344556677 02 40 20 80     eth0
20010db8000000000000000000000042 02 40 00 80     eth0
"""


def test_addresses_are_read_from_proc_net_without_loopback_or_link_local(tmp_path: Path) -> None:
    assert parse_fib_trie(FIB_TRIE) == ["127.0.0.1", "192.168.1.23", "192.168.1.23"]
    assert parse_if_inet6(IF_INET6) == ["::1", "fe80::211:2233:4455:6677", "2001:db8::42"]
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    assert ip_addresses(tmp_path) == ["192.168.1.23", "2001:db8::42"]
    assert ip_addresses(tmp_path / "missing") == []


def test_the_cpu_zone_gives_the_temperature(tmp_path: Path) -> None:
    assert cpu_temperature(tmp_path) is None  # no thermal zones (a VM, a container)
    for name, kind, temp in (("thermal_zone0", "gpu-thermal", "41000"),
                             ("thermal_zone1", "cpu-thermal", "52312"),
                             ("thermal_zone2", "acpitz", "garbage")):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "type").write_text(kind + "\n")
        (tmp_path / name / "temp").write_text(temp + "\n")
    assert cpu_temperature(tmp_path) == 52.312
    (tmp_path / "thermal_zone1" / "temp").write_text("")
    assert cpu_temperature(tmp_path) == 41.0  # else the first zone that reads


def test_throttling_comes_from_vcgencmd_where_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_throttled("throttled=0x50000\n") == "0x50000"
    assert parse_throttled('error=1 error_msg="Command not registered"') is None
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run_throttled() is None  # not a Pi
    script = tmp_path / "vcgencmd"
    script.write_text('#!/bin/sh\n[ "$1" = get_throttled ] && echo "throttled=0x0"\n')
    script.chmod(0o755)
    assert run_throttled() == "0x0"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "state")


DECISION = Decision(
    playlist_id="pl", items=(), reason=Reason.INTERRUPT, source_id="int_1",
    why="interrupt int_1 (until 12:30)", on_switch="cut", next_boundary=AT + timedelta(minutes=30),
)  # fmt: skip
OPEN = OpenPlay(
    id="e1", item_key="pl:0", sha256="a" * 64, name="menu.png", asset_id="ast_1",
    playlist_id="pl", schedule_reason="interrupt", schedule_source="int_1",
    started_at=AT, planned_ms=10_000,
)  # fmt: skip


def reader(
    store: Store,
    tmp_path: Path,
    *,
    decision: list[Decision | None],
    connection: list[ConnectionState],
    open_play: OpenPlay | None = OPEN,
    throttled: Callable[[], str | None] = lambda: "0x0",
) -> StatusReader:
    thermal = tmp_path / "thermal" / "thermal_zone0"
    thermal.mkdir(parents=True)
    (thermal / "type").write_text("cpu-thermal\n")
    (thermal / "temp").write_text("48500\n")
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "fib_trie").write_text(FIB_TRIE)
    return StatusReader(
        store=store,
        cache=ContentCache(tmp_path / "state"),
        state_dir=tmp_path / "state",
        cloud_clock=CloudClock(lambda: 1.5),
        schedule_clock=ScheduleClock(lambda: 1.5, synchronised=lambda: True),
        decision=lambda: decision[0],
        open_play=lambda: open_play,
        connection=lambda: connection[0],
        downloads=lambda: {
            "pending": 2,
            "failing": [{"sha256": "b" * 64, "attempts": 3, "reason": "HTTP 404"}],
        },
        synced_at=lambda: AT.timestamp(),
        display=lambda: "dummy 1920x1080",
        clock_offset_s=lambda: 1.5,
        synchronised=lambda: True,
        thermal_dir=tmp_path / "thermal",
        proc_net=tmp_path / "net",
        throttled=throttled,
        started=time.monotonic() - 120,
    )


async def test_the_status_says_what_plays_why_and_how_the_machine_is(
    store: Store, tmp_path: Path
) -> None:
    connection = ConnectionState(
        online=False, last_error="cannot reach the cloud: connection refused",
        last_error_at="2026-11-25T11:59:00+00:00",
    )  # fmt: skip
    store.set_many({Meta.LAST_SYNC_AT: datetime.now(UTC).isoformat()})
    status = await reader(store, tmp_path, decision=[DECISION], connection=[connection]).read()
    assert status.agent_version == __version__
    assert 120 <= status.uptime_s < 180
    assert status.playing is not None
    assert (status.playing.name, status.playing.asset_id, status.playing.playlist_id) == (
        "menu.png", "ast_1", "pl",
    )  # fmt: skip
    assert status.playing.since == AT and status.message is None
    assert status.schedule is not None
    assert (status.schedule.reason, status.schedule.source_id) == ("interrupt", "int_1")
    assert status.schedule.next_boundary == DECISION.next_boundary
    assert status.cache_used_bytes == 0 and status.cache_limit_bytes is not None
    assert status.disk_free_bytes and status.disk_free_bytes > 0
    assert status.downloads_pending == 2
    assert status.last_sync_at == AT + timedelta(seconds=1.5)  # on the cloud's clock
    assert status.cursor_age_s is not None and status.cursor_age_s < 60
    assert (status.clock_offset_s, status.clock_synchronised, status.clock_source) == (
        1.5, True, "local",
    )  # fmt: skip
    assert (status.cpu_temp_c, status.throttled, status.display) == (48.5, "0x0", "dummy 1920x1080")
    assert status.ip_addresses == ["192.168.1.23"]
    assert status.last_errors == [
        "2026-11-25T11:59:00+00:00 cloud: cannot reach the cloud: connection refused",
        f"download {'b' * 12}: HTTP 404",
    ]


async def test_with_nothing_playing_the_status_names_the_message(
    store: Store, tmp_path: Path
) -> None:
    store.set_json(Meta.SCREEN_MESSAGE, {"title": "Lobby", "headline": "No content yet"})
    status = await reader(
        store, tmp_path, decision=[None], connection=[ConnectionState()], open_play=None
    ).read()
    assert status.playing is None and status.schedule is None
    assert status.message == "Lobby: No content yet"


async def run_for(heartbeats: Heartbeats, seconds: float) -> None:
    task = asyncio.create_task(heartbeats.run())
    await asyncio.sleep(seconds)
    task.cancel()


def queued(store: Store) -> list[Heartbeat]:
    return [Heartbeat.model_validate_json(p.body) for p in Outbox(store).oldest(1000)]


async def test_heartbeats_come_every_interval_and_after_a_change_at_most_every_gap(
    store: Store, tmp_path: Path
) -> None:
    decision: list[Decision | None] = [DECISION]
    connection = [ConnectionState(online=True)]
    heartbeats = Heartbeats(
        outbox=Outbox(store),
        reader=reader(store, tmp_path, decision=decision, connection=connection),
        interval_s=3600,
        now=lambda: datetime.now(UTC),
        enrolled=lambda: True,
        min_gap_s=0.3,
    )
    task = asyncio.create_task(heartbeats.run())
    try:
        while heartbeats.sent < 1:  # the first at once
            await asyncio.sleep(0.01)
        heartbeats.poke()  # nothing significant changed: no heartbeat
        await asyncio.sleep(0.1)
        assert heartbeats.sent == 1
        for change in range(3):
            connection[0] = ConnectionState(online=change % 2 == 1)  # offline, online, offline
            heartbeats.poke()
            while heartbeats.sent < 2 + change:
                await asyncio.sleep(0.01)
        decision[0] = None  # the schedule's decision changed too
        heartbeats.poke()
        while heartbeats.sent < 5:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    sent = [h.at for h in queued(store)]
    assert len(sent) == 5
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.3 - 0.002  # the bound: at most one per gap (times to the ms)


async def test_no_heartbeat_before_enrollment_and_one_per_interval_after(
    store: Store, tmp_path: Path
) -> None:
    enrolled = [False]
    heartbeats = Heartbeats(
        outbox=Outbox(store),
        reader=reader(store, tmp_path, decision=[DECISION], connection=[ConnectionState()]),
        interval_s=0.05,
        now=lambda: AT,
        enrolled=lambda: enrolled[0],
    )
    task = asyncio.create_task(heartbeats.run())
    try:
        await asyncio.sleep(0.2)
        assert queued(store) == []
        enrolled[0] = True
        while heartbeats.sent < 3:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert len({h.id for h in queued(store)}) == len(queued(store)) >= 3


async def test_a_status_that_cannot_be_built_is_skipped_and_the_task_goes_on(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def a_bug() -> str | None:
        raise RuntimeError("a bug")

    broken = reader(
        store, tmp_path, decision=[DECISION], connection=[ConnectionState()], throttled=a_bug
    )
    heartbeats = Heartbeats(
        outbox=Outbox(store), reader=broken, interval_s=0.02, now=lambda: AT,
        enrolled=lambda: True,
    )  # fmt: skip
    task = asyncio.create_task(heartbeats.run())
    await asyncio.sleep(0.2)
    assert not task.done()
    task.cancel()
    assert queued(store) == []
    assert len([r for r in caplog.records if "building it failed" in r.getMessage()]) == 1
