"""Fetching what the content cache lacks: per blob, a few at a time, apart from the sync loop.

The sync loop says which blobs the current state uses (`want`); this task downloads the
missing ones with bounded concurrency. One blob failing (404, hash or size mismatch, a
timeout, a full disk) never blocks another: it is reported once, then retried with its own
backoff while the rest carry on. Each blob that lands tells the screen, which then plays
every item whose content is there. `plan` is the pure part: which blobs to start now and
when to look again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.backoff import backoff
from agent.content_cache import ContentCache
from sync.client import DeviceClient
from sync.errors import SyncError

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
MAX_RETRY_S = 300.0


@dataclass(frozen=True)
class Failure:
    attempts: int
    retry_at: float  # monotonic clock
    reason: str


@dataclass(frozen=True)
class Plan:
    start: list[str]  # blobs to start downloading now
    wake_at: float | None  # when a backing-off blob becomes due (None: nothing waits)


def plan(
    missing: set[str],
    in_flight: set[str],
    failures: Mapping[str, Failure],
    now: float,
    slots: int,
) -> Plan:
    """Which missing blobs to start now (not in flight, not backing off), in a stable order."""
    due, waiting = [], []
    for sha256 in sorted(missing - in_flight):
        failure = failures.get(sha256)
        if failure is None or failure.retry_at <= now:
            due.append((failure.attempts if failure else 0, sha256))
        else:
            waiting.append(failure.retry_at)
    due.sort()  # blobs that never failed first: a bad blob never starves good ones
    start = [sha256 for _, sha256 in due[: max(0, slots)]]
    return Plan(start=start, wake_at=min(waiting) if waiting else None)


class Downloader:
    """Keeps the cache holding every blob in `want`; runs until cancelled."""

    def __init__(
        self,
        *,
        client: DeviceClient,
        cache: ContentCache,
        on_blob_ready: Callable[[], None],
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cache = cache
        self._on_blob_ready = on_blob_ready
        self._concurrency = concurrency
        self._clock = clock
        self._wanted: dict[str, int] = {}
        self._failures: dict[str, Failure] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()

    @property
    def failures(self) -> dict[str, Failure]:
        return dict(self._failures)

    def want(self, blobs: Mapping[str, int]) -> None:
        """The blobs (sha256 -> announced size) the current state uses; others are dropped."""
        self._wanted = dict(blobs)
        self._failures = {k: v for k, v in self._failures.items() if k in self._wanted}
        for sha256, task in list(self._in_flight.items()):
            if sha256 not in self._wanted:
                task.cancel()
        self._wakeup.set()

    async def run(self) -> None:
        try:
            while True:
                self._wakeup.clear()
                now = self._clock()
                missing = self._cache.missing(self._wanted)
                step = plan(
                    missing,
                    set(self._in_flight),
                    self._failures,
                    now,
                    self._concurrency - len(self._in_flight),
                )
                for sha256 in step.start:
                    self._in_flight[sha256] = asyncio.create_task(
                        self._fetch(sha256, self._wanted[sha256]), name=f"download {sha256[:12]}"
                    )
                timeout = None if step.wake_at is None else max(0.0, step.wake_at - now)
                with contextlib.suppress(TimeoutError):  # a backing-off blob is due
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
        finally:
            for task in self._in_flight.values():
                task.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _fetch(self, sha256: str, size: int) -> None:
        try:
            path = await self._cache.fetch(self._client, sha256, size)
        except asyncio.CancelledError:
            raise
        except (SyncError, OSError) as exc:
            self._failed(sha256, str(exc))
        except Exception as exc:  # a bug must not end downloading for every other blob
            log.exception("downloading blob %s failed unexpectedly", sha256[:12])
            self._failed(sha256, f"{type(exc).__name__}: {exc}")
        else:
            earlier = self._failures.pop(sha256, None)
            log.info(
                "downloaded blob %s (%d bytes)%s",
                sha256[:12],
                path.stat().st_size,
                f" after {earlier.attempts + 1} attempts" if earlier else "",
            )
            self._on_blob_ready()
        finally:
            self._in_flight.pop(sha256, None)
            self._wakeup.set()

    def _failed(self, sha256: str, reason: str) -> None:
        if sha256 not in self._wanted:
            return
        attempts = (self._failures[sha256].attempts if sha256 in self._failures else 0) + 1
        wait = backoff(attempts, cap_s=MAX_RETRY_S)
        self._failures[sha256] = Failure(attempts, self._clock() + wait, reason)
        if attempts == 1:  # reported once; the retries are quiet until it lands
            log.warning("%s; items using it are skipped, retrying in %.0f s", reason, wait)
        else:
            log.debug("blob %s failed again (%d): %s", sha256[:12], attempts, reason)


__all__ = ["DEFAULT_CONCURRENCY", "Downloader", "Failure", "Plan", "plan"]
