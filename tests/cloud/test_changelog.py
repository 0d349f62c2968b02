"""The change log behind delta sync, in-process over a real SQLite database: who each write
wakes, how pages are cut by bytes, compaction and retention. No server, no threads."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cloud import state as state_module
from cloud.admin_models import NewPlaylist, NewPlaylistItem
from cloud.blobs import StoredBlob
from cloud.changelog import ChangeLog
from cloud.changes import ChangeFeed
from cloud.content import Content
from cloud.devices import Devices
from cloud.playlists import Playlists
from cloud.state import CursorGone, DeviceState
from cloud.store import Database
from cloud.tenants import create_tenant
from cloud.views import Views
from sync.models import MAX_PAGE_CHANGES, StatePage
from tests.support.media import AcceptEveryUpload


@dataclass
class Cloud:
    """The cloud's parts over one database, with every wake-up recorded."""

    db: Database
    changelog: ChangeLog
    content: Content
    playlists: Playlists
    devices: Devices
    state: DeviceState
    tenant_id: str
    woken: list[set[tuple[str, str]]] = field(default_factory=list)

    def asset(self, name: str, *, media_type: str = "image") -> str:
        sha256 = hashlib.sha256(name.encode()).hexdigest()
        blob = StoredBlob(sha256=sha256, size=len(name), path=Path(__file__))  # any file
        return self.content.add_asset(
            tenant_id=self.tenant_id,
            name=name,
            blob=blob,
            media_type=media_type,  # type: ignore[arg-type]
            content_type=f"{media_type}/png",
        ).id

    def playlist(self, name: str, asset_ids: list[str]) -> str:
        items = [NewPlaylistItem(asset_id=asset_id) for asset_id in asset_ids]
        created = self.playlists.create(
            tenant_id=self.tenant_id, playlist=NewPlaylist(name=name, items=items)
        )
        return created.id

    def device(self, name: str, playlist_id: str | None = None) -> str:
        with self.db.write():
            device_id = self.devices.create(tenant_id=self.tenant_id, name=name, jkt="x" * 43)
        if playlist_id is not None:
            self.devices.assign_playlist(
                tenant_id=self.tenant_id, device_id=device_id, playlist_id=playlist_id
            )
        return device_id

    def woken_devices(self) -> set[str]:
        """The devices woken since the last call."""
        devices = {device for batch in self.woken for _, device in batch}
        self.woken.clear()
        return devices

    def page(self, device_id: str, cursor: str | None = None, limit: int = 500) -> StatePage | None:
        body = self.state.page(
            tenant_id=self.tenant_id, device_id=device_id, cursor=cursor, limit=limit
        )
        return None if body is None else StatePage.model_validate_json(body)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    db = Database(tmp_path / "cloud.db")
    changelog = ChangeLog(db, retention_s=100)
    views = Views(db)
    content = Content(db, changelog, views, prober=AcceptEveryUpload())
    tenant, _ = create_tenant(db, "Test")
    parts = Cloud(
        db=db,
        changelog=changelog,
        content=content,
        playlists=Playlists(db, content=content, changelog=changelog, views=views),
        devices=Devices(db, changelog, views),
        state=DeviceState(db, changelog, views),
        tenant_id=tenant.id,
    )
    db.on_change = parts.woken.append
    try:
        yield parts
    finally:
        db.close()


def test_each_write_wakes_exactly_the_devices_it_concerns(cloud: Cloud) -> None:
    shared, lobby_only, hall_only, unused = (cloud.asset(n) for n in ("s", "l", "h", "u"))
    lobby_list = cloud.playlist("L", [shared, lobby_only])
    hall_list = cloud.playlist("H", [shared, hall_only])
    spare_list = cloud.playlist("Spare", [unused])
    lobby = cloud.device("Lobby", lobby_list)
    hall = cloud.device("Hall", hall_list)
    idle = cloud.device("Idle")
    cloud.woken_devices()
    tenant = cloud.tenant_id

    cloud.asset("new upload")
    cloud.playlist("Unplayed", [unused])
    cloud.content.rename_asset(tenant_id=tenant, asset_id=unused, name="still unused")
    cloud.playlists.rename(tenant_id=tenant, playlist_id=spare_list, name="Spare 2")
    assert cloud.woken_devices() == set()

    cloud.content.rename_asset(tenant_id=tenant, asset_id=lobby_only, name="L2")
    assert cloud.woken_devices() == {lobby}
    cloud.content.rename_asset(tenant_id=tenant, asset_id=shared, name="S2")
    assert cloud.woken_devices() == {lobby, hall}
    items = [NewPlaylistItem(asset_id=hall_only)]
    cloud.playlists.set_items(tenant_id=tenant, playlist_id=hall_list, items=items)
    assert cloud.woken_devices() == {hall}
    cloud.devices.rename(tenant_id=tenant, device_id=idle, name="Idle 2")
    assert cloud.woken_devices() == {idle}
    cloud.content.delete_asset(tenant_id=tenant, asset_id=shared, force=True)
    assert cloud.woken_devices() == {lobby}  # the hall's playlist no longer used it
    cloud.devices.assign_playlist(tenant_id=tenant, device_id=idle, playlist_id=spare_list)
    assert cloud.woken_devices() == {idle}


async def test_the_feed_wakes_the_watches_of_the_devices_named_and_no_other() -> None:
    feed = ChangeFeed()
    feed.attach(asyncio.get_running_loop())
    lobby, hall, other_tenant = (
        feed.watch("ten_a", "dev_lobby"),
        feed.watch("ten_a", "dev_hall"),
        feed.watch("ten_b", "dev_lobby"),
    )
    feed.notify({("ten_a", "dev_lobby")})
    assert await feed.wait(lobby, 5)
    await asyncio.sleep(0)  # any other callback queued with it has run by now
    assert not hall.is_set()
    assert not other_tenant.is_set()
    feed.close()
    assert not await feed.wait(hall, 5)  # a closed feed holds nobody


def test_a_page_is_cut_by_bytes_and_the_listing_stays_complete(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = [cloud.asset(f"{i:04d} " + "n" * 150) for i in range(300)]
    playlist_id = cloud.playlist("Big", assets * 30)  # 9,000 items
    device_id = cloud.device("Lobby", playlist_id)
    budget = 64 * 1024
    monkeypatch.setattr(state_module, "PAGE_BYTES", budget)

    pages: list[StatePage] = []
    cursor: str | None = None
    while True:
        body = cloud.state.page(
            tenant_id=cloud.tenant_id, device_id=device_id, cursor=cursor, limit=MAX_PAGE_CHANGES
        )
        assert body is not None
        page = StatePage.model_validate_json(body)
        # A page is over the budget only when its single change is (the 9,000-item playlist).
        changes_bytes = sum(len(json.dumps(c.model_dump()).encode()) for c in page.changes)
        assert changes_bytes <= budget * 1.1 or len(page.changes) == 1
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            break
    assert len(pages) > 3
    listed = [(c.kind, c.id) for page in pages for c in page.changes]
    assert len(listed) == len(set(listed))
    assert set(listed) == {("device", device_id), ("playlist", playlist_id)} | {
        ("asset", asset_id) for asset_id in assets
    }
    assert cloud.page(device_id, cursor) is None  # the listing's last cursor is current


def test_the_log_keeps_one_row_per_object_however_often_it_changes(cloud: Cloud) -> None:
    assets = [cloud.asset(name) for name in ("a", "b", "c")]
    playlist_id = cloud.playlist("P", assets)
    device_id = cloud.device("Lobby", playlist_id)
    page = cloud.page(device_id)
    assert page is not None
    for round_ in range(50):
        for asset_id in assets:
            cloud.content.rename_asset(
                tenant_id=cloud.tenant_id, asset_id=asset_id, name=f"{asset_id} {round_}"
            )
    rows = cloud.db.all(
        "SELECT kind, object_id FROM device_changes WHERE tenant_id = ? AND device_id = ?",
        (cloud.tenant_id, device_id),
    )
    assert len(rows) == 5  # the device, the playlist, three assets
    delta = cloud.page(device_id, page.cursor)
    assert delta is not None
    assert sorted((c.kind, c.id, c.data and c.data["name"]) for c in delta.changes) == sorted(
        ("asset", asset_id, f"{asset_id} 49") for asset_id in assets
    )


def test_pruned_changes_make_older_cursors_gone_and_no_others(cloud: Cloud) -> None:
    tenant = cloud.tenant_id
    first, second = cloud.asset("first"), cloud.asset("second")
    playlist_id = cloud.playlist("P", [first])
    device_id = cloud.device("Lobby", playlist_id)
    bystander = cloud.device("Bystander")
    page = cloud.page(device_id)
    bystander_page = cloud.page(bystander)
    assert page is not None and bystander_page is not None
    old_cursor = page.cursor
    items = [NewPlaylistItem(asset_id=second)]
    cloud.playlists.set_items(tenant_id=tenant, playlist_id=playlist_id, items=items)
    delta = cloud.page(device_id, old_cursor)
    assert delta is not None
    new_cursor = delta.cursor

    with cloud.db.write():
        removed = cloud.changelog.prune(tenant, now=1e12)  # everything is older than that
    assert removed > 0
    assert cloud.db.all("SELECT * FROM device_changes WHERE tenant_id = ?", (tenant,)) == []
    with pytest.raises(CursorGone):
        cloud.page(device_id, old_cursor)  # its changes since are gone
    assert cloud.page(device_id, new_cursor) is None  # nothing it lacks was pruned
    # The bystander's own log was older than its cursor: its cursor still holds.
    assert cloud.page(bystander, bystander_page.cursor) is None
    relisted = cloud.page(device_id)
    assert relisted is not None and relisted.full
