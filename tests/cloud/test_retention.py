"""What the cloud keeps, and for how long: play events (SIGNAGE_CLOUD_PLAY_RETENTION_S) and
commands with their results and attachments (SIGNAGE_CLOUD_COMMAND_RETENTION_S) are deleted
once older, in small transactions. In-process with a hand-moved clock (the cloud's parts over
one database, `tests.cloud.test_views.make_fleet`), and once through the real server's task."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud import commands as commands_module
from cloud import events as events_module
from cloud.admin_models import NewCommand
from cloud.errors import ConfigError, NotFound
from cloud.reports import Reports
from cloud.settings import (
    DEFAULT_COMMAND_NOTICE_S,
    DEFAULT_COMMAND_RETENTION_S,
    DEFAULT_PLAY_RETENTION_S,
    Settings,
)
from tests.cloud.reporting import T0, play, plays_of, result, send_command, show_command
from tests.cloud.screen import ADMIN, PNG_1X1, Screen
from tests.cloud.test_views import START, Fleet, make_fleet
from tests.support.agent import wait_until
from tests.support.cloud import running_cloud

DAY_S = 86_400


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = make_fleet(tmp_path / "cloud.db")
    try:
        yield made
    finally:
        made.db.close()


def commits_during(fleet: Fleet) -> list[str]:
    """The statements this thread's connection runs from now on (to count transactions)."""
    statements: list[str] = []
    fleet.db.sqlite.conn.set_trace_callback(statements.append)
    return statements


def store_events(fleet: Fleet, device: str, *events: dict[str, Any]) -> Any:
    return fleet.events.store(tenant_id=fleet.tenant_id, device_id=device, events=list(events))


def test_play_events_older_than_their_retention_go_with_their_ids(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "PLAYS_PER_BATCH", 3)
    device = fleet.device("Lobby")
    old = [play(start_s) for start_s in range(0, 70, 10)]  # 7 plays, T0 to T0 + 60 s
    recent = [play(start_s) for start_s in (200, 210)]
    assert len(store_events(fleet, device, *old, *recent).stored) == 9
    keep_s = round(START - (T0.timestamp() + 100))  # the cut falls between the two sets

    statements = commits_during(fleet)
    assert fleet.events.forget_old_plays(keep_s=keep_s) == 7
    # 3 + 3 + 1, and the look that found nothing: each batch in a transaction of its own
    assert statements.count("COMMIT") == 4, statements
    reports = Reports(fleet.db, clock=fleet.clock)
    listed = reports.plays(tenant_id=fleet.tenant_id, since=T0, limit=100)
    assert [p.id for p in listed.plays] == [p["id"] for p in recent]
    # The ids went with the rows: sent again, an old play is new to the cloud (and goes on the
    # next run); a recent one is still a duplicate.
    again = store_events(fleet, device, old[0], recent[0])
    assert (again.stored, again.duplicates) == ([old[0]["id"]], [recent[0]["id"]])
    assert fleet.events.forget_old_plays(keep_s=keep_s) == 1
    assert fleet.events.forget_old_plays(keep_s=keep_s) == 0


def test_commands_are_kept_through_their_notice_then_for_their_retention(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands_module, "ATTACHMENTS_PER_BATCH", 1)
    monkeypatch.setattr(commands_module, "ROWS_PER_BATCH", 2)
    tenant = fleet.tenant_id
    devices = [fleet.device(name) for name in ("A", "B", "C")]
    group = fleet.groups.create(tenant_id=tenant, name="All").id
    fleet.groups.change_members(tenant_id=tenant, group_id=group, add=devices, remove=[])

    def send(kind: str, expires_in_s: int) -> str:
        command = NewCommand(kind=kind, group_id=group, expires_in_s=expires_in_s)
        return fleet.commands.send(tenant_id=tenant, command=command, notice_s=DAY_S).id

    shot = send("screenshot", 60)
    unanswered = send("sync-now", 60)
    answered = []
    for device in devices:
        fleet.commands.attach(
            tenant_id=tenant,
            device_id=device,
            command_id=shot,
            content_type="image/png",
            data=PNG_1X1,
        )
        event = result(shot, "done", attachment=True)
        answered.append(event)
        assert store_events(fleet, device, event).stored == [event["id"]]
    keep_s = 3600

    # Past the expiry and the retention, but within the notice: a screen may still answer,
    # so the commands stay; the ids of results received that long ago go (a result sent
    # again is then refused as a second answer, no longer a duplicate).
    fleet.clock.now = START + 60 + keep_s + 1
    assert fleet.commands.forget_old(keep_s=keep_s) == 0
    assert fleet.commands.show(tenant_id=tenant, command_id=unanswered).expired
    again = store_events(fleet, devices[0], answered[0])
    assert again.duplicates == [] and "already answered" in again.refused[0].reason
    late = send("identify", 3 * DAY_S)  # sent now: kept long after the others

    fleet.clock.now = START + 60 + DAY_S  # the notice ended: the devices are told
    assert fleet.commands.purge_expired() == 2
    statements = commits_during(fleet)
    assert fleet.commands.forget_old(keep_s=keep_s) == 2
    # One attachment per transaction (3), then 2 results at a time (6 rows: 3), the commands
    # going with their last results, the look that found nothing; then the look for result
    # ids (gone already).
    assert statements.count("COMMIT") == 3 + 3 + 1 + 1, statements
    for command in (shot, unanswered):
        with pytest.raises(NotFound):
            fleet.commands.show(tenant_id=tenant, command_id=command)
    for table in ("command_attachments", "command_targets"):
        rows = fleet.db.all(f"SELECT command_id FROM {table}")
        assert {row["command_id"] for row in rows} <= {late}, table
    assert len(fleet.commands.show(tenant_id=tenant, command_id=late).devices) == 3
    # A result sent again after its command went is refused as not sent.
    again = store_events(fleet, devices[1], answered[1])
    assert again.duplicates == [] and "was not sent" in again.refused[0].reason
    assert fleet.commands.forget_old(keep_s=keep_s) == 0


def test_the_notice_and_the_retention_are_settings_within_bounds() -> None:
    defaults = Settings.from_env(data_dir=Path("x"), environ={})
    assert (defaults.command_notice_s, defaults.play_retention_s) == (7 * DAY_S, 400 * DAY_S)
    assert defaults.command_retention_s == 30 * DAY_S
    assert (DEFAULT_COMMAND_NOTICE_S, DEFAULT_PLAY_RETENTION_S, DEFAULT_COMMAND_RETENTION_S) == (
        7 * DAY_S,
        400 * DAY_S,
        30 * DAY_S,
    )
    chosen = Settings.from_env(
        data_dir=Path("x"),
        environ={
            "SIGNAGE_CLOUD_COMMAND_NOTICE_S": "60",
            "SIGNAGE_CLOUD_PLAY_RETENTION_S": "31622400",
            "SIGNAGE_CLOUD_COMMAND_RETENTION_S": "5",
        },
    )
    assert (chosen.command_notice_s, chosen.play_retention_s, chosen.command_retention_s) == (
        60,
        31_622_400,
        5,
    )
    for name, value in (
        ("SIGNAGE_CLOUD_COMMAND_NOTICE_S", "0"),
        ("SIGNAGE_CLOUD_COMMAND_NOTICE_S", str(367 * DAY_S)),
        ("SIGNAGE_CLOUD_PLAY_RETENTION_S", "-1"),
        ("SIGNAGE_CLOUD_PLAY_RETENTION_S", "1e9"),
        ("SIGNAGE_CLOUD_COMMAND_RETENTION_S", str(10**12)),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(data_dir=Path("x"), environ={name: value})


def test_the_server_deletes_what_is_past_its_retention(tmp_path: Path) -> None:
    settings = {
        "SIGNAGE_CLOUD_COMMAND_NOTICE_S": "1",
        "SIGNAGE_CLOUD_COMMAND_RETENTION_S": "2",  # so the task runs every second
        "SIGNAGE_CLOUD_PLAY_RETENTION_S": "3600",
    }
    with running_cloud(tmp_path / "cloud", env=settings) as cloud, Screen(cloud.url) as screen:
        screen.enroll(cloud)
        now = time.time()
        old, recent = play(now - T0.timestamp() - 7200), play(now - T0.timestamp() - 60)
        assert len(screen.report(old, recent).stored) == 2
        with cloud.admin() as admin:
            command = send_command(admin, "sync-now", device_id=screen.device_id, expires_in_s=10)
            screen.report(result(command["id"], "done"))
            found = wait_until(
                lambda: len(plays_of(admin)) == 1 and plays_of(admin), 10, "the old play gone"
            )
            assert [p["id"] for p in found] == [recent["id"]]
            assert show_command(admin, command["id"])["devices"][0]["state"] == "done"

            def gone() -> bool:
                return admin.get(f"{ADMIN}/commands/{command['id']}").status_code == 404

            # expiry (10 s) + notice (1 s) + retention (2 s), and the task's second
            wait_until(gone, 20, "the command deleted")
            assert time.time() - now > 12
    assert "deleted 1 command(s) that expired before" in cloud.log()
    assert "Traceback" not in cloud.log()
