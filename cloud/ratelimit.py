"""Rate limits and lockout, in memory: token buckets and a failed-attempt counter.

Both are plain objects over `now` (seconds, any monotonic origin), so they are tested
without a server or a clock; `cloud.access` feeds them the client's address and key.

    TokenBuckets   at most `capacity` events per `period_s` per key, refilled evenly:
                   with capacity 5 and 60 s, the 6th event within a minute is refused,
                   and one more is allowed every 12 s after that.
    Lockout        `failures` failed attempts in a row for a key lock it for `base_s`;
                   each further lock of the same key doubles, up to `max_s`; a success
                   forgets the key.

Memory is bounded: each keeps at most `max_entries` keys, forgetting the one least
recently touched when a new one comes (an entry is a few hundred bytes; 10,000 entries
are a few MB). Forgetting a key gives it a fresh bucket or counter: an attacker would
need more addresses than `max_entries` at once to profit, and then a per-address limit
is not what stops them. Both are thread-safe (one lock each): FastAPI runs the admin
endpoints in worker threads.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

DEFAULT_MAX_ENTRIES = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Bounded(Generic[K, V]):
    """An LRU map of at most `max_entries` items (callers hold the lock)."""

    def __init__(self, max_entries: int) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """At most `capacity` events per `period_s` for each key."""

    def __init__(
        self, *, capacity: int, period_s: float, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if capacity <= 0 or period_s <= 0:
            raise ValueError("a token bucket needs a positive capacity and period")
        self.capacity = capacity
        self.period_s = period_s
        self._rate = capacity / period_s  # tokens per second
        self._buckets: _Bounded[Hashable, _Bucket] = _Bounded(max_entries)
        self._lock = threading.Lock()

    def take(self, key: Hashable, now: float) -> float:
        """Spend one event of `key`: 0.0 if allowed, else the seconds until one is."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.capacity), updated=now)
                self._buckets.put(key, bucket)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self._rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate

    def give_back(self, key: Hashable) -> None:
        """Undo a `take` that turned out not to count (e.g. the approval succeeded)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.tokens = min(self.capacity, bucket.tokens + 1.0)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class _Attempts:
    failures: int = 0  # in a row, since the last success or the end of the last lock
    locks: int = 0  # how many times the key was locked: each lock doubles the next
    locked_until: float = 0.0


class Lockout:
    """Locks a key after `failures` failed attempts in a row, for longer each time."""

    def __init__(
        self,
        *,
        failures: int,
        base_s: float,
        max_s: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if failures <= 0 or base_s <= 0 or max_s < base_s:
            raise ValueError("a lockout needs failures > 0 and 0 < base_s <= max_s")
        self.failures = failures
        self.base_s = base_s
        self.max_s = max_s
        self._keys: _Bounded[Hashable, _Attempts] = _Bounded(max_entries)
        self._lock = threading.Lock()

    def locked_for(self, key: Hashable, now: float) -> float:
        """Seconds `key` stays locked (0.0: not locked)."""
        with self._lock:
            attempts = self._keys.get(key)
            if attempts is None or attempts.locked_until <= now:
                return 0.0
            return attempts.locked_until - now

    def failed(self, key: Hashable, now: float) -> float:
        """Record a failed attempt; the seconds of the lock it started (0.0: none)."""
        with self._lock:
            attempts = self._keys.get(key)
            if attempts is None:
                attempts = _Attempts()
                self._keys.put(key, attempts)
            if attempts.locked_until and attempts.locked_until <= now:
                attempts.failures = 0  # the lock ran out: count afresh, remember it was locked
                attempts.locked_until = 0.0
            attempts.failures += 1
            if attempts.failures < self.failures:
                return 0.0
            period = min(self.max_s, self.base_s * 2.0 ** min(attempts.locks, 62))
            attempts.locks += 1
            attempts.failures = 0
            attempts.locked_until = now + period
            return period

    def succeeded(self, key: Hashable) -> None:
        """A success: `key` starts again with no failures and no past locks."""
        with self._lock:
            self._keys.pop(key)

    def __len__(self) -> int:
        return len(self._keys)


def retry_after(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


__all__ = ["DEFAULT_MAX_ENTRIES", "Lockout", "TokenBuckets", "retry_after"]
