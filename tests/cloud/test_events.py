"""`POST /device/events` against the real cloud with real DPoP devices: each event stored
once, a bad one refused alone, caps, attribution to the sender, heartbeats (latest wins) and
the online rule, the per-device rate limit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sync.models import (
    DEVICE_PREFIX,
    MAX_EVENTS_BATCH_BYTES,
    MAX_EVENTS_PER_BATCH,
    EventsReceipt,
)
from tests.cloud.reporting import (
    dropped,
    event_id,
    heartbeat,
    heartbeat_at,
    play,
    plays_of,
    result,
)
from tests.cloud.screen import ADMIN, PNG_1X1, Screen, answer
from tests.cloud.test_hostile_input import assert_no_traceback, assert_refused
from tests.support.cloud import RunningCloud, running_cloud


@pytest.fixture
def screen(cloud: RunningCloud) -> Iterator[Screen]:
    with Screen(cloud.url) as enrolled:
        enrolled.enroll(cloud, name="Lobby")
        yield enrolled


def every_event_once(receipt: EventsReceipt, sent: list[dict[str, object]]) -> None:
    listed = [*receipt.stored, *receipt.duplicates, *(r.id for r in receipt.refused)]
    assert sorted(listed) == sorted(str(event["id"]) for event in sent)


def test_a_batch_sent_twice_is_stored_once(cloud: RunningCloud, screen: Screen) -> None:
    batch = [play(0), play(10), heartbeat(20), dropped("play", 2)]
    first = screen.report(*batch)
    assert first.stored == [event["id"] for event in batch]
    assert (first.duplicates, first.refused) == ([], [])
    again = screen.report(*batch)
    assert again.stored == [] and again.refused == []
    assert again.duplicates == [event["id"] for event in batch]
    with cloud.admin() as admin:
        stored = plays_of(admin)
        assert sorted(p["id"] for p in stored) == sorted([batch[0]["id"], batch[1]["id"]])
        assert all(p["device_id"] == screen.device_id for p in stored)
        shown = answer(admin.get(f"{ADMIN}/devices/{screen.device_id}"))
    assert shown["dropped_events"] == {"play": 2}  # counted once, not twice


def test_an_id_twice_in_one_batch_is_stored_once(cloud: RunningCloud, screen: Screen) -> None:
    first = play(0)
    twin = {**play(60), "id": first["id"]}  # another play under the same id
    receipt = screen.report(first, twin)
    assert (receipt.stored, receipt.duplicates) == ([first["id"]], [first["id"]])
    with cloud.admin() as admin:
        stored = plays_of(admin)
    assert [(p["id"], p["started_at"]) for p in stored] == [(first["id"], "2026-05-04T22:00:00Z")]


BAD_EVENTS: list[tuple[object, str]] = [
    ({**play(0), "outcome": "lost"}, "outcome"),
    ({**play(0), "ended_at": "2026-05-04T21:00:00+00:00"}, "ended_at is before started_at"),
    ({**play(0), "started_at": "2026-05-04T22:00:00"}, "offset"),
    ({**play(0), "id": "not-a-uuid"}, "id"),
    ({**play(0), "sha256": "xyz"}, "sha256"),
    ({**play(0), "duration_ms": -1}, "duration_ms"),
    ({**play(0), "name": "two\nlines"}, "control character"),
    ({k: v for k, v in play(0).items() if k != "name"}, "name"),
    ({"type": "rumour", "id": event_id()}, "type"),
    ({"id": event_id()}, "type"),
    ({**heartbeat(0), "status": {"uptime_s": 1}}, "agent_version"),
    ({**heartbeat(0, cpu_temp_c=float("nan"))}, "cpu_temp_c"),
    ({**dropped(), "count": 0}, "count"),
    (["not", "an", "object"], "a JSON object"),
    (17, "a JSON object"),
    (result("cmd_nothing", "done"), "was not sent to this device"),
]


def test_a_bad_event_among_good_ones_is_refused_alone(cloud: RunningCloud, screen: Screen) -> None:
    good = [play(0), heartbeat(5), play(10)]
    bad = [event for event, _ in BAD_EVENTS]
    batch = [good[0], *bad[:8], good[1], *bad[8:], good[2]]
    body = json.dumps(batch, allow_nan=True)  # NaN is what a careless device would send
    response = screen.post_events(body=f'{{"events": {body}}}'.encode())
    assert response.status_code == 200, response.text
    receipt = EventsReceipt.model_validate_json(response.content)
    assert receipt.stored == [event["id"] for event in good]
    assert receipt.duplicates == []
    assert len(receipt.refused) == len(BAD_EVENTS)
    for refusal, (event, expected) in zip(receipt.refused, BAD_EVENTS, strict=True):
        sent_id = event.get("id") if isinstance(event, dict) else None
        assert refusal.id == (sent_id if isinstance(sent_id, str) else "")
        assert expected in refusal.reason, (event, refusal.reason)
        assert "\n" not in refusal.reason
    with cloud.admin() as admin:
        assert len(plays_of(admin)) == 2
    assert_no_traceback(cloud)


def test_a_refused_event_sent_again_once_valid_is_stored(screen: Screen) -> None:
    broken = {**play(0), "outcome": "lost"}
    assert screen.report(broken).refused[0].id == broken["id"]
    fixed = {**broken, "outcome": "completed"}
    assert screen.report(fixed).stored == [broken["id"]]  # a refusal left no trace


def test_batches_above_the_caps_are_refused_with_413(cloud: RunningCloud, screen: Screen) -> None:
    too_many = [play(i) for i in range(MAX_EVENTS_PER_BATCH + 1)]
    refused = screen.post_events(too_many)
    assert str(MAX_EVENTS_PER_BATCH) in assert_refused(refused, 413)
    assert screen.report(*too_many[:MAX_EVENTS_PER_BATCH]).stored == [
        event["id"] for event in too_many[:MAX_EVENTS_PER_BATCH]
    ]
    padding = "x" * MAX_EVENTS_BATCH_BYTES
    large = json.dumps({"events": [play(0)], "padding": padding}).encode()
    assert assert_refused(screen.post_events(body=large), 413)

    # Without a Content-Length (chunked), cut off as it streams in.
    def chunks() -> Iterator[bytes]:
        yield b'{"events": [], "padding": "'
        for _ in range(MAX_EVENTS_BATCH_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    path = f"{DEVICE_PREFIX}/events"
    for _attempt in range(2):
        streamed = screen.raw(
            "POST",
            path,
            content=chunks(),
            headers={
                "Authorization": f"DPoP {screen.access_token}",
                "DPoP": screen.proof("POST", path, access_token=screen.access_token),
                "Content-Type": "application/json",
            },
        )
        if streamed.status_code != 401:
            break
    assert streamed.status_code == 413, streamed.text
    with cloud.admin() as admin:
        assert len(plays_of(admin)) == MAX_EVENTS_PER_BATCH
    assert_no_traceback(cloud)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"not json", "application/json", 400),
        (b"\xff\xfe", "application/json", 400),
        (b"[]", "application/json", 400),
        (b'{"events": 5}', "application/json", 400),
        (b'{"event": []}', "application/json", 400),
        (b"[" * 100_000, "application/json", 400),
        (b'{"events": []}', "text/plain", 415),
        (b'{"events": []}', "", 415),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused(
    cloud: RunningCloud, screen: Screen, body: bytes, content_type: str, status: int
) -> None:
    response = screen.send(
        "POST",
        f"{DEVICE_PREFIX}/events",
        access_token=screen.access_token,
        content=body,
        headers={"Content-Type": content_type},
    )
    assert_refused(response, status)
    assert_no_traceback(cloud)


def test_an_empty_batch_is_an_empty_receipt(screen: Screen) -> None:
    assert screen.report() == EventsReceipt(stored=[], duplicates=[], refused=[])


def test_reports_need_the_device_and_its_key(cloud: RunningCloud, screen: Screen) -> None:
    anonymous = httpx.post(f"{cloud.url}{DEVICE_PREFIX}/events", json={"events": [play(0)]})
    assert anonymous.status_code == 401
    with Screen(cloud.url) as thief:  # the token without the key it is bound to
        thief.tokens = screen.tokens
        stolen = thief.post_events([play(0)])
    assert stolen.status_code == 401
    with cloud.admin() as admin:
        assert plays_of(admin) == []


def test_every_event_is_the_sending_devices_and_tenants(
    cloud: RunningCloud, screen: Screen
) -> None:
    other_tenant, other_key = cloud.create_tenant("Other")
    with Screen(cloud.url) as stranger:
        stranger.enroll(cloud, name="Stranger", admin_key=other_key)
        # A body naming another device or tenant changes nothing: the token decides.
        claimed = {**play(0), "device_id": screen.device_id, "tenant_id": cloud.tenant_id}
        assert stranger.report(claimed).stored == [claimed["id"]]
        # The same event id in another tenant is that tenant's own event.
        mine = {**play(30), "id": claimed["id"]}
        assert screen.report(mine).stored == [claimed["id"]]
    with cloud.admin() as admin:
        assert [(p["device_id"], p["started_at"]) for p in plays_of(admin)] == [
            (screen.device_id, "2026-05-04T22:00:30Z")
        ]
    with httpx.Client(
        base_url=cloud.url, headers={"Authorization": f"Bearer {other_key}"}
    ) as theirs:
        listed = plays_of(theirs)
        assert [p["device_id"] for p in listed] == [stranger.device_id]
        assert [p["started_at"] for p in listed] == ["2026-05-04T22:00:00Z"]
        # Another tenant's device is unknown to them, in reports too.
        not_theirs = theirs.get(
            f"{ADMIN}/reports/plays", params={"since": "2000-01-01", "device_id": screen.device_id}
        )
        assert not_theirs.status_code == 404
        assert theirs.get(f"{ADMIN}/devices/{screen.device_id}").status_code == 404
        window = {"since": "2026-05-01", "until": "2026-06-01"}
        summary = answer(theirs.get(f"{ADMIN}/reports/plays/summary", params=window))
        assert [row["plays"] for row in summary["rows"]] == [1]
    assert other_tenant != cloud.tenant_id


def test_the_latest_heartbeat_wins_by_its_time(cloud: RunningCloud, screen: Screen) -> None:
    now = datetime.now(UTC)
    older, newer, newest = (now - timedelta(minutes=m) for m in (20, 10, 0))
    screen.report(heartbeat_at(newer, agent_version="2.0"))
    late = screen.report(heartbeat_at(older, agent_version="1.0"))  # from an outbox, late
    assert late.stored  # taken, but it does not replace what is newer
    with cloud.admin() as admin:
        shown = answer(admin.get(f"{ADMIN}/devices/{screen.device_id}"))
        assert shown["status"]["status"]["agent_version"] == "2.0"
        assert datetime.fromisoformat(shown["status"]["at"]) == newer
        playing = {"name": "Spring sale", "playlist_id": "pl_none", "since": newest.isoformat()}
        screen.report(heartbeat_at(newest, agent_version="3.0", playing=playing, cpu_temp_c=51.5))
        shown = answer(admin.get(f"{ADMIN}/devices/{screen.device_id}"))
        assert shown["status"]["status"]["agent_version"] == "3.0"
        assert shown["status"]["status"]["cpu_temp_c"] == 51.5
        listed = answer(admin.get(f"{ADMIN}/devices"))
    assert [(d["id"], d["playing"], d["online"]) for d in listed] == [
        (screen.device_id, "Spring sale", True)
    ]


def test_a_heartbeat_from_far_ahead_is_refused(cloud: RunningCloud, screen: Screen) -> None:
    ahead = heartbeat_at(datetime.now(UTC) + timedelta(hours=2), agent_version="future")
    receipt = screen.report(ahead)
    assert receipt.refused[0].id == ahead["id"]
    assert "ahead of the cloud's clock" in receipt.refused[0].reason
    fine = heartbeat_at(datetime.now(UTC), agent_version="now")
    assert screen.report(fine).stored == [fine["id"]]
    with cloud.admin() as admin:
        shown = answer(admin.get(f"{ADMIN}/devices/{screen.device_id}"))
    assert shown["status"]["status"]["agent_version"] == "now"


@pytest.fixture
def strict_cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    """A cloud with a 2 s online window, and 3 batches of events and 2 attachments a minute
    per device."""
    env = {
        "SIGNAGE_CLOUD_ONLINE_WINDOW_S": "2",
        "SIGNAGE_CLOUD_EVENT_BATCHES_PER_MINUTE": "3",
        "SIGNAGE_CLOUD_ATTACHMENTS_PER_MINUTE": "2",
    }
    with running_cloud(tmp_path / "strict", env=env) as running:
        yield running


def online(cloud: RunningCloud, device_id: str) -> bool:
    with cloud.admin() as admin:
        listed = {d["id"]: d["online"] for d in answer(admin.get(f"{ADMIN}/devices"))}
        shown = answer(admin.get(f"{ADMIN}/devices/{device_id}"))["online"]
    assert listed[device_id] == shown
    return bool(shown)


def test_online_while_heard_from_or_holding_a_long_poll(strict_cloud: RunningCloud) -> None:
    cloud = strict_cloud
    with Screen(cloud.url) as screen:
        screen.enroll(cloud)
        assert not online(cloud, screen.device_id)  # enrolled, but no request with a token yet
        screen.report(heartbeat(0))
        assert online(cloud, screen.device_id)
        time.sleep(3.2)
        assert not online(cloud, screen.device_id)

        _, cursor = screen.listing()
        time.sleep(3.2)
        held: list[int] = []
        thread = threading.Thread(
            target=lambda: held.append(screen.get_state(cursor, wait=8).status_code)
        )
        thread.start()
        try:
            time.sleep(3.5)  # past the window since the request was made: still held
            assert online(cloud, screen.device_id)
        finally:
            thread.join()
        assert held == [204]
        time.sleep(3.2)
        assert not online(cloud, screen.device_id)


def test_batches_of_events_are_limited_per_device(strict_cloud: RunningCloud) -> None:
    cloud = strict_cloud
    with Screen(cloud.url) as first, Screen(cloud.url) as second:
        first.enroll(cloud, name="First")
        second.enroll(cloud, name="Second")
        for index in range(3):
            first.report(play(index))
        refused = first.post_events([play(9)])
        assert "at most 3 a minute" in assert_refused(refused, 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert second.report(play(0)).stored  # another device has its own limit

        with cloud.admin() as admin:
            shot = answer(
                admin.post(
                    f"{ADMIN}/commands", json={"kind": "screenshot", "device_id": first.device_id}
                )
            )["id"]
        for _ in range(2):
            assert first.put_attachment(shot, PNG_1X1).status_code == 200
        too_often = first.put_attachment(shot, PNG_1X1)
        assert "at most 2 a minute" in assert_refused(too_often, 429)
    assert_no_traceback(cloud)
