"""Proof of play for admins: the plays devices reported, in pages, and a summary per day.

`plays` lists play events in a stable order, by `started_at` then event id, in pages of at
most `MAX_REPORT_PAGE`: a page's `next` names the last event it holds, and the next page
starts after it, so pages never overlap or skip an event, even while devices keep reporting
(a late report of an earlier play shows up in a later listing, not in pages already read).

`summary` adds plays up per asset and day (UTC, by when each play started): `plays` counts
the items that were on screen (completed, or cut by a switch), the other outcomes are
counted on their own, and `seconds` adds up the durations of every play event (what was on
screen, however it ended). An advertiser's question, "how often and how long was my clip
shown last week", is one row per day.

Filters: a device (removed ones too: their reports outlive them), a group (its members
now), an asset (as reported); `since` is inclusive and `until` exclusive, on `started_at`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cloud.admin_models import (
    MAX_SUMMARY_DAYS,
    PlayRecord,
    PlayReport,
    PlaySummary,
    PlaySummaryRow,
)
from cloud.devices import no_device
from cloud.errors import Unprocessable
from cloud.groups import no_group
from cloud.store import Database, Row
from cloud.views import instant_text
from sync.models import EVENT_ID_PATTERN, MAX_YEAR, MIN_YEAR

_INSTANT_TEXT = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00"
_CURSOR = re.compile(f"({_INSTANT_TEXT})~({EVENT_ID_PATTERN.strip('^$')})")
_MAX_WHEN_CHARS = 40


def parse_when(text: str, what: str) -> datetime:
    """An instant of a report's query: an ISO date-time with an offset, or a date (its
    midnight, UTC). Unprocessable naming `what` otherwise."""
    text = text.strip()
    try:
        if len(text) > _MAX_WHEN_CHARS:
            raise ValueError
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unprocessable(
            f"{what} {text[:_MAX_WHEN_CHARS]!r} is not an ISO date or date-time, e.g. "
            "2026-05-01 or 2026-05-01T08:00:00Z"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Unprocessable(
            f"{what} {text!r} has no UTC offset: add one (2026-05-01T08:00:00Z), or give a date"
        )
    if not MIN_YEAR <= moment.year <= MAX_YEAR:  # the contract's years: never an overflow
        raise Unprocessable(f"{what} {text!r} is outside the years {MIN_YEAR} to {MAX_YEAR}")
    return moment


def cursor_of(row: Row) -> str:
    return f"{row['started_at']}~{row['id']}"


class Reports:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _filters(
        self,
        tenant_id: str,
        *,
        device_id: str | None,
        group_id: str | None,
        asset_id: str | None,
        since: datetime,
        until: datetime | None,
    ) -> tuple[str, dict[str, Any]]:
        """The WHERE clause over `play_events p` and its parameters; 404 for an unknown
        device or group, 422 for both or a window that is empty."""
        if device_id is not None and group_id is not None:
            raise Unprocessable("give device_id or group_id, not both")
        if until is not None and until <= since:
            raise Unprocessable("until is not after since: the window is empty")
        where = "p.tenant_id = :tenant AND p.started_at >= :since"
        params: dict[str, Any] = {"tenant": tenant_id, "since": instant_text(since)}
        if until is not None:
            where += " AND p.started_at < :until"
            params["until"] = instant_text(until)
        if device_id is not None:
            if not self._db.one(
                "SELECT id FROM devices WHERE tenant_id = ? AND id = ?", (tenant_id, device_id)
            ):
                raise no_device(device_id)
            where += " AND p.device_id = :device"
            params["device"] = device_id
        if group_id is not None:
            if not self._db.one(
                "SELECT id FROM groups WHERE tenant_id = ? AND id = ?", (tenant_id, group_id)
            ):
                raise no_group(group_id)
            where += (
                " AND p.device_id IN (SELECT device_id FROM group_members"
                " WHERE tenant_id = :tenant AND group_id = :group)"
            )
            params["group"] = group_id
        if asset_id is not None:
            where += " AND p.asset_id = :asset"
            params["asset"] = asset_id
        return where, params

    def plays(
        self,
        *,
        tenant_id: str,
        since: datetime,
        until: datetime | None = None,
        device_id: str | None = None,
        group_id: str | None = None,
        asset_id: str | None = None,
        limit: int,
        after: str | None = None,
    ) -> PlayReport:
        """A page of play events (see the module docstring)."""
        with self._db.read():
            where, params = self._filters(
                tenant_id,
                device_id=device_id,
                group_id=group_id,
                asset_id=asset_id,
                since=since,
                until=until,
            )
            if after is not None:
                found = _CURSOR.fullmatch(after)
                if found is None:
                    raise Unprocessable(
                        "after is not a cursor this cloud gave out: pass the `next` of a page"
                    )
                where += " AND (p.started_at, p.id) > (:after_start, :after_id)"
                params |= {"after_start": found.group(1), "after_id": found.group(2)}
            rows = self._db.all(
                "SELECT p.*, d.name AS device_name FROM play_events p JOIN devices d"  # noqa: S608 - our own clauses
                f" ON d.tenant_id = p.tenant_id AND d.id = p.device_id WHERE {where}"
                " ORDER BY p.started_at, p.id LIMIT :limit",
                {**params, "limit": limit + 1},
            )
        page = rows[:limit]
        return PlayReport(
            plays=[PlayRecord.model_validate(row) for row in page],
            next=cursor_of(page[-1]) if len(rows) > limit else None,
        )

    def summary(
        self,
        *,
        tenant_id: str,
        since: datetime,
        until: datetime | None = None,
        device_id: str | None = None,
        group_id: str | None = None,
        asset_id: str | None = None,
    ) -> PlaySummary:
        """Plays per asset and UTC day (see the module docstring); at most a year at once."""
        if until is None:
            until = datetime.fromtimestamp(self._clock(), UTC)
        if until - since > timedelta(days=MAX_SUMMARY_DAYS):
            raise Unprocessable(
                f"a summary covers at most {MAX_SUMMARY_DAYS} days: narrow since..until"
            )
        with self._db.read():
            where, params = self._filters(
                tenant_id,
                device_id=device_id,
                group_id=group_id,
                asset_id=asset_id,
                since=since,
                until=until,
            )
            rows = self._db.all(
                "SELECT s.*, COALESCE(a.name, s.reported_name) AS name FROM ("  # noqa: S608 - our own clauses
                " SELECT substr(p.started_at, 1, 10) AS day, p.asset_id, p.sha256,"
                " MAX(p.name) AS reported_name,"
                " SUM(p.outcome IN ('completed', 'cut')) AS plays,"
                " SUM(p.outcome = 'completed') AS completed, SUM(p.outcome = 'cut') AS cut,"
                " SUM(p.outcome = 'interrupted') AS interrupted,"
                " SUM(p.outcome = 'skipped') AS skipped, SUM(p.outcome = 'failed') AS failed,"
                " SUM(p.duration_ms) / 1000.0 AS seconds,"
                " COUNT(DISTINCT p.device_id) AS devices"
                f" FROM play_events p WHERE {where} GROUP BY day, p.asset_id, p.sha256) AS s"
                " LEFT JOIN assets a ON a.tenant_id = :tenant AND a.id = s.asset_id"
                " ORDER BY s.day, s.asset_id, s.sha256",
                params,
            )
        return PlaySummary(
            since=since,
            until=until,
            rows=[PlaySummaryRow.model_validate(row) for row in rows],
        )


__all__ = ["Reports", "cursor_of", "parse_when"]
