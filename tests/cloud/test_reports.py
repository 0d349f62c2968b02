"""Proof-of-play reports through the admin API: pages in a stable order that never overlap
or skip, filters, and the summary's exact figures per asset and day."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cloud.reporting import play, plays_of
from tests.cloud.screen import ADMIN, PNG_1X1, Screen, answer, create_group, upload
from tests.cloud.test_hostile_input import assert_no_traceback, assert_refused
from tests.support.cloud import RunningCloud

PLAYS = f"{ADMIN}/reports/plays"
SUMMARY = f"{ADMIN}/reports/plays/summary"


@pytest.fixture
def pair(cloud: RunningCloud) -> Iterator[tuple[Screen, Screen]]:
    with Screen(cloud.url) as first, Screen(cloud.url) as second:
        first.enroll(cloud, name="First")
        second.enroll(cloud, name="Second")
        yield first, second


def order(plays: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["started_at"], p["id"]) for p in plays]


def test_pages_list_every_play_once_in_a_stable_order(
    cloud: RunningCloud, pair: tuple[Screen, Screen]
) -> None:
    first, second = pair
    # Several plays start at the same instant: the event id orders them.
    first.report(*(play(start) for start in (0, 10, 10, 10, 20, 30, 40, 50, 60, 70)))
    second.report(*(play(start) for start in (5, 10, 15, 25, 35)))
    with cloud.admin() as admin:
        everything = plays_of(admin)
        assert len(everything) == 15
        assert order(everything) == sorted(order(everything))
        assert {p["device_name"] for p in everything} == {"First", "Second"}

        pages = []
        query: dict[str, Any] = {"since": "2026-05-04", "limit": 4}
        while True:
            page = answer(admin.get(PLAYS, params=query))
            assert len(page["plays"]) <= 4
            pages.append(page["plays"])
            if len(pages) == 1:
                # Reported while the admin pages: an earlier play, after the first page.
                second.report(play(1))
            if page["next"] is None:
                break
            query["after"] = page["next"]
        paged = [p for page in pages for p in page]
        assert len(pages) == 4 and [len(page) for page in pages] == [4, 4, 4, 3]
        assert order(paged) == order(everything)  # the late, earlier play is not in them
        assert len(plays_of(admin)) == 16  # a fresh listing has it
        # A full page with nothing after it still says so at once.
        exact = answer(admin.get(PLAYS, params={"since": "2026-05-04", "limit": 16}))
        assert (len(exact["plays"]), exact["next"]) == (16, None)


def test_filters_and_bounds(cloud: RunningCloud, pair: tuple[Screen, Screen]) -> None:
    first, second = pair
    first.report(play(0, asset_id="ast_a"), play(60, asset_id="ast_b"), play(120, asset_id="ast_a"))
    second.report(play(30, asset_id="ast_a"), play(90, asset_id=None))
    with cloud.admin() as admin:
        group = create_group(admin, "Only the first", first.device_id)

        def starts(**params: Any) -> list[str]:
            return [p["started_at"][11:19] for p in plays_of(admin, **params)]

        assert starts(device_id=first.device_id) == ["22:00:00", "22:01:00", "22:02:00"]
        assert starts(group_id=group) == ["22:00:00", "22:01:00", "22:02:00"]
        assert starts(asset_id="ast_a") == ["22:00:00", "22:00:30", "22:02:00"]
        # since inclusive, until exclusive, on the start; any offset
        assert starts(since="2026-05-04T22:00:30Z", until="2026-05-05T00:02:00+02:00") == [
            "22:00:30",
            "22:01:00",
            "22:01:30",
        ]
        assert starts(since="2026-05-05") == []
        skipped = plays_of(admin, device_id=second.device_id)[1]
        assert (skipped["asset_id"], skipped["device_id"]) == (None, second.device_id)

        def refused(status: int, **params: Any) -> str:
            return assert_refused(admin.get(PLAYS, params=params), status)

        assert "since" in refused(422)
        assert "since" in refused(422, since="yesterday")
        assert "offset" in refused(422, since="2026-05-04T22:00:00")
        assert "empty" in refused(422, since="2026-05-04", until="2026-05-04")
        assert "not both" in refused(422, since="2026-05-04", device_id="d", group_id="g")
        assert "limit" in refused(422, since="2026-05-04", limit=1001)
        assert "limit" in refused(422, since="2026-05-04", limit=0)
        assert "cursor" in refused(422, since="2026-05-04", after="2026-05-04~x")
        assert "no device" in refused(404, since="2026-05-04", device_id="dev_0")
        assert "no group" in refused(404, since="2026-05-04", group_id="grp_0")
        assert "since" in refused(422, since="x" * 41)
        for far in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-06-01"):
            assert "outside the years" in refused(422, since=far)
            assert "outside the years" in refused(422, since="2026-05-04", until=far)
        assert refused(422, since="2026-05-04", after="x" * 201)
    assert_no_traceback(cloud)


def test_the_summary_adds_up_plays_per_asset_and_day(
    cloud: RunningCloud, pair: tuple[Screen, Screen]
) -> None:
    first, second = pair
    with cloud.admin() as admin:
        asset = upload(admin, "spring.png", PNG_1X1, "image/png")
    sale = {"asset_id": asset["id"], "sha256": asset["sha256"], "name": "spring.png"}
    news = {"asset_id": "ast_gone", "sha256": "cd" * 32, "name": "news.mp4"}
    # 2026-05-04 from 22:00 UTC; 7200 s later is the next day.
    first.report(
        play(0, 10, **sale),
        play(10, 4, outcome="cut", **sale),
        play(14, 0, outcome="skipped", **sale),
        play(20, 1.5, outcome="failed", detail="codec", **sale),
        play(7195, 10, **sale),  # starts 23:59:55, ends the next day: counts on the 4th
        play(7200, 3, outcome="interrupted", **sale),
        play(7300, 15, **news),
    )
    second.report(play(30, 10, **sale), play(7400, 15, **news))
    with cloud.admin() as admin:
        renamed = admin.patch(f"{ADMIN}/assets/{asset['id']}", json={"name": "Spring sale"})
        assert renamed.status_code == 200
        summary = answer(admin.get(SUMMARY, params={"since": "2026-05-04", "until": "2026-05-06"}))
        rows = [
            {key: row[key] for key in ("day", "asset_id", "name", "plays", "seconds", "devices")}
            | {
                "outcomes": [
                    row[o] for o in ("completed", "cut", "interrupted", "skipped", "failed")
                ]
            }
            for row in summary["rows"]
        ]
        assert rows == [
            {
                "day": "2026-05-04",
                "asset_id": asset["id"],
                "name": "Spring sale",  # its name now
                "plays": 4,  # 3 completed (one of the second screen) + 1 cut
                "seconds": 35.5,  # 10 + 4 + 0 + 1.5 + 10 + 10
                "devices": 2,
                "outcomes": [3, 1, 0, 1, 1],
            },
            {
                "day": "2026-05-05",
                "asset_id": asset["id"],
                "name": "Spring sale",
                "plays": 0,
                "seconds": 3.0,
                "devices": 1,
                "outcomes": [0, 0, 1, 0, 0],
            },
            {
                "day": "2026-05-05",
                "asset_id": "ast_gone",
                "name": "news.mp4",  # not the tenant's (any more): as reported
                "plays": 2,
                "seconds": 30.0,
                "devices": 2,
                "outcomes": [2, 0, 0, 0, 0],
            },
        ]
        assert (summary["since"], summary["until"]) == (
            "2026-05-04T00:00:00Z",
            "2026-05-06T00:00:00Z",
        )
        mine = answer(
            admin.get(
                SUMMARY,
                params={
                    "since": "2026-05-04",
                    "until": "2026-05-06",
                    "device_id": second.device_id,
                },
            )
        )
        assert [(r["day"], r["plays"], r["seconds"]) for r in mine["rows"]] == [
            ("2026-05-04", 1, 10.0),
            ("2026-05-05", 1, 15.0),
        ]
        one_day = answer(admin.get(SUMMARY, params={"since": "2026-05-05", "until": "2026-05-06"}))
        assert [r["asset_id"] for r in one_day["rows"]] == [asset["id"], "ast_gone"]
        too_long = admin.get(SUMMARY, params={"since": "2025-01-01", "until": "2026-05-06"})
        assert "366 days" in assert_refused(too_long, 422)
