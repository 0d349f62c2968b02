"""What delta sync costs on the wire and in the cloud's CPU, per change.

A real cloud on loopback with a tenant of 10,000 assets and 500 playlists (written through
the cloud's own classes straight into its database, which is quicker than 10,000 uploads
and concerns no device), one screen whose playlist has 10,000 items (one per asset). The
screen is a real device client (real key, DPoP proofs, nonce retries) talking to the cloud
through a byte-counting TCP relay, so the figures are bytes on the wire in both directions,
headers included:

- a full listing (every page, with the default page size and with the largest);
- one asset of the screen's playlist renamed, while the screen long-polls;
- an unrelated change (a new 1-item playlist, an asset of another playlist renamed) while
  the screen long-polls: beyond the long-poll's own renewal (its request and the 204 after
  `wait`) it should cost nothing;
- the cloud's CPU time per change (from /proc) with N more lightweight devices each
  holding a long-poll, for changes that concern none of them.

Prints figures; asserts nothing.

    .venv/bin/python bench/delta_bytes.py [--assets 10000] [--playlists 500] [--devices 200]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cloud.blobs import StoredBlob  # noqa: E402
from cloud.changelog import ChangeLog  # noqa: E402
from cloud.content import Content  # noqa: E402
from cloud.playlists import Playlists  # noqa: E402
from cloud.store import Database  # noqa: E402
from sync.models import MAX_PAGE_CHANGES, NewPlaylist, NewPlaylistItem, StatePage  # noqa: E402
from tests.support.cloud import RunningCloud, running_cloud  # noqa: E402
from tests.support.device import enroll, state_answer, tokens_of  # noqa: E402
from tests.support.media import AcceptEveryUpload  # noqa: E402
from tests.support.relay import CountingRelay  # noqa: E402

ADMIN = "/api/v3/admin"


def populate(cloud: RunningCloud, assets: int, playlists: int) -> tuple[list[str], list[str]]:
    """The tenant's assets and playlists, written by the cloud's classes (no device yet)."""
    db = Database(cloud.data_dir / "cloud.db")
    try:
        changelog = ChangeLog(db)
        content = Content(db, changelog, prober=AcceptEveryUpload())
        store = Playlists(db, content=content, changelog=changelog)
        asset_ids = []
        for index in range(assets):
            name = f"slide-{index:05d}.png"
            blob = StoredBlob(hashlib.sha256(name.encode()).hexdigest(), 40_000, Path(__file__))
            created = content.add_asset(
                tenant_id=cloud.tenant_id,
                name=name,
                blob=blob,
                media_type="image",
                content_type="image/png",
            )
            asset_ids.append(created.id)
        playlist_ids = []
        for index in range(playlists):
            if index == 0:
                chosen = asset_ids  # the screen's: every asset
            else:
                chosen = [asset_ids[(index * 7 + k) % assets] for k in range(20)]
            items = [NewPlaylistItem(asset_id=asset_id, duration_s=8) for asset_id in chosen]
            playlist = NewPlaylist(name=f"playlist {index}", items=items)
            playlist_ids.append(store.create(tenant_id=cloud.tenant_id, playlist=playlist).id)
        return asset_ids, playlist_ids
    finally:
        db.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


async def listing_bytes(client_http: httpx.AsyncClient, device, relay: CountingRelay, limit: int):  # type: ignore[no-untyped-def]
    relay.reset()
    started = time.perf_counter()
    cursor = None
    pages = 0
    body = 0
    while True:
        answer = await state_answer(device, cursor, limit=limit)
        page = StatePage.model_validate_json(answer.content)
        pages += 1
        body += len(answer.content)
        cursor = page.cursor
        if not page.more:
            break
    elapsed = time.perf_counter() - started
    sent, received = relay.reset()
    return cursor, pages, body, sent, received, elapsed


async def held_change(device, relay: CountingRelay, cursor: str, change, wait_s: int):  # type: ignore[no-untyped-def]
    """Bytes of one long-poll exchange during which `change()` runs; its status, its cursor."""
    relay.reset()
    held = asyncio.create_task(state_answer(device, cursor, wait_s=wait_s))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(change)
    answer = await held
    await asyncio.sleep(0.05)
    sent, received = relay.reset()
    if answer.status_code == 200:
        cursor = StatePage.model_validate_json(answer.content).cursor
    return answer.status_code, cursor, sent, received


async def main_async(args: argparse.Namespace, base: Path) -> None:
    with running_cloud(base / "cloud") as cloud:
        started = time.perf_counter()
        asset_ids, playlist_ids = populate(cloud, args.assets, args.playlists)
        print(
            f"tenant: {len(asset_ids)} assets, {len(playlist_ids)} playlists "
            f"(the screen's has {len(asset_ids)} items); set up in "
            f"{time.perf_counter() - started:.1f} s"
        )
        port = int(cloud.url.rsplit(":", 1)[1])
        relay = CountingRelay(port)
        relayed = RunningCloud(
            url=f"http://127.0.0.1:{relay.port}",
            admin_key=cloud.admin_key,
            tenant_id=cloud.tenant_id,
            data_dir=cloud.data_dir,
        )
        admin = httpx.Client(
            base_url=cloud.url, headers={"Authorization": f"Bearer {cloud.admin_key}"}
        )
        # No pool limit (every idle device holds a connection); idle connections are let go
        # before uvicorn's 5 s keep-alive ends, so none is reused just as the cloud closes it.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None,
                              keepalive_expiry=2.0)  # fmt: skip
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            device = await enroll(relayed, http, name="Lobby")
            assigned = await asyncio.to_thread(
                admin.put,
                f"{ADMIN}/devices/{tokens_of(device).device_id}/playlist",
                json={"playlist_id": playlist_ids[0]},
            )
            assigned.raise_for_status()
            await state_answer(device)  # the first nonce round trip, outside the figures
            for limit in (500, MAX_PAGE_CHANGES):
                cursor, pages, body, sent, received, elapsed = await listing_bytes(
                    http, device, relay, limit
                )
                print(
                    f"full listing, limit {limit}: {pages} pages in {elapsed:.2f} s; "
                    f"{sent + received:,} bytes on the wire ({sent:,} up, {received:,} down; "
                    f"bodies {body:,})"
                )
            full = sent + received

            wait_s = args.wait
            status, _, idle_sent, idle_received = await held_change(
                device, relay, cursor, lambda: None, wait_s
            )
            idle = idle_sent + idle_received
            print(f"long-poll renewal, nothing changed: {status}, {idle:,} bytes")

            def rename_used() -> None:
                admin.patch(
                    f"{ADMIN}/assets/{asset_ids[1234 % len(asset_ids)]}", json={"name": "renamed"}
                ).raise_for_status()

            status, cursor, sent, received = await held_change(
                device, relay, cursor, rename_used, wait_s
            )
            print(
                f"one asset of the screen's playlist renamed: {status}, {sent + received:,} bytes"
                f" ({sent:,} up, {received:,} down); full listing / this = "
                f"{full / (sent + received):,.0f}x"
            )

            def unrelated() -> None:
                admin.post(
                    f"{ADMIN}/playlists",
                    json={"name": "unrelated", "items": [{"asset_id": asset_ids[0]}]},
                ).raise_for_status()
                admin.patch(
                    f"{ADMIN}/playlists/{playlist_ids[1]}", json={"name": "renamed"}
                ).raise_for_status()

            status, cursor, sent, received = await held_change(
                device, relay, cursor, unrelated, wait_s
            )
            print(
                f"unrelated changes (new playlist, another playlist renamed): {status}, "
                f"{sent + received:,} bytes; beyond the renewal: {sent + received - idle:+,}"
            )

            # CPU per change with N idle long-polling devices that the changes do not concern.
            pid = cloud.process.pid if cloud.process else 0
            for devices in (0, args.devices):
                idle_devices = [await enroll(cloud, http, name=f"idle {n}") for n in range(devices)]
                polls = []
                for idle_device in idle_devices:
                    answer = await state_answer(idle_device)
                    idle_cursor = StatePage.model_validate_json(answer.content).cursor
                    polls.append(
                        asyncio.create_task(state_answer(idle_device, idle_cursor, wait_s=60))
                    )
                await asyncio.sleep(1.0)
                before = cpu_seconds(pid)
                for index in range(args.changes):
                    await asyncio.to_thread(
                        admin.patch,
                        f"{ADMIN}/assets/{asset_ids[index]}",
                        json={"name": f"cpu {devices} {index}"},
                    )
                cpu = cpu_seconds(pid) - before
                print(
                    f"cloud CPU per change (a rename the screen needs) with {devices} idle "
                    f"long-polling devices: {cpu / args.changes * 1000:.1f} ms"
                )
                for poll in polls:
                    poll.cancel()
                await asyncio.gather(*polls, return_exceptions=True)
        await asyncio.to_thread(admin.close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--playlists", type=int, default=500)
    parser.add_argument("--devices", type=int, default=200, help="idle long-polling devices")
    parser.add_argument("--changes", type=int, default=50, help="changes timed for CPU")
    parser.add_argument("--wait", type=int, default=2, help="long-poll hold, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main_async(args, Path(tmp)))


if __name__ == "__main__":
    main()
