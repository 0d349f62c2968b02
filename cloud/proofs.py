"""Checking DPoP proofs on arrival: server nonces, replay of `jti`, and the proof itself.

Nonces are stateless (RFC 9449 §8): `base64url(timestamp || HMAC-SHA256(secret, timestamp))`
with the timestamp in milliseconds of the server's clock. A nonce is accepted for
`NONCE_TTL_S` seconds after it was minted, and never if it was minted before this process
started: the replay cache lives in memory, so refusing older nonces is what keeps a proof
captured before a restart from being played again after it. A device then simply retries
with the nonce it is handed.

The replay cache remembers each proof's `jti` until its nonce stops being accepted; after
that the proof is refused for its nonce anyway. It is bounded: when full, the entries
closest to expiry go first. Proofs are checked in worker threads, so it takes a lock.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from cloud.errors import ProofRejected
from cloud.settings import NONCE_TTL_S
from sync.dpop import VerifiedProof, verify_proof
from sync.errors import DPoPError
from sync.identity import b64url, b64url_decode
from sync.models import ErrorCode

log = logging.getLogger(__name__)

USE_DPOP_NONCE = ErrorCode.USE_DPOP_NONCE
INVALID_DPOP_PROOF = ErrorCode.INVALID_DPOP_PROOF

_TIMESTAMP = struct.Struct(">Q")
_MAC_SIZE = hashlib.sha256().digest_size


def _milliseconds(seconds: float) -> int:
    return int(seconds * 1000)


class NonceIssuer:
    def __init__(
        self,
        secret: bytes,
        *,
        ttl_s: int = NONCE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._started_at_ms = _milliseconds(clock())

    def _mac(self, timestamp: bytes) -> bytes:
        return hmac.new(self._secret, timestamp, hashlib.sha256).digest()

    def current(self) -> str:
        timestamp = _TIMESTAMP.pack(_milliseconds(self._clock()))
        return b64url(timestamp + self._mac(timestamp))

    def minted_at(self, nonce: str | None) -> float | None:
        """When `nonce` was minted (epoch seconds) if ours and still accepted, else None."""
        if not nonce or len(nonce) > 128:
            return None
        try:
            raw = b64url_decode(nonce)
        except ValueError:
            return None
        if len(raw) != _TIMESTAMP.size + _MAC_SIZE:
            return None
        timestamp, mac = raw[: _TIMESTAMP.size], raw[_TIMESTAMP.size :]
        if not hmac.compare_digest(mac, self._mac(timestamp)):
            return None
        (minted_ms,) = _TIMESTAMP.unpack(timestamp)
        age_ms = _milliseconds(self._clock()) - minted_ms
        if minted_ms < self._started_at_ms or not 0 <= age_ms <= self._ttl_s * 1000:
            return None
        return minted_ms / 1000

    def expires_at(self, minted: float) -> float:
        return minted + self._ttl_s


class ReplayCache:
    """The `jti`s seen recently, each until its nonce expires."""

    def __init__(self, *, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def seen_before(self, key: str, *, keep_until: float, now: float) -> bool:
        """Record `key`; True if it was already recorded and has not expired."""
        with self._lock:
            return self._seen_before(key, keep_until=keep_until, now=now)

    def _seen_before(self, key: str, *, keep_until: float, now: float) -> bool:
        # Entries arrive in nonce order, which is close to expiry order.
        while self._entries:
            oldest_key, oldest_expiry = next(iter(self._entries.items()))
            if oldest_expiry > now:
                break
            del self._entries[oldest_key]
        expiry = self._entries.get(key)
        if expiry is not None and expiry > now:
            return True
        self._entries[key] = keep_until
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
            log.warning(
                "DPoP replay cache is full (%d proofs in %d s): dropping the oldest entries; "
                "a client is sending proofs unusually fast",
                self._max_entries,
                NONCE_TTL_S,
            )
        return False


class ProofChecker:
    """Verifies the `DPoP` header of a request, including nonce and replay."""

    def __init__(
        self,
        nonces: NonceIssuer,
        replays: ReplayCache,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.nonces = nonces
        self._replays = replays
        self._clock = clock

    def check(
        self,
        proof: str | None,
        *,
        method: str,
        url: str,
        access_token: str | None = None,
    ) -> VerifiedProof:
        """The verified proof; raises `ProofRejected` with the OAuth error code to answer."""
        if not proof:
            raise ProofRejected(INVALID_DPOP_PROOF, "the DPoP header with a proof is missing")
        if not proof.isascii():  # a JWT is base64url and dots
            raise ProofRejected(INVALID_DPOP_PROOF, "the DPoP proof is not ASCII")
        # verify_proof asks about the nonce only once every other check passed.
        nonce_asked: list[float | None] = []

        def nonce_is_valid(nonce: str | None) -> bool:
            minted = self.nonces.minted_at(nonce)
            nonce_asked.append(minted)
            return minted is not None

        try:
            verified = verify_proof(
                proof,
                method=method,
                url=url,
                access_token=access_token,
                nonce_is_valid=nonce_is_valid,
            )
        except DPoPError as exc:
            if nonce_asked == [None]:
                raise ProofRejected(
                    USE_DPOP_NONCE, "the proof needs the server's current DPoP-Nonce"
                ) from exc
            raise ProofRejected(INVALID_DPOP_PROOF, str(exc)) from exc
        minted = nonce_asked[0]
        assert minted is not None  # verify_proof returned, so the nonce was accepted
        replay_key = f"{verified.jkt}:{verified.jti}"
        keep_until = self.nonces.expires_at(minted)
        if self._replays.seen_before(replay_key, keep_until=keep_until, now=self._clock()):
            raise ProofRejected(INVALID_DPOP_PROOF, "this DPoP proof was already used (jti)")
        return verified


__all__ = [
    "INVALID_DPOP_PROOF",
    "USE_DPOP_NONCE",
    "NonceIssuer",
    "ProofChecker",
    "ReplayCache",
]
