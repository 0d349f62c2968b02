"""Rate limits and lockout: the pure limiters with a hand-moved clock, then the real cloud."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from cloud.ratelimit import Lockout, TokenBuckets, retry_after
from sync.models import CLIENT_ID, DEVICE_PREFIX
from tests.cloud.screen import Screen, oauth_error
from tests.support.cloud import RunningCloud, running_cloud

APPROVE = "/api/v3/admin/enrollments/{code}/approve"
WRONG_CODES = [f"BCDF-GHJ{c}" for c in "KLMNPQRS"]


# --- the limiters, with `now` given -----------------------------------------------------


def test_a_bucket_allows_its_capacity_per_period_then_one_per_share_of_it() -> None:
    buckets = TokenBuckets(capacity=5, period_s=60)
    assert [buckets.take("a", now=100.0) for _ in range(5)] == [0.0] * 5
    assert buckets.take("a", now=100.0) == pytest.approx(12.0)  # the 6th within the minute
    assert buckets.take("b", now=100.0) == 0.0  # another key has its own
    assert buckets.take("a", now=106.0) == pytest.approx(6.0)
    assert buckets.take("a", now=112.0) == 0.0  # one more every 12 s
    assert buckets.take("a", now=112.0) > 0
    buckets.give_back("a")
    assert buckets.take("a", now=112.0) == 0.0
    assert buckets.take("a", now=10_000.0) == 0.0  # full again, never above capacity
    assert [buckets.take("a", now=10_000.0) for _ in range(5)].count(0.0) == 4


def test_the_limiters_forget_the_least_recently_seen_key_beyond_their_size() -> None:
    buckets = TokenBuckets(capacity=1, period_s=60, max_entries=3)
    for key in "abc":
        buckets.take(key, now=0.0)
    assert buckets.take("a", now=0.0) > 0  # "a" is now the most recently seen
    buckets.take("d", now=0.0)  # forgets "b"
    assert len(buckets) == 3
    assert buckets.take("b", now=0.0) == 0.0  # a fresh bucket: it was forgotten
    assert buckets.take("a", now=0.0) > 0  # still remembered

    lockout = Lockout(failures=1, base_s=10, max_s=10, max_entries=2)
    for key in "xyz":
        lockout.failed(key, now=0.0)
    assert len(lockout) == 2
    assert lockout.locked_for("x", now=0.0) == 0.0
    assert lockout.locked_for("z", now=0.0) == 10.0


def test_a_lockout_comes_after_failures_in_a_row_and_grows_each_time() -> None:
    lockout = Lockout(failures=5, base_s=60, max_s=200)
    assert [lockout.failed("k", now=0.0) for _ in range(5)] == [0, 0, 0, 0, 60]
    assert lockout.locked_for("k", now=30.0) == 30.0
    assert lockout.locked_for("other", now=30.0) == 0.0
    assert lockout.locked_for("k", now=60.0) == 0.0  # the lock ran out
    assert [lockout.failed("k", now=61.0) for _ in range(5)] == [0, 0, 0, 0, 120]
    assert [lockout.failed("k", now=500.0) for _ in range(5)][-1] == 200  # at most max_s
    lockout.succeeded("k")  # a success forgets the failures and the past locks
    assert lockout.locked_for("k", now=500.0) == 0.0
    assert [lockout.failed("k", now=501.0) for _ in range(5)][-1] == 60
    # Failures must be in a row: a success in between starts the count again.
    for _ in range(4):
        lockout.failed("j", now=0.0)
    lockout.succeeded("j")
    assert lockout.failed("j", now=0.0) == 0.0


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after(s) for s in (0.01, 1.0, 11.2)] == ["1", "1", "12"]


# --- the real cloud ----------------------------------------------------------------------


def test_the_sixth_wrong_code_within_a_minute_gets_429(cloud: RunningCloud) -> None:
    _, installer = cloud.create_key("installer", "North")
    _, other_installer = cloud.create_key("installer", "South")
    with Screen(cloud.url) as screen, httpx.Client(base_url=cloud.url) as client:
        grant = screen.authorize()

        def approve(code: str, key: str, address: str = "192.0.2.1") -> httpx.Response:
            return client.post(
                APPROVE.format(code=code),
                json={"name": "Hall"},
                headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address},
            )

        assert [approve(code, installer).status_code for code in WRONG_CODES[:5]] == [404] * 5
        sixth = approve(WRONG_CODES[5], installer)
        assert sixth.status_code == 429
        assert 1 <= int(sixth.headers["Retry-After"]) <= 60
        assert "too many wrong codes" in sixth.json()["detail"]
        # Per key: the same key from another address is refused too...
        assert approve(WRONG_CODES[6], installer, "192.0.2.2").status_code == 429
        # ...and per address: another key from the first address as well.
        assert approve(WRONG_CODES[6], other_installer).status_code == 429
        # Elsewhere, another key still approves, and a success spends nothing.
        for _ in range(2):
            assert approve(WRONG_CODES[7], other_installer, "192.0.2.3").status_code == 404
        ok = approve(grant.user_code, other_installer, "192.0.2.3")
        assert ok.status_code == 200, ok.text


def test_five_failed_authentications_lock_the_key_for_that_address(cloud: RunningCloud) -> None:
    key_id, viewer = cloud.create_key("viewer")
    wrong_secret = viewer[:-4] + ("AAAA" if not viewer.endswith("AAAA") else "BBBB")

    def devices(key: str, address: str) -> httpx.Response:
        return httpx.get(
            f"{cloud.url}/api/v3/admin/devices",
            headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address},
        )

    # A real key's id with a wrong secret: counted against that key, from that address.
    assert [devices(wrong_secret, "198.51.100.1").status_code for _ in range(5)] == [401] * 5
    locked = devices(viewer, "198.51.100.1")  # even the right secret, now
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "60"
    assert "locked" in locked.json()["detail"]
    assert devices(viewer, "198.51.100.2").status_code == 200  # its holder elsewhere is not
    # Unknown keys from one address: that address is locked out of guessing, others not.
    guesses = [devices(f"sk_guess{n}", "198.51.100.3").status_code for n in range(6)]
    assert guesses == [401] * 5 + [429]
    assert devices(cloud.admin_key, "198.51.100.3").status_code == 200  # a real key works
    assert devices("sk_guess", "198.51.100.4").status_code == 401
    assert key_id in cloud.log()  # the lock is logged, naming the key
    assert viewer not in cloud.log()


def test_codes_per_address_are_limited_and_expired_codes_are_deleted(tmp_path: Path) -> None:
    env = {"SIGNAGE_CLOUD_AUTHORIZE_PER_MINUTE": "2"}
    with (
        running_cloud(tmp_path / "cloud", code_ttl=1, env=env) as cloud,
        Screen(cloud.url) as screen,
    ):
        grants = [screen.authorize(), screen.authorize()]
        third = screen.send("POST", f"{DEVICE_PREFIX}/authorize", data={"client_id": CLIENT_ID})
        assert (third.status_code, oauth_error(third)) == (429, "slow_down")
        assert 1 <= int(third.headers["Retry-After"]) <= 30
        assert "DPoP-Nonce" in third.headers
        other = screen.send(
            "POST",
            f"{DEVICE_PREFIX}/authorize",
            data={"client_id": CLIENT_ID},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert other.status_code == 200, other.text

        # The codes live 1 s; the cloud deletes expired ones every second or so.
        deadline = time.monotonic() + 30
        while pending_enrollments(cloud.data_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pending_enrollments(cloud.data_dir) == 0
        # A device polling its deleted code is told to get a new one, as after expiry.
        polled = screen.poll(grants[0].device_code)
        assert (polled.status_code, oauth_error(polled)) == (400, "invalid_grant")


def pending_enrollments(data_dir: Path) -> int:
    with closing(sqlite3.connect(data_dir / "cloud.db")) as db:
        return int(db.execute("SELECT count(*) FROM enrollments").fetchone()[0])
