from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import StoreError
from agent.store import DB_FILE_NAME, Meta, Store
from sync.client import DeviceTokens
from sync.delta import apply_to, plan_page
from sync.models import (
    Asset,
    DeviceRecord,
    Group,
    Interrupt,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
    StatePage,
    stream_sha256,
)
from tests.support.pages import item, listing, page, tombstone, upsert

SHA_A = "a" * 64
SHA_B = "b" * 64
DEVICE = DeviceRecord(id="dev-1", name="Lobby", tenant_id="t-1", playlist_id="pl-1")
ASSET_A = Asset(id="as-a", name="a.mp4", sha256=SHA_A, media_type="video", size=10)
ASSET_B = Asset(id="as-b", name="b.png", sha256=SHA_B, media_type="image", size=20)


def main(*items: PlaylistItem, name: str = "Main") -> Playlist:
    return Playlist(id="pl-1", name=name, items=list(items))


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(tmp_path)
    yield store
    store.close()


def test_database_is_private_and_migrations_are_recorded_once(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    store = Store.open(tmp_path)
    names = [row["name"] for row in store.db["_migrations"].rows]
    store.close()
    store.close()  # safe twice
    assert names == ["001_initial", "002_delta_sync", "003_schedules", "004_outbox", "005_streams"]
    assert stat.S_IMODE((tmp_path / DB_FILE_NAME).stat().st_mode) == 0o600


def test_a_listing_then_deltas_edit_and_delete_what_plays(store: Store) -> None:
    result = store.apply_page(
        listing(
            "c1",
            version=1,
            device=DEVICE,
            playlist=main(item("as-b", 0, 5000), item("as-a", 1)),
            assets=[ASSET_A, ASSET_B],
        ),
        starts_listing=True,
    )
    assert result.screen_changed and result.applied == 4
    assert [(i.name, i.duration_ms) for i in store.playlist_items("pl-1")] == [
        ("b.png", 5000),
        ("a.mp4", None),
    ]
    assert list(store.referenced_blobs()) == [SHA_B, SHA_A]  # in play order
    assert (store.get(Meta.CURSOR), store.get(Meta.DEVICE_NAME)) == ("c1", "Lobby")

    renamed = ASSET_A.model_copy(update={"name": "intro.mp4"})
    result = store.apply_page(
        page(
            "c2",
            upsert(renamed, 2),
            upsert(main(item("as-a", 0)), 2),
            tombstone("asset", "as-b", 2),
        ),
        starts_listing=False,
    )
    assert result.screen_changed
    assert [i.name for i in store.playlist_items("pl-1")] == ["intro.mp4"]
    assert store.referenced_blobs() == {SHA_A: 10}
    assert store.get(Meta.CURSOR) == "c2"


def test_a_page_applied_twice_changes_nothing_and_older_versions_lose(store: Store) -> None:
    first = listing(
        "c1", version=5, device=DEVICE, playlist=main(item("as-a", 0)), assets=[ASSET_A]
    )
    store.apply_page(first, starts_listing=True)
    again = store.apply_page(
        page("c1", *[c.model_dump() for c in first.changes]), starts_listing=False
    )
    assert (again.applied, again.stale, again.screen_changed) == (0, 3, False)
    old_name = ASSET_A.model_copy(update={"name": "old.mp4"})
    store.apply_page(page("c0", upsert(old_name, 3)), starts_listing=False)
    assert [i.name for i in store.playlist_items("pl-1")] == ["a.mp4"]


def test_a_completed_listing_removes_what_it_no_longer_names(store: Store) -> None:
    store.apply_page(
        listing(
            "c1",
            version=1,
            device=DEVICE,
            playlist=main(item("as-a", 0), item("as-b", 1)),
            assets=[ASSET_A, ASSET_B],
        ),
        starts_listing=True,
    )
    # a listing over two pages: nothing is removed before its last page
    store.apply_page(page("L1", upsert(DEVICE, 9), full=True, more=True), starts_listing=True)
    assert len(store.playlist_items("pl-1")) == 2
    result = store.apply_page(
        page("c9", upsert(main(item("as-a", 0)), 9), upsert(ASSET_A, 9), full=True),
        starts_listing=False,
    )
    assert result.reconciled == 1
    assert [i.name for i in store.playlist_items("pl-1")] == ["a.mp4"]
    assert store.held_versions()[("asset", "as-b")].deleted


def test_unknown_kinds_are_counted_and_skipped(store: Store) -> None:
    weather = {"kind": "weather", "id": "w1", "version": 3, "data": {"temp": 21}}
    result = store.apply_page(page("c1", weather), starts_listing=False)
    assert result.unknown_kinds == {"weather": 1} and result.applied == 0
    assert store.get(Meta.CURSOR) == "c1"


def test_a_page_that_fails_midway_leaves_the_old_state_and_cursor(store: Store) -> None:
    store.apply_page(
        listing("c1", version=1, device=DEVICE, playlist=main(item("as-a", 0)), assets=[ASSET_A]),
        starts_listing=True,
    )
    store.db.execute(
        "CREATE TRIGGER fail BEFORE INSERT ON assets BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(StoreError, match="cannot store changes"):
        store.apply_page(
            page("c2", upsert(main(item("as-b", 0)), 2), upsert(ASSET_B, 2)), starts_listing=False
        )
    assert store.get(Meta.CURSOR) == "c1"
    assert [i.name for i in store.playlist_items("pl-1")] == ["a.mp4"]


KEYS = st.sampled_from([("asset", "as-a"), ("asset", "as-b"), ("playlist", "pl-1")])


@st.composite
def pages_of_changes(draw: st.DrawFn) -> StatePage:
    changes = []
    for kind, id_ in draw(st.lists(KEYS, unique=True, max_size=3)):
        version = draw(st.integers(1, 12))
        if draw(st.booleans()):
            changes.append(tombstone(kind, id_, version))
        elif kind == "asset":
            base = ASSET_A if id_ == "as-a" else ASSET_B
            changes.append(upsert(base.model_copy(update={"name": f"v{version}"}), version))
        else:
            items = [
                item(a, n)
                for n, a in enumerate(draw(st.lists(st.sampled_from(["as-a", "as-b"]), max_size=3)))
            ]
            changes.append(upsert(main(*items, name=f"v{version}"), version))
    return page("c", *changes)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page_list=st.lists(pages_of_changes(), max_size=6))
def test_the_store_applies_pages_as_the_pure_rules_say(tmp_path_factory, page_list) -> None:
    store = Store.open(tmp_path_factory.mktemp("store"))
    try:
        model: dict = {}
        for one in page_list:
            store.apply_page(one, starts_listing=False)
            apply_to(model, plan_page(one, {k: held for k, (held, _) in model.items()}))
        assert store.held_versions() == {k: held for k, (held, _) in model.items()}
        live_assets = {
            k[1]: obj.name for k, (held, obj) in model.items() if k[0] == "asset" and obj
        }
        assert dict(store.db.execute("SELECT id, name FROM assets").fetchall()) == live_assets
    finally:
        store.close()


def test_tokens_round_trip_and_are_forgotten_without_losing_content(store: Store) -> None:
    assert store.tokens() is None
    tokens = DeviceTokens(access_token="at", refresh_token="rt", device_id="d", tenant_id="t")
    store.set_many({Meta.ENROLLMENT_CODE: "BCDF-GHJK"})
    store.save_tokens(tokens)
    assert store.tokens() == tokens
    assert store.get(Meta.ENROLLMENT_CODE) is None
    store.apply_page(
        listing("c1", version=1, device=DEVICE, playlist=main(item("as-a", 0)), assets=[ASSET_A]),
        starts_listing=True,
    )
    store.save_tokens(None)
    assert store.tokens() is None
    assert [i.name for i in store.playlist_items("pl-1")] == ["a.mp4"]


def test_a_reader_sees_what_the_writer_committed(tmp_path: Path, store: Store) -> None:
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    store.record_play_event("started", item_key="pl-1:0", name="a.mp4", sha256=SHA_A, at=at)
    reader = Store.open_read_only(tmp_path)
    assert reader is not None
    try:
        assert [e["event"] for e in reader.play_events()] == ["started"]
        assert '"name": "a.mp4"' in (reader.get(Meta.NOW_PLAYING) or "")
        with pytest.raises(StoreError):
            reader.set_many({Meta.CURSOR: "x"})
    finally:
        reader.close()


def test_read_only_open_of_a_fresh_folder_creates_nothing(tmp_path: Path) -> None:
    assert Store.open_read_only(tmp_path / "never-ran") is None
    assert not (tmp_path / "never-ran").exists()


def test_the_play_log_keeps_only_the_newest_events(store: Store, monkeypatch) -> None:
    monkeypatch.setattr("agent.store.PLAY_EVENTS_KEPT", 5)
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for n in range(12):
        store.record_play_event("ended", item_key=f"k{n}", name=f"n{n}", sha256=SHA_A, at=at)
    assert [e["name"] for e in store.play_events()] == [f"n{n}" for n in range(7, 12)]


def test_a_database_still_being_created_reads_as_not_there_yet(tmp_path: Path) -> None:
    # What `signage-agent status` sees when it runs while the agent creates its database:
    # the file exists, the migrations have not run yet.
    sqlite3.connect(tmp_path / DB_FILE_NAME).close()
    assert Store.open_read_only(tmp_path) is None
    conn = sqlite3.connect(tmp_path / DB_FILE_NAME)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    conn.commit()
    conn.close()
    assert Store.open_read_only(tmp_path) is None
    Store.open(tmp_path).close()
    reader = Store.open_read_only(tmp_path)
    assert reader is not None
    reader.close()


def test_forgetting_the_device_leaves_nothing_of_its_tenant(store: Store) -> None:
    store.save_tokens(
        DeviceTokens(access_token="at", refresh_token="rt", device_id="d", tenant_id="t")
    )
    store.apply_page(
        listing("c1", version=1, device=DEVICE, playlist=main(item("as-a", 0)), assets=[ASSET_A]),
        starts_listing=True,
    )
    store.record_play_event(
        "started", item_key="pl-1:0", name="a.mp4", sha256=SHA_A, at=datetime.now(UTC)
    )
    store.forget_device()
    assert store.tokens() is None
    assert store.playlist_items("pl-1") == [] and store.play_events() == []
    assert store.get(Meta.CURSOR) is None and store.get(Meta.NOW_PLAYING) is None
    assert [row["name"] for row in store.db["_migrations"].rows] == [
        "001_initial",
        "002_delta_sync",
        "003_schedules",
        "004_outbox",
        "005_streams",
    ]  # schema kept


def test_an_upgraded_agent_keeps_its_playlist_and_asks_for_a_full_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    old = Store.open(tmp_path)  # what the walking skeleton wrote
    old.db.execute("INSERT INTO playlist (id, name) VALUES ('pl-1', 'Main')")
    old.db.execute("INSERT INTO assets VALUES ('as-a', 'a.mp4', ?, 'video', 10)", [SHA_A])
    old.db.execute("INSERT INTO playlist_items VALUES ('pl-1', 0, 'as-a', NULL)")
    for key, value in (("device_id", "dev-1"), ("tenant_id", "t-1"), ("device_name", "Lobby"),
                       ("cursor", "rev.7")):  # fmt: skip
        old.db.execute("INSERT INTO meta VALUES (?, ?)", [key, value])
    old.close()
    monkeypatch.undo()

    upgraded = Store.open(tmp_path)
    try:
        assert [i.name for i in upgraded.playlist_items("pl-1")] == ["a.mp4"]  # still plays offline
        assert upgraded.playlist_name("pl-1") == "Main"
        assert upgraded.get(Meta.CURSOR) is None  # the next answer is a full listing
        state = upgraded.schedule_state()  # the old record still picks the default playlist
        assert state is not None and state.device.playlist_id == "pl-1"
        assert [i.asset_id for i in state.playlists["pl-1"].items] == ["as-a"]
    finally:
        upgraded.close()


def test_the_schedule_is_held_whole_and_read_back_for_evaluation(store: Store) -> None:
    device = DEVICE.model_copy(
        update={"group_ids": ["g-1"], "timezone": "Europe/Berlin", "on_switch": "finish"}
    )
    group = Group(id="g-1", name="Lobby screens", playlist_id="pl-2")
    entry = ScheduleEntry.model_validate(
        {
            "id": "s-1",
            "playlist_id": "pl-3",
            "group_id": "g-1",
            "days": ["mon", "fri"],
            "from_time": "22:00",
            "to_time": "02:00",
            "priority": 5,
            "created_at": "2026-11-01T00:00:00Z",
        }
    )
    interrupt = Interrupt.model_validate(
        {
            "id": "i-1",
            "playlist_id": "pl-3",
            "starts_at": "2026-11-25T10:00:00Z",
            "until": "2026-11-25T10:15:00Z",
        }
    )
    windowed = PlaylistItem.model_validate(
        {
            "asset_id": "as-b",
            "position": 1,
            "valid_from": "2026-12-01",
            "valid_until": "2026-12-24T18:00",
        }
    )
    evening = Playlist(id="pl-3", name="Evening", items=[item("as-a", 0), windowed])
    others = [Playlist(id="pl-2", name="Group", items=[item("as-a", 0)]), evening]
    store.apply_page(
        page(
            "c1",
            *(upsert(o, 1) for o in (device, group, entry, interrupt, *others, ASSET_A, ASSET_B)),
            full=True,
        ),
        starts_listing=True,
    )
    state = store.schedule_state()
    assert state is not None
    assert state.device == device and state.groups == {"g-1": group}
    assert list(state.entries) == [entry] and list(state.interrupts) == [interrupt]
    # every playlist the schedule can pick, with item windows as sent
    assert set(state.playlists) == {"pl-2", "pl-3"}  # pl-1, the device's default, is not held
    assert state.playlists["pl-3"].items[1] == windowed
    assert set(store.referenced_blobs("pl-3")) == {SHA_A, SHA_B}

    # tombstones take entries and interrupts away again
    store.apply_page(
        page("c2", tombstone("schedule", "s-1", 2), tombstone("interrupt", "i-1", 2)),
        starts_listing=False,
    )
    state = store.schedule_state()
    assert state is not None and not state.entries and not state.interrupts
    assert state.groups == {"g-1": group}


def test_without_the_device_record_there_is_no_schedule(store: Store) -> None:
    assert store.schedule_state() is None


def test_a_stream_is_held_with_its_url_and_has_no_blob_to_download(tmp_path: Path) -> None:
    url = "rtsp://cam.local:554/lobby"
    stream = Asset(id="as_cam", name="Lobby cam", sha256=stream_sha256(url),
                   media_type="stream", size=0, url=url)  # fmt: skip
    picture = Asset(id="as_pic", name="a.png", sha256="a" * 64, media_type="image", size=3)
    store = Store.open(tmp_path)
    try:
        store.apply_page(
            listing(
                "c1", version=1,
                device=DeviceRecord(id="d", name="D", tenant_id="t", playlist_id="pl"),
                playlist=Playlist(id="pl", name="P", items=[item("as_cam", 0, 30_000),
                                                            item("as_pic", 1, 5_000)]),
                assets=[stream, picture],
            ),
            starts_listing=True,
        )  # fmt: skip
        held = store.playlist_items("pl")
        assert [(i.media_type, i.url) for i in held] == [("stream", url), ("image", None)]
        assert store.referenced_blobs("pl") == {"a" * 64: 3}
    finally:
        store.close()
