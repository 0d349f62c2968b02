"""Whether the cloud answers: online or offline since when, last contact, last error.

`Connection` is fed by whoever talks to the cloud (enrollment, the sync loop) and keeps one
`ConnectionState`, which it saves in the store so that `signage-agent status` can tell an
outage from a quiet cloud, and from which the screen decides to say that the cloud cannot
be reached. Saving is throttled: a long-poll answering every 30 s must not rewrite the SD
card each time, but every change between online and offline is saved at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from agent.errors import StoreError
from agent.store import Meta, Store

log = logging.getLogger(__name__)

# After this many failures in a row, the screen says the cloud cannot be reached.
FAILURES_BEFORE_NOTICE = 3
# A last-contact time older than this in the store is refreshed on the next answer.
SAVE_CONTACT_EVERY_S = 15.0
MAX_ERROR_CHARS = 300


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ConnectionState:
    """What the agent knows about reaching its cloud. Times are ISO 8601, UTC, local clock."""

    online: bool | None = None  # None until the first attempt ended
    since: str | None = None  # when the current online/offline period began
    failures: int = 0  # in a row
    last_contact_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None

    @property
    def needs_notice(self) -> bool:
        """True when the screen should say that the cloud cannot be reached."""
        return self.online is False and self.failures >= FAILURES_BEFORE_NOTICE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> ConnectionState:
        if not isinstance(value, dict):
            return cls()
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError:
            return cls()


def after_success(state: ConnectionState, at: float) -> ConnectionState:
    """The state after the cloud answered at `at` (epoch seconds)."""
    since = state.since if state.online else _iso(at)
    return replace(state, online=True, since=since, failures=0, last_contact_at=_iso(at))


def after_failure(state: ConnectionState, error: str, at: float) -> ConnectionState:
    """The state after an attempt failed at `at` with `error` (one line)."""
    since = state.since if state.online is False else _iso(at)
    return replace(
        state,
        online=False,
        since=since,
        failures=state.failures + 1,
        last_error=" ".join(error.split())[:MAX_ERROR_CHARS],
        last_error_at=_iso(at),
    )


class Connection:
    """Tracks `ConnectionState`, saves it in the store, and tells `on_change` of flips."""

    def __init__(
        self,
        store: Store,
        *,
        on_change: Callable[[ConnectionState], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._on_change = on_change
        self._clock = clock
        self.state = ConnectionState.from_json(store.get_json(Meta.CONNECTION))
        self._saved_at = 0.0

    def succeeded(self) -> None:
        self._update(after_success(self.state, self._clock()))

    def failed(self, error: Exception | str) -> None:
        self._update(after_failure(self.state, str(error), self._clock()))

    def _update(self, new: ConnectionState) -> None:
        old, self.state = self.state, new
        flipped = old.online != new.online or old.needs_notice != new.needs_notice
        now = self._clock()
        if flipped or new.failures != old.failures or now - self._saved_at >= SAVE_CONTACT_EVERY_S:
            self._saved_at = now
            try:
                self._store.set_json(Meta.CONNECTION, new.to_json())
            except StoreError as exc:
                log.warning("cannot save the connection state: %s", exc)
        if flipped:
            if new.online and old.online is False:
                log.info("the cloud answers again (offline since %s)", old.since)
            self._on_change(new)


__all__ = [
    "FAILURES_BEFORE_NOTICE",
    "Connection",
    "ConnectionState",
    "after_failure",
    "after_success",
]
