"""A day offline, then back: how long the outbox takes to drain into the real cloud.

A screen playing a 10 s playlist for 24 hours without its cloud writes about 8,640 play
events and 1,440 heartbeats. They are written here the way the agent writes them (each play
with its local log row in one transaction through `Outbox.add`, each heartbeat through
`Outbox.put`), timed, then sent by the agent's `ReportUploader` with a real enrolled device
client (DPoP, key, tokens) to the real reference cloud on loopback, through a
byte-counting relay. Prints figures; asserts nothing.

    .venv/bin/python bench/report_drain.py [--hours 24] [--item-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.outbox import Outbox  # noqa: E402
from agent.report_uploader import ReportUploader  # noqa: E402
from agent.store import Store  # noqa: E402
from sync.client import DeviceClient  # noqa: E402
from sync.identity import DeviceKey  # noqa: E402
from sync.models import DeviceStatus, Heartbeat, PlayEvent, PlayOutcome  # noqa: E402
from tests.support.cloud import running_cloud  # noqa: E402
from tests.support.device import enroll  # noqa: E402
from tests.support.relay import CountingRelay  # noqa: E402
from tests.support.reports import reports_supported  # noqa: E402

START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def fill(store: Store, outbox: Outbox, hours: float, item_s: int) -> tuple[int, int, float]:
    """A day of plays and heartbeats, as the agent writes them; (plays, heartbeats, seconds)."""
    plays = int(hours * 3600 / item_s)
    heartbeats = int(hours * 60)
    names = [f"slide-{n}.png" for n in range(6)]
    status = DeviceStatus(
        agent_version="0.1.0",
        uptime_s=1,
        cache_used_bytes=10**8,
        ip_addresses=["192.168.1.23"],
        last_errors=["cloud: refused"],
    )
    timeline = sorted([(n * item_s, "play", n) for n in range(plays)]
                      + [(m * 60, "heartbeat", m) for m in range(heartbeats)])  # fmt: skip
    started = time.perf_counter()
    for second, kind, n in timeline:
        at = START + timedelta(seconds=second)
        if kind == "heartbeat":
            at_status = status.model_copy(update={"uptime_s": second + 1.0})
            outbox.put(Heartbeat(id=str(uuid.uuid4()), at=at, status=at_status))
            continue
        name = names[n % len(names)]
        event = PlayEvent(
            id=str(uuid.uuid4()), asset_id=f"ast_{n % 6}", sha256=f"{n % 6:x}" * 64, name=name,
            playlist_id="pl_lobby", schedule_reason="device default", schedule_source="dev_1",
            started_at=at, ended_at=at + timedelta(seconds=item_s), duration_ms=item_s * 1000,
            outcome=PlayOutcome.COMPLETED,
        )  # fmt: skip
        with store.transaction("record the end of a play") as db:
            outbox.add(db, event)
            Store.log_play_event(db, "ended", item_key=f"pl_lobby:{n % 6}", name=name,
                                 sha256=event.sha256, at=event.ended_at,
                                 played_ms=event.duration_ms, detail="completed")  # fmt: skip
    return plays, heartbeats, time.perf_counter() - started


async def drain(base: Path, outbox: Outbox) -> None:
    with running_cloud(base / "cloud") as cloud:
        if not reports_supported(cloud):
            print("the reference cloud does not take POST /device/events: nothing to measure")
            return
        relay = CountingRelay(int(cloud.url.rsplit(":", 1)[1]))
        async with httpx.AsyncClient(timeout=30) as http:
            key = DeviceKey.generate()
            enrolled = await enroll(cloud, http, key=key)
            client = DeviceClient(  # the same device, through the relay
                http=http, base_url=f"http://127.0.0.1:{relay.port}", key=key,
                tokens=enrolled.tokens,
            )  # fmt: skip
            uploader = ReportUploader(outbox=outbox, client=client)
            waiting = sum(outbox.counts().values())
            relay.reset()
            started = time.perf_counter()
            sent = await uploader.drain()
            seconds = time.perf_counter() - started
            up, down = relay.reset()
    print(f"drained {sent} of {waiting} events in {seconds:.1f} s with {uploader.requests} "
          f"requests ({sent / seconds:.0f} events/s); {up / 1e6:.1f} MB up, "
          f"{down / 1e6:.2f} MB down, {(up + down) / sent:.0f} B per event")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--item-seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = Store.open(base / "agent")
        outbox = Outbox(store)
        plays, heartbeats, seconds = fill(store, outbox, args.hours, args.item_seconds)
        size = (base / "agent" / "agent.db").stat().st_size
        print(f"{args.hours:g} h offline, {args.item_seconds} s items: {plays} plays and "
              f"{heartbeats} heartbeats written in {seconds:.1f} s "
              f"({seconds / (plays + heartbeats) * 1000:.2f} ms each, one transaction each, "
              f"synchronous=FULL); agent.db {size / 1e6:.1f} MB")  # fmt: skip
        asyncio.run(drain(base, outbox))
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
