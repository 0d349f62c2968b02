"""Factories of the events a device reports, as JSON objects (what goes on the wire)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.cloud.screen import ADMIN, answer

T0 = datetime(2026, 5, 4, 22, 0, tzinfo=UTC)  # a Monday evening, UTC
SHA = "ab" * 32


def event_id() -> str:
    return str(uuid.uuid4())


def at(seconds: float) -> str:
    """`T0` plus `seconds`, as the ISO text a device sends."""
    return (T0 + timedelta(seconds=seconds)).isoformat()


def play(
    start_s: float = 0,
    seconds: float = 10,
    *,
    outcome: str = "completed",
    asset_id: str | None = "ast_1",
    sha256: str = SHA,
    name: str = "clip.mp4",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "type": "play",
        "id": event_id(),
        "asset_id": asset_id,
        "sha256": sha256,
        "name": name,
        "playlist_id": "pl_1",
        "schedule_reason": "device default",
        "schedule_source": "dev_1",
        "started_at": at(start_s),
        "ended_at": at(start_s + seconds),
        "duration_ms": round(seconds * 1000),
        "outcome": outcome,
        **fields,
    }


def status(**fields: Any) -> dict[str, Any]:
    return {"agent_version": "1.2.3", "uptime_s": 42.0, **fields}


def heartbeat(at_s: float, **status_fields: Any) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "id": event_id(),
        "at": at(at_s),
        "status": status(**status_fields),
    }


def heartbeat_at(moment: datetime, **status_fields: Any) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "id": event_id(),
        "at": moment.isoformat(),
        "status": status(**status_fields),
    }


def result(
    command_id: str, state: str, *, detail: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "type": "command_result",
        "id": event_id(),
        "command_id": command_id,
        "at": datetime.now(UTC).isoformat(),
        "state": state,
        "detail": detail,
        **fields,
    }


def dropped(what: str = "heartbeat", count: int = 3) -> dict[str, Any]:
    return {"type": "dropped", "id": event_id(), "at": at(0), "what": what, "count": count}


def plays_of(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """Every play the admin API lists for `params` (since defaults to the year 2000)."""
    query = {"since": "2000-01-01", **params}
    found: list[dict[str, Any]] = []
    while True:
        page = answer(admin.get(f"{ADMIN}/reports/plays", params=query))
        found += page["plays"]
        if page["next"] is None:
            return found
        query["after"] = page["next"]


def send_command(admin: httpx.Client, kind: str, **fields: Any) -> dict[str, Any]:
    """`POST /commands` that must succeed; the CommandDetail."""
    result_: dict[str, Any] = answer(admin.post(f"{ADMIN}/commands", json={"kind": kind, **fields}))
    return result_


def show_command(admin: httpx.Client, command_id: str, **params: Any) -> dict[str, Any]:
    """`GET /commands/{id}` (with `wait=` held that long, and allowed 10 s more)."""
    timeout = float(params.get("wait", 0)) + 10
    response = admin.get(f"{ADMIN}/commands/{command_id}", params=params, timeout=timeout)
    detail: dict[str, Any] = answer(response)
    return detail


def states(detail: dict[str, Any]) -> dict[str, str]:
    """{device id: its state} of a CommandDetail."""
    return {outcome["device_id"]: outcome["state"] for outcome in detail["devices"]}
