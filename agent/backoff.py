"""How long to wait after consecutive failures: 1, 2, 4 … seconds, capped."""

from __future__ import annotations

MAX_BACKOFF_S = 60.0


def backoff(attempt: int, cap_s: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait after `attempt` consecutive failures: 1, 2, 4 … capped at `cap_s`."""
    return min(cap_s, 2.0 ** min(max(0, attempt - 1), 16))


__all__ = ["MAX_BACKOFF_S", "backoff"]
