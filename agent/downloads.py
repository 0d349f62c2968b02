"""Fetching what the content cache lacks: per blob, a few at a time, apart from the sync loop.

The sync loop says which blobs the current state uses (`want`, in playlist order); this
task downloads the missing ones with bounded concurrency, the first items first. One blob
failing (404, hash or size mismatch, a timeout, a full disk) never blocks another: it is
reported once, then retried with its own backoff while the rest carry on. Each blob that
lands tells the screen, which then plays every item whose content is there.
`DownloadQueue` is the pure part: which blob to start next and when to look again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.backoff import backoff
from agent.content_cache import ContentCache
from agent.waiting import wait_event
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


class DownloadQueue:
    """Which blob to fetch next: never-tried ones in playlist order, then failed ones when due.

    Pure bookkeeping (no I/O, the clock is passed in), so that each step costs O(1) for a
    fresh blob: a 10,000-item playlist must not cost a scan of every blob per download.
    Failures are few; their backoff is looked up by a scan of the failed ones only.
    """

    def __init__(self) -> None:
        self._fresh: dict[str, None] = {}  # insertion-ordered set
        self._failures: dict[str, Failure] = {}
        self._in_flight: set[str] = set()

    @property
    def failures(self) -> dict[str, Failure]:
        return dict(self._failures)

    @property
    def in_flight(self) -> set[str]:
        return set(self._in_flight)

    def reset(self, missing: list[str]) -> list[str]:
        """The blobs still missing, in the order to fetch them; returns those now unwanted."""
        wanted = set(missing)
        dropped = [sha for sha in self._in_flight if sha not in wanted]
        self._failures = {k: v for k, v in self._failures.items() if k in wanted}
        self._fresh = {
            sha: None for sha in missing if sha not in self._failures and sha not in self._in_flight
        }
        self._in_flight -= set(dropped)
        return dropped

    def next_due(self, now: float) -> str | None:
        """The next blob to start, or None when none is due now."""
        while self._fresh:
            sha = next(iter(self._fresh))
            del self._fresh[sha]
            self._in_flight.add(sha)
            return sha
        due = [(f.retry_at, sha) for sha, f in self._failures.items()
               if f.retry_at <= now and sha not in self._in_flight]  # fmt: skip
        if not due:
            return None
        sha = min(due)[1]
        self._in_flight.add(sha)
        return sha

    def wake_at(self) -> float | None:
        """When the earliest backing-off blob becomes due (None: nothing waits)."""
        waiting = [f.retry_at for sha, f in self._failures.items() if sha not in self._in_flight]
        return min(waiting) if waiting else None

    def succeeded(self, sha256: str) -> Failure | None:
        """Forget `sha256`; returns its earlier failure, if it had one."""
        self._in_flight.discard(sha256)
        return self._failures.pop(sha256, None)

    def failed(self, sha256: str, reason: str, now: float) -> Failure | None:
        """Back `sha256` off; None when it is no longer wanted (nothing to retry)."""
        if sha256 not in self._in_flight:
            return None
        self._in_flight.discard(sha256)
        attempts = (self._failures[sha256].attempts if sha256 in self._failures else 0) + 1
        failure = Failure(attempts, now + backoff(attempts, cap_s=MAX_RETRY_S), reason)
        self._failures[sha256] = failure
        return failure

    def cancelled(self, sha256: str) -> None:
        self._in_flight.discard(sha256)


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
        self._sizes: dict[str, int] = {}
        self._queue = DownloadQueue()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        # set by `want`: what is wanted changed (the daemon's status report wakes for it)
        self.wants_changed = asyncio.Event()

    @property
    def pending(self) -> int:
        """Blobs wanted and not in the cache yet."""
        return len(self._cache.missing(self._sizes))

    def progress(self) -> dict[str, object]:
        """What `status` shows: blobs still missing, their bytes, and those that keep failing."""
        missing = self._cache.missing(self._sizes)
        failures = self._queue.failures
        return {
            "pending": len(missing),
            "pending_bytes": sum(self._sizes[sha] for sha in missing),
            "downloading": len(self._tasks),
            "failing": [
                {"sha256": sha, "attempts": f.attempts, "reason": f.reason}
                for sha, f in sorted(failures.items())[:10]
            ],
        }

    def want(self, blobs: Mapping[str, int]) -> None:
        """The blobs (sha256 -> announced size, in the order to fetch them) the state uses."""
        self._sizes = dict(blobs)
        missing = [sha for sha in self._sizes if not self._cache.has(sha)]
        for sha256 in self._queue.reset(missing):
            task = self._tasks.get(sha256)
            if task is not None:
                task.cancel()
        self._wakeup.set()
        self.wants_changed.set()

    async def run(self) -> None:
        try:
            while True:
                self._wakeup.clear()
                now = self._clock()
                while len(self._tasks) < self._concurrency:
                    sha256 = self._queue.next_due(now)
                    if sha256 is None:
                        break
                    self._tasks[sha256] = asyncio.create_task(
                        self._fetch(sha256, self._sizes[sha256]), name=f"download {sha256[:12]}"
                    )
                wake_at = self._queue.wake_at()
                timeout = None if wake_at is None else max(0.0, wake_at - now)
                await wait_event(self._wakeup, timeout)  # or a backing-off blob is due
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _fetch(self, sha256: str, size: int) -> None:
        try:
            path = await self._cache.fetch(self._client, sha256, size, keep=self._sizes.keys())
        except asyncio.CancelledError:
            self._queue.cancelled(sha256)
            raise
        except (SyncError, OSError) as exc:
            self._failed(sha256, str(exc))
        except Exception as exc:  # a bug must not end downloading for every other blob
            log.exception("downloading blob %s failed unexpectedly", sha256[:12])
            self._failed(sha256, f"{type(exc).__name__}: {exc}")
        else:
            earlier = self._queue.succeeded(sha256)
            log.info(
                "downloaded blob %s (%d bytes)%s",
                sha256[:12],
                path.stat().st_size,
                f" after {earlier.attempts + 1} attempts" if earlier else "",
            )
            self._on_blob_ready()
        finally:
            self._tasks.pop(sha256, None)
            self._wakeup.set()

    def _failed(self, sha256: str, reason: str) -> None:
        failure = self._queue.failed(sha256, reason, self._clock())
        if failure is None:
            return
        wait = failure.retry_at - self._clock()
        if failure.attempts == 1:  # reported once; the retries are quiet until it lands
            log.warning("%s; items using it are skipped, retrying in %.0f s", reason, wait)
        else:
            log.debug("blob %s failed again (%d): %s", sha256[:12], failure.attempts, reason)


__all__ = ["DEFAULT_CONCURRENCY", "DownloadQueue", "Downloader", "Failure"]
