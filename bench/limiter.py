"""What the rate limiter and the lockout cost per request (cloud/ratelimit.py), in ns/op.

What one admin request adds: `Lockout.locked_for` and `Lockout.succeeded` on (address,
key); a failed code approval adds two `TokenBuckets.take`; `/device/authorize` one
`take`. Measured on a hot key (one address sending everything) and on a stream of
distinct addresses that overflows the table (`--entries`, the default cap), so every
call also inserts and evicts. Single thread; the locks are uncontended.

Prints figures; asserts nothing.

    .venv/bin/python bench/limiter.py [--ops 200000] [--entries 10000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from cloud.ratelimit import Lockout, TokenBuckets


def ns_per_op(ops: int, step: Callable[[int], object]) -> float:
    """Best of three runs of `ops` calls of `step(i)`, in nanoseconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter_ns()
        for i in range(ops):
            step(i)
        best = min(best, (time.perf_counter_ns() - started) / ops)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    ops, entries = args.ops, args.entries
    addresses = [f"198.51.{i // 256 % 256}.{i % 256}" for i in range(4 * entries)]
    clock = time.monotonic

    hot = TokenBuckets(capacity=5, period_s=60, max_entries=entries)
    spread = TokenBuckets(capacity=5, period_s=60, max_entries=entries)
    lockout = Lockout(failures=5, base_s=60, max_s=3600, max_entries=entries)
    failing = Lockout(failures=5, base_s=60, max_s=3600, max_entries=entries)

    def admin_request(i: int) -> None:
        key = ("192.0.2.1", "key_0123456789abcdef")
        lockout.locked_for(key, clock())
        lockout.succeeded(key)

    def failed_authentication(i: int) -> None:
        key = (addresses[i % len(addresses)], "unknown key")
        now = clock()
        failing.locked_for(key, now)
        failing.failed(key, now)

    rows = [
        ("TokenBuckets.take, one hot key", ns_per_op(ops, lambda i: hot.take("a", clock()))),
        (
            f"TokenBuckets.take, {len(addresses):,} addresses over a {entries:,} cap",
            ns_per_op(ops, lambda i: spread.take(addresses[i % len(addresses)], clock())),
        ),
        ("admin request: Lockout.locked_for + succeeded", ns_per_op(ops, admin_request)),
        (
            f"failed authentication, {len(addresses):,} addresses: locked_for + failed",
            ns_per_op(ops, failed_authentication),
        ),
        ("time.monotonic() alone (in each of the above)", ns_per_op(ops, lambda i: clock())),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'what':<{width}}  ns/op")
    for name, ns in rows:
        print(f"{name:<{width}}  {ns:7.0f}")
    print(f"entries kept: buckets {len(spread):,}, lockout {len(failing):,} (cap {entries:,})")


if __name__ == "__main__":
    main()
