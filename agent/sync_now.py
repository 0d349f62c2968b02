"""`signage-agent sync --once`: one sync in the foreground, for an installer or a script.

Fetches every page of changes until the device is up to date, applies them as the daemon
does, then downloads the missing blobs with a progress line. Exit status 0 when the device
holds everything its playlist needs, 1 otherwise (each failing blob named). It takes the
state folder's lock, so it refuses to run beside the daemon, which syncs by itself.

The progress line is hand-written (a dozen lines) rather than a progress-bar library: the
device would carry a dependency for one line of output.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

import httpx

from agent.config import AgentConfig
from agent.content_cache import ContentCache, Quota
from agent.errors import AgentError
from agent.instance_lock import InstanceLock
from agent.store import Meta, Store
from agent.sync_loop import check_tenant
from sync.client import DeviceClient
from sync.errors import CursorExpired, SyncError
from sync.identity import DeviceKey

log = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_PAGES = 100_000  # a bound on one run, far above any real listing


class Progress:
    """`downloaded 12/40 blobs, 3.1/9.8 MB` on one line (rewritten in place on a terminal)."""

    def __init__(self, total_blobs: int, total_bytes: int, out: TextIO) -> None:
        self.total_blobs, self.total_bytes = total_blobs, total_bytes
        self.blobs = self.bytes = 0
        self._out = out
        self._tty = out.isatty()
        self._shown_at = 0.0

    def advance(self, size: int) -> None:
        self.blobs += 1
        self.bytes += size
        now = time.monotonic()
        if self._tty or now - self._shown_at >= 2 or self.blobs == self.total_blobs:
            self._shown_at = now
            line = (
                f"downloaded {self.blobs}/{self.total_blobs} blobs, "
                f"{self.bytes / 1e6:.1f}/{self.total_bytes / 1e6:.1f} MB"
            )
            self._out.write(f"\r{line}" if self._tty else f"{line}\n")
            self._out.flush()

    def done(self) -> None:
        if self._tty and self.total_blobs:
            self._out.write("\n")


async def sync_now(config: AgentConfig, out: TextIO = sys.stdout) -> int:
    if not config.state_dir.is_dir():
        raise AgentError(f"{config.state_dir}: no such state folder (check --state-dir)")
    lock = InstanceLock(config.state_dir)
    lock.acquire()  # AlreadyRunning when the daemon runs: it syncs by itself
    try:
        store = Store.open(config.state_dir)
        try:
            return await _sync(config, store, out)
        finally:
            store.close()
    finally:
        lock.release()


async def _sync(config: AgentConfig, store: Store, out: TextIO) -> int:
    tokens = store.tokens()
    if tokens is None:
        raise AgentError("this device is not enrolled: run the agent and enter the code it shows")
    key = DeviceKey.load_or_create(config.state_dir)
    cache = ContentCache(
        config.state_dir,
        quota=Quota(min_free_percent=config.cache_min_free_percent,
                    max_bytes=config.cache_max_bytes, grace_s=config.cache_grace_s),
    )  # fmt: skip
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        client = DeviceClient(
            http=http,
            base_url=config.cloud_url,
            key=key,
            tokens=tokens,
            on_tokens=store.save_tokens,
            max_state_bytes=config.max_state_bytes,
        )
        applied = 0
        for _ in range(MAX_PAGES):
            cursor = store.get(Meta.CURSOR)
            try:
                page = await client.get_state(cursor)
            except CursorExpired:
                store.set_many({Meta.CURSOR: None})
                continue
            if page is None:
                break
            check_tenant(page, client.tokens)
            applied += store.apply_page(page, starts_listing=cursor is None).applied
        out.write(f"state up to date ({applied} change(s) applied)\n")
        return await _download(client, cache, store.referenced_blobs(), config, out)


async def _download(
    client: DeviceClient, cache: ContentCache, wanted: dict[str, int], config: AgentConfig,
    out: TextIO,
) -> int:  # fmt: skip
    missing = [sha for sha in wanted if not cache.has(sha)]
    progress = Progress(len(missing), sum(wanted[sha] for sha in missing), out)
    failed: dict[str, str] = {}
    slots = asyncio.Semaphore(config.download_concurrency)

    async def fetch(sha256: str) -> None:
        async with slots:
            try:
                await cache.fetch(client, sha256, wanted[sha256], keep=wanted.keys())
            except (SyncError, OSError) as exc:
                failed[sha256] = str(exc)
                return
        progress.advance(wanted[sha256])

    await asyncio.gather(*(fetch(sha) for sha in missing))
    progress.done()
    for reason in failed.values():
        out.write(f"failed: {reason}\n")
    if failed:
        out.write(f"{len(failed)} blob(s) could not be downloaded; their items are skipped\n")
        return 1
    out.write(f"up to date: {len(wanted)} blob(s) in the cache\n")
    return 0


__all__ = ["Progress", "sync_now"]
