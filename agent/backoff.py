"""How long to wait after consecutive failures: 1, 2, 4 … seconds, capped.

`jittered` spreads the wait uniformly below that ("full jitter"), so that a thousand screens
that lost their cloud at the same moment do not all come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable

MAX_BACKOFF_S = 60.0


def backoff(attempt: int, cap_s: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait after `attempt` consecutive failures: 1, 2, 4 … capped at `cap_s`."""
    return min(cap_s, 2.0 ** min(max(0, attempt - 1), 16))


def jittered(attempt: int, cap_s: float = MAX_BACKOFF_S,
             rng: Callable[[], float] = random.random) -> float:  # fmt: skip
    """A wait drawn uniformly from [0, backoff(attempt)), at least 0.1 s."""
    return max(0.1, rng() * backoff(attempt, cap_s))


__all__ = ["MAX_BACKOFF_S", "backoff", "jittered"]
