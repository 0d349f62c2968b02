"""`agent.play_log.PlayLog`: events on the cloud's clock; a store that cannot write loses an
event, never the playback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.play_log import PlayLog
from agent.store import Store
from player import PlayableItem

ITEM = PlayableItem(
    key="pl:0", name="a.png", sha256="a" * 64, media_type="image", path=Path("/x"),
    duration_ms=1000,
)  # fmt: skip


def test_times_are_put_on_the_clouds_clock(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    log = PlayLog(store, clock_offset_s=lambda: -3600.0)
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    log.item_started(ITEM, at)
    log.item_ended(ITEM, at + timedelta(seconds=1), played_ms=1000)
    events = store.play_events()
    store.close()
    assert [(e["event"], e["at"]) for e in events] == [
        ("started", "2026-11-25T11:00:00.000+00:00"),
        ("ended", "2026-11-25T11:00:01.000+00:00"),
    ]


def test_a_store_that_cannot_write_loses_the_event_and_nothing_else(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    read_only = Store.open_read_only(tmp_path)  # every write fails, as on a full disk
    assert read_only is not None
    log = PlayLog(read_only, clock_offset_s=lambda: None)
    log.item_started(ITEM, datetime.now(UTC))  # must not raise into the player
    log.item_failed(ITEM, "no frame")
    assert read_only.play_events() == []
    read_only.close()
