"""The decision in force: evaluating the schedule without ever failing, and what `status`
shows of it (the agent's `ScheduleRunner` and `signage-agent status` share both)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from agent.clock import Reading
from player.schedule import Decision, Reason, ScheduleState, evaluate

log = logging.getLogger(__name__)

# After evaluation failed (a bug), the default playlist plays and evaluation is retried then.
RETRY_AFTER_FAILURE = timedelta(seconds=60)


def fallback(state: ScheduleState, now: datetime, error: Exception) -> Decision:
    """What plays when evaluation itself failed: the device's default playlist, whole, so
    that a bug in the schedule never darkens the screen; evaluation is tried again soon."""
    playlist = state.playlists.get(state.device.playlist_id or "")
    return Decision(
        playlist_id=playlist.id if playlist else None,
        items=tuple(playlist.items) if playlist else (),
        reason=Reason.DEVICE_DEFAULT if playlist else Reason.NOTHING,
        source_id=state.device.id,
        why=f"the schedule could not be evaluated ({type(error).__name__}: {error}); "
        "playing the default playlist",
        on_switch="cut",
        next_boundary=now + RETRY_AFTER_FAILURE,
    )


def decision_summary(
    decision: Decision | None, reading: Reading, playlist_name: str | None
) -> dict[str, Any]:
    """What `status` shows of a decision (JSON)."""
    if decision is None:
        return {
            "playlist_id": None,
            "playlist": None,
            "reason": Reason.NOTHING.value,
            "why": "the device's record has not arrived yet",
            "next_boundary": None,
            "clock": reading.source.value,
            "warnings": [],
        }
    boundary = decision.next_boundary
    return {
        "playlist_id": decision.playlist_id,
        "playlist": playlist_name,
        "reason": decision.reason.value,
        "source_id": decision.source_id,
        "why": decision.why,
        "on_switch": decision.on_switch,
        "next_boundary": boundary.isoformat(timespec="milliseconds") if boundary else None,
        "clock": reading.source.value,
        "warnings": list(decision.warnings),
    }


def evaluate_safely(state: ScheduleState, now: datetime) -> Decision:
    """`evaluate`, or `fallback` should it fail."""
    try:
        return evaluate(state, now)
    except Exception as exc:
        log.debug("schedule evaluation failed", exc_info=True)
        return fallback(state, now, exc)


__all__ = ["RETRY_AFTER_FAILURE", "decision_summary", "evaluate_safely", "fallback"]
