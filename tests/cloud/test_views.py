"""Views and fan-out in-process, over a real SQLite database and a clock the test moves: any
sequence of admin writes leaves every device, applying only its deltas, holding exactly what
a fresh listing names, and wakes every device whose view changed; expiry, caps, the
migration. No server, no threads."""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud import groups as groups_module
from cloud import schedules as schedules_module
from cloud import store
from cloud.admin_models import (
    DeviceSettings,
    NewCommand,
    NewInterrupt,
    NewPlaylist,
    NewPlaylistItem,
    NewScheduleEntry,
)
from cloud.blobs import StoredBlob
from cloud.changelog import ChangeLog
from cloud.commands import Commands
from cloud.content import Content
from cloud.devices import Devices
from cloud.errors import Unprocessable
from cloud.events import Events
from cloud.groups import Groups
from cloud.interrupts import Interrupts
from cloud.playlists import Playlists
from cloud.schedules import Schedules
from cloud.settings import DEFAULT_COMMAND_NOTICE_S
from cloud.state import DeviceState
from cloud.store import Database
from cloud.tenants import create_tenant
from cloud.views import Views
from sync.models import StatePage
from tests.support.media import AcceptEveryUpload

START = 1_800_000_000.0  # 2027-01-15, by the test's clock

Key = tuple[str, str]


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Screen:
    """What one device holds, kept by applying deltas as the agent does."""

    device_id: str
    cursor: str = ""
    held: dict[Key, tuple[int, Any]] = field(default_factory=dict)


@dataclass
class Fleet:
    """The cloud's parts over one database, with every wake-up recorded."""

    db: Database
    clock: Clock
    views: Views
    content: Content
    playlists: Playlists
    devices: Devices
    groups: Groups
    schedules: Schedules
    interrupts: Interrupts
    commands: Commands
    events: Events
    state: DeviceState
    tenant_id: str
    woken: list[set[tuple[str, str]]] = field(default_factory=list)

    def asset(self, name: str) -> str:
        # any file: these tests are about the database, the prober accepts every upload
        blob = StoredBlob(
            sha256=hashlib.sha256(name.encode()).hexdigest(), size=1, path=Path(__file__)
        )
        return self.content.add_asset(
            tenant_id=self.tenant_id,
            name=name,
            blob=blob,
            media_type="image",
            content_type="image/png",
        ).id

    def playlist(self, name: str, assets: list[str]) -> str:
        items = [NewPlaylistItem(asset_id=asset) for asset in assets]
        playlist = NewPlaylist(name=name, items=items)
        return self.playlists.create(tenant_id=self.tenant_id, playlist=playlist).id

    def device(self, name: str) -> str:
        with self.db.write():
            return self.devices.create(tenant_id=self.tenant_id, name=name, jkt="x" * 43)

    def woken_devices(self) -> set[str]:
        devices = {device for batch in self.woken for _, device in batch}
        self.woken.clear()
        return devices

    def pages(self, device_id: str, cursor: str | None, limit: int = 4) -> list[StatePage]:
        pages: list[StatePage] = []
        while True:
            body = self.state.page(
                tenant_id=self.tenant_id, device_id=device_id, cursor=cursor, limit=limit
            )
            if body is None:
                return pages
            page = StatePage.model_validate_json(body)
            pages.append(page)
            cursor = page.cursor
            if not page.more:
                return pages

    def listing(self, device_id: str) -> dict[Key, Any]:
        return {
            (c.kind, c.id): c.data for page in self.pages(device_id, None) for c in page.changes
        }

    def follow(self, device_id: str) -> Screen:
        screen = Screen(device_id)
        pages = self.pages(device_id, None)
        screen.cursor = pages[-1].cursor
        screen.held = {(c.kind, c.id): (c.version, c.data) for p in pages for c in p.changes}
        return screen

    def sync(self, screen: Screen) -> set[tuple[str, str, bool]]:
        changes: set[tuple[str, str, bool]] = set()
        for page in self.pages(screen.device_id, screen.cursor):
            for change in page.changes:
                key = (change.kind, change.id)
                if key in screen.held and screen.held[key][0] > change.version:
                    continue
                changes.add((change.kind, change.id, change.deleted))
                if change.deleted:
                    screen.held.pop(key, None)
                else:
                    screen.held[key] = (change.version, change.data)
            screen.cursor = page.cursor
        return changes


def make_fleet(path: Path) -> Fleet:
    db = Database(path)
    clock = Clock()
    changelog = ChangeLog(db)
    views = Views(db)
    content = Content(db, changelog, views, clock=clock, prober=AcceptEveryUpload())
    commands = Commands(db, changelog, views, clock=clock)
    tenant, _ = create_tenant(db, "Test")
    fleet = Fleet(
        db=db,
        clock=clock,
        views=views,
        content=content,
        playlists=Playlists(db, content=content, changelog=changelog, views=views, clock=clock),
        devices=Devices(db, changelog, views, clock=clock),
        groups=Groups(db, changelog, views, clock=clock),
        schedules=Schedules(db, changelog, views, clock=clock),
        interrupts=Interrupts(db, changelog, views, clock=clock),
        commands=commands,
        events=Events(db, commands, clock=clock),
        state=DeviceState(db, changelog, views, clock=clock),
        tenant_id=tenant.id,
    )
    db.on_change = fleet.woken.append
    return fleet


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    made = make_fleet(tmp_path / "cloud.db")
    try:
        yield made
    finally:
        made.db.close()


# --- any sequence of writes ---------------------------------------------------------------

OPERATIONS = [
    "assign",
    "group assign",
    "join",
    "leave",
    "entry",
    "delete entry",
    "interrupt",
    "clear",
    "items",
    "rename asset",
    "rename playlist",
    "delete asset",
    "time passes",
    "delete group",
    "settings",
    "new group",
    "command",
    "answer",
]


def apply(fleet: Fleet, operation: str, a: int, b: int, c: int) -> None:
    """One admin write, its arguments picked by `a`, `b`, `c` among what exists."""
    tenant = fleet.tenant_id
    db = fleet.db
    devices = [r["id"] for r in db.all("SELECT id FROM devices ORDER BY id")]
    groups = [r["id"] for r in db.all("SELECT id FROM groups ORDER BY id")]
    playlists = [r["id"] for r in db.all("SELECT id FROM playlists ORDER BY id")]
    assets = [r["id"] for r in db.all("SELECT id FROM assets ORDER BY id")]
    entries = [r["id"] for r in db.all("SELECT id FROM schedule_entries ORDER BY id")]
    device = devices[a % len(devices)]
    group = groups[b % len(groups)] if groups else None
    playlist = playlists[c % len(playlists)]
    maybe_playlist = None if c % 4 == 0 else playlist
    on_group = group is not None and a % 2 == 0
    target = {"group_id": group} if on_group else {"device_id": device}
    if operation == "assign":
        fleet.devices.assign_playlist(
            tenant_id=tenant, device_id=device, playlist_id=maybe_playlist
        )
    elif operation == "group assign" and group:
        fleet.groups.assign_playlist(tenant_id=tenant, group_id=group, playlist_id=maybe_playlist)
    elif operation in ("join", "leave") and group:
        joining = operation == "join"
        fleet.groups.change_members(
            tenant_id=tenant,
            group_id=group,
            add=[device] if joining else [],
            remove=[] if joining else [device],
        )
    elif operation == "entry":
        entry = NewScheduleEntry(playlist_id=playlist, priority=b % 3, **target)
        fleet.schedules.add(tenant_id=tenant, entry=entry)
    elif operation == "delete entry" and entries:
        fleet.schedules.delete(tenant_id=tenant, entry_id=entries[b % len(entries)])
    elif operation == "interrupt":
        lasting = None if b % 3 == 0 else float(60 * (b % 5 + 1))
        body = NewInterrupt(playlist_id=playlist, for_s=lasting)
        fleet.interrupts.set(tenant_id=tenant, interrupt=body, **target)
    elif operation == "clear":
        current = db.one(
            "SELECT device_id, group_id FROM interrupts ORDER BY id LIMIT 1 OFFSET ?",
            (a % max(1, len(db.all("SELECT id FROM interrupts"))),),
        )
        if current is not None:
            fleet.interrupts.clear(
                tenant_id=tenant, device_id=current["device_id"], group_id=current["group_id"]
            )
    elif operation == "items" and assets:
        chosen = [assets[(b + i * c) % len(assets)] for i in range(1 + a % 3)]
        items = [NewPlaylistItem(asset_id=asset) for asset in chosen]
        fleet.playlists.set_items(tenant_id=tenant, playlist_id=playlist, items=items)
    elif operation == "rename asset" and assets:
        asset = assets[b % len(assets)]
        fleet.content.rename_asset(tenant_id=tenant, asset_id=asset, name=f"renamed {c}")
    elif operation == "rename playlist":
        fleet.playlists.rename(tenant_id=tenant, playlist_id=playlist, name=f"renamed {b}")
    elif operation == "delete asset" and len(assets) > 1:
        held_elsewhere = db.one(
            "SELECT COUNT(DISTINCT asset_id) AS n FROM playlist_items WHERE playlist_id IN"
            " (SELECT playlist_id FROM playlist_items WHERE asset_id = ?)",
            (assets[b % len(assets)],),
        )
        assert held_elsewhere is not None
        if held_elsewhere["n"] != 1:  # never empty a playlist: its items would be gone
            fleet.content.delete_asset(
                tenant_id=tenant, asset_id=assets[b % len(assets)], force=True
            )
    elif operation == "time passes":
        fleet.clock.now += 60 * (b % 4 + 1)
        fleet.interrupts.purge_expired()
        fleet.commands.purge_expired()
    elif operation == "delete group" and group:
        fleet.groups.delete(tenant_id=tenant, group_id=group)
    elif operation == "settings":
        zone = ["UTC", "Europe/Berlin", "Pacific/Auckland"][b % 3]
        fleet.devices.set_settings(
            tenant_id=tenant, device_id=device, settings=DeviceSettings(timezone=zone)
        )
    elif operation == "new group":
        fleet.groups.create(tenant_id=tenant, name=f"G{b}")
    elif operation == "command":
        members = on_group and db.one("SELECT 1 FROM group_members WHERE group_id = ?", (group,))
        where = target if members or not on_group else {"device_id": device}
        command = NewCommand(kind="identify", expires_in_s=60 * (c % 5 + 1), **where)
        fleet.commands.send(tenant_id=tenant, command=command)
    elif operation == "answer":
        open_targets = db.all(
            "SELECT command_id, device_id FROM command_targets"
            " WHERE state IN ('pending', 'started') ORDER BY command_id, device_id"
        )
        if open_targets:
            chosen = open_targets[a % len(open_targets)]
            state = ["started", "done", "failed", "expired", "unsupported"][b % 5]
            report = {
                "type": "command_result",
                "id": str(uuid.UUID(int=a * 10_000 + b * 100 + c + len(open_targets) << 64)),
                "command_id": chosen["command_id"],
                "at": "2027-01-15T00:00:00Z",
                "state": state,
            }
            receipt = fleet.events.store(
                tenant_id=tenant, device_id=chosen["device_id"], events=[report]
            )
            assert len(receipt.stored) + len(receipt.duplicates) == 1, receipt


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(OPERATIONS),
            st.integers(0, 50),
            st.integers(0, 50),
            st.integers(0, 50),
        ),
        min_size=5,
        max_size=30,
    )
)
def test_after_any_writes_every_device_holds_what_a_listing_names(
    steps: list[tuple[str, int, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        fleet = make_fleet(Path(directory) / "cloud.db")
        try:
            assets = [fleet.asset(f"a{i}") for i in range(5)]
            for index in range(4):
                fleet.playlist(f"P{index}", assets[index : index + 2])
            devices = [fleet.device(f"D{index}") for index in range(3)]
            for name in ("North", "South"):
                fleet.groups.create(tenant_id=fleet.tenant_id, name=name)
            # Rich views from the start: defaults, memberships, entries.
            for step in [
                ("assign", 0, 0, 1),
                ("join", 1, 0, 0),
                ("join", 1, 1, 0),
                ("join", 2, 1, 0),
                ("group assign", 0, 0, 2),
                ("entry", 2, 0, 3),
                ("entry", 0, 1, 2),
            ]:
                apply(fleet, *step)
            screens = [fleet.follow(device_id) for device_id in devices]
            fleet.woken_devices()
            for step in steps:
                before = {s.device_id: fleet.listing(s.device_id) for s in screens}
                apply(fleet, *step)
                woken = fleet.woken_devices()
                for screen in screens:
                    fleet.sync(screen)
                    now = fleet.listing(screen.device_id)
                    held = {key: data for key, (_, data) in screen.held.items()}
                    assert held == now, (step, screen.device_id)
                    if now != before[screen.device_id]:
                        assert screen.device_id in woken, (step, screen.device_id)
        finally:
            fleet.db.close()


# --- who a write concerns -----------------------------------------------------------------


def test_writes_about_a_group_nobody_is_in_wake_nobody(fleet: Fleet) -> None:
    tenant = fleet.tenant_id
    asset = fleet.asset("a")
    playlist = fleet.playlist("P", [asset])
    device = fleet.device("D")
    group = fleet.groups.create(tenant_id=tenant, name="Empty").id
    fleet.woken_devices()
    fleet.groups.assign_playlist(tenant_id=tenant, group_id=group, playlist_id=playlist)
    entry = fleet.schedules.add(
        tenant_id=tenant, entry=NewScheduleEntry(group_id=group, playlist_id=playlist)
    )
    fleet.interrupts.set(
        tenant_id=tenant, interrupt=NewInterrupt(playlist_id=playlist), group_id=group
    )
    fleet.interrupts.clear(tenant_id=tenant, group_id=group)
    fleet.playlists.set_items(
        tenant_id=tenant, playlist_id=playlist, items=[NewPlaylistItem(asset_id=asset)]
    )
    fleet.content.rename_asset(tenant_id=tenant, asset_id=asset, name="still nobody's")
    fleet.schedules.delete(tenant_id=tenant, entry_id=entry.id)
    fleet.groups.delete(tenant_id=tenant, group_id=group)
    assert fleet.woken_devices() == set()
    rows = fleet.db.all("SELECT device_id, kind FROM device_changes")
    assert rows == [{"device_id": device, "kind": "device"}]  # its enrollment only


def test_joining_a_group_wakes_the_device_that_joins_and_no_member(fleet: Fleet) -> None:
    tenant = fleet.tenant_id
    playlist = fleet.playlist("P", [fleet.asset("a")])
    first, second = fleet.device("first"), fleet.device("second")
    group = fleet.groups.create(tenant_id=tenant, name="G").id
    fleet.groups.assign_playlist(tenant_id=tenant, group_id=group, playlist_id=playlist)
    fleet.woken_devices()
    fleet.groups.change_members(tenant_id=tenant, group_id=group, add=[first], remove=[])
    assert fleet.woken_devices() == {first}
    fleet.groups.change_members(tenant_id=tenant, group_id=group, add=[second], remove=[])
    assert fleet.woken_devices() == {second}
    fleet.groups.change_members(tenant_id=tenant, group_id=group, add=[second], remove=[])
    assert fleet.woken_devices() == set()  # already in: nothing changed


def test_an_expired_interrupt_leaves_the_view_and_its_purge_tells_the_device(fleet: Fleet) -> None:
    tenant = fleet.tenant_id
    asset, other = fleet.asset("alert"), fleet.asset("loop")
    alert, loop = fleet.playlist("Alert", [asset]), fleet.playlist("Loop", [other])
    device = fleet.device("D")
    fleet.devices.assign_playlist(tenant_id=tenant, device_id=device, playlist_id=loop)
    screen = fleet.follow(device)
    interrupt = fleet.interrupts.set(
        tenant_id=tenant, interrupt=NewInterrupt(playlist_id=alert, for_s=30), device_id=device
    )
    assert fleet.sync(screen) == {
        ("interrupt", interrupt.id, False),
        ("playlist", alert, False),
        ("asset", asset, False),
    }
    assert [i.id for i in fleet.interrupts.list(tenant)] == [interrupt.id]
    fleet.woken_devices()

    fleet.clock.now += 31
    assert fleet.interrupts.list(tenant) == []
    assert ("interrupt", interrupt.id) not in fleet.listing(device)
    assert ("playlist", alert) not in fleet.listing(device)
    assert fleet.interrupts.purge_expired() == 1
    assert fleet.woken_devices() == {device}
    assert fleet.sync(screen) == {
        ("interrupt", interrupt.id, True),
        ("playlist", alert, True),
        ("asset", asset, True),
    }
    assert fleet.interrupts.purge_expired() == 0
    assert fleet.woken_devices() == set()


def test_caps_per_tenant_are_a_clear_422(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = fleet.tenant_id
    playlist = fleet.playlist("P", [fleet.asset("a")])
    device = fleet.device("D")
    monkeypatch.setattr(schedules_module, "MAX_SCHEDULE_ENTRIES", 2)
    monkeypatch.setattr(groups_module, "MAX_GROUPS", 2)
    entry = NewScheduleEntry(device_id=device, playlist_id=playlist)
    for _ in range(2):
        fleet.schedules.add(tenant_id=tenant, entry=entry)
        fleet.groups.create(tenant_id=tenant, name="G")
    with pytest.raises(Unprocessable, match="has 2 schedule entries, the most it may have"):
        fleet.schedules.add(tenant_id=tenant, entry=entry)
    with pytest.raises(Unprocessable, match="has 2 groups, the most it may have"):
        fleet.groups.create(tenant_id=tenant, name="G")
    assert len(fleet.schedules.list(tenant_id=tenant)) == 2


def test_a_database_from_before_scheduling_is_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cloud.db"
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:4])
    db = Database(path)
    tenant, _ = create_tenant(db, "Old")
    with db.write():
        db.execute(
            "INSERT INTO devices (id, tenant_id, name, jkt, created_at)"
            " VALUES ('dev_old', ?, 'Old', 'x', '2026-01-01T00:00:00+00:00')",
            (tenant.id,),
        )
    db.close()
    monkeypatch.undo()
    fleet = make_fleet(path)  # applies 0005_scheduling
    try:
        record = fleet.devices.record(tenant_id=tenant.id, device_id="dev_old")
        assert (record.timezone, record.on_switch, record.group_ids) == ("UTC", "cut", [])
    finally:
        fleet.db.close()
    with closing(sqlite3.connect(path)) as raw:
        names = [row[0] for row in raw.execute("SELECT name FROM _migrations ORDER BY name")]
        foreign = raw.execute("PRAGMA foreign_key_list(schedule_entries)").fetchall()
    assert "0005_scheduling" in names
    # Every reference of an entry is a composite (tenant_id, id) key.
    assert {(row[2], row[3]) for row in foreign} >= {
        ("devices", "tenant_id"),
        ("groups", "tenant_id"),
        ("playlists", "tenant_id"),
    }


def test_a_command_leaves_each_device_with_its_answer_or_after_its_notice(fleet: Fleet) -> None:
    tenant = fleet.tenant_id
    answering, silent, outside = (fleet.device(name) for name in ("answers", "silent", "out"))
    group = fleet.groups.create(tenant_id=tenant, name="G").id
    fleet.groups.change_members(
        tenant_id=tenant, group_id=group, add=[answering, silent], remove=[]
    )
    screens = {device: fleet.follow(device) for device in (answering, silent, outside)}
    fleet.woken_devices()

    sent = fleet.commands.send(
        tenant_id=tenant, command=NewCommand(kind="reboot", group_id=group, expires_in_s=60)
    )
    assert fleet.woken_devices() == {answering, silent}
    for device in (answering, silent):
        assert fleet.sync(screens[device]) == {("command", sent.id, False)}
    assert fleet.sync(screens[outside]) == set()

    def report(device: str, state: str) -> None:
        event = {
            "type": "command_result",
            "id": str(uuid.uuid4()),
            "command_id": sent.id,
            "at": "2027-01-15T00:00:00Z",
            "state": state,
        }
        receipt = fleet.events.store(tenant_id=tenant, device_id=device, events=[event])
        assert receipt.stored == [event["id"]], receipt

    report(answering, "started")
    assert fleet.woken_devices() == {sent.id}  # an admin waiting for it; no device
    report(answering, "done")
    assert fleet.woken_devices() == {answering, sent.id}
    assert fleet.sync(screens[answering]) == {("command", sent.id, True)}
    assert fleet.sync(screens[silent]) == set()

    fleet.clock.now += 61
    # expired, but still offered to the silent screen through the notice, so that one back
    # late answers it expired; an admin's wait ends at the expiry all the same
    assert ("command", sent.id) in fleet.listing(silent)
    shown = fleet.commands.show(tenant_id=tenant, command_id=sent.id)
    assert shown.settled and shown.expired
    assert {o.device_id: (o.state, o.no_answer) for o in shown.devices} == {
        answering: ("done", False),
        silent: ("pending", True),
    }
    assert fleet.commands.purge_expired() == 0
    fleet.clock.now += DEFAULT_COMMAND_NOTICE_S
    assert ("command", sent.id) not in fleet.listing(silent)  # the notice is over
    assert fleet.commands.purge_expired() == 1
    assert fleet.woken_devices() == {silent, sent.id}
    assert fleet.sync(screens[silent]) == {("command", sent.id, True)}
    assert fleet.commands.purge_expired() == 0
    assert fleet.woken_devices() == set()


def test_a_database_from_before_reports_is_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cloud.db"
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:5])
    old = make_fleet(path)
    try:
        device, tenant = old.device("Old"), old.tenant_id
        assert old.db.one("SELECT name FROM sqlite_master WHERE name = 'commands'") is None
    finally:
        old.db.close()
    monkeypatch.undo()
    fleet = make_fleet(path)  # applies 0006_reports_and_commands
    fleet.tenant_id = tenant
    try:
        sent = fleet.commands.send(
            tenant_id=fleet.tenant_id, command=NewCommand(kind="sync-now", device_id=device)
        )
        assert ("command", sent.id) in fleet.listing(device)
    finally:
        fleet.db.close()
    with closing(sqlite3.connect(path)) as raw:
        names = [row[0] for row in raw.execute("SELECT name FROM _migrations ORDER BY name")]
        keys = {table: foreign_keys(raw, table) for table in FOREIGN_KEYS}
    assert "0006_reports_and_commands" in names
    assert keys == FOREIGN_KEYS  # every reference is a composite (tenant_id, ...) key


FOREIGN_KEYS = {
    "device_events": {("devices", ("tenant_id", "device_id"))},
    "play_events": {
        ("device_events", ("tenant_id", "id")),
        ("devices", ("tenant_id", "device_id")),
    },
    "device_status": {("devices", ("tenant_id", "device_id"))},
    "dropped_events": {
        ("device_events", ("tenant_id", "id")),
        ("devices", ("tenant_id", "device_id")),
    },
    "commands": {("tenants", ("tenant_id",)), ("devices", ("tenant_id", "device_id"))},
    "command_targets": {
        ("commands", ("tenant_id", "command_id")),
        ("devices", ("tenant_id", "device_id")),
    },
    "command_attachments": {("command_targets", ("tenant_id", "command_id", "device_id"))},
}


def foreign_keys(raw: sqlite3.Connection, table: str) -> set[tuple[str, tuple[str, ...]]]:
    """{(the table referred to, the referring columns)} of `table`."""
    columns: dict[int, list[tuple[int, str, str]]] = {}
    for key_id, position, target, column, *_ in raw.execute(f"PRAGMA foreign_key_list({table})"):
        columns.setdefault(key_id, []).append((position, target, column))
    return {
        (parts[0][1], tuple(column for _, _, column in sorted(parts))) for parts in columns.values()
    }
