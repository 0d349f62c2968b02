"""Factories for delta-sync pages, as the cloud would send them."""

from __future__ import annotations

from typing import Any

from sync.models import (
    Asset,
    DeviceRecord,
    Group,
    Interrupt,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
    StatePage,
    WireModel,
)

KINDS = {
    DeviceRecord: "device",
    Asset: "asset",
    Playlist: "playlist",
    Group: "group",
    ScheduleEntry: "schedule",
    Interrupt: "interrupt",
}


def upsert(obj: WireModel, version: int) -> dict[str, Any]:
    kind = KINDS[type(obj)]
    data = obj.model_dump(mode="json")
    return {"kind": kind, "id": obj.id, "version": version, "data": data}  # type: ignore[attr-defined]


def tombstone(kind: str, id_: str, version: int) -> dict[str, Any]:
    return {"kind": kind, "id": id_, "version": version, "deleted": True}


def page(
    cursor: str, *changes: dict[str, Any], full: bool = False, more: bool = False
) -> StatePage:
    return StatePage.model_validate(
        {"cursor": cursor, "full": full, "more": more, "changes": list(changes)}
    )


def listing(
    cursor: str,
    *,
    version: int,
    device: DeviceRecord,
    playlist: Playlist | None = None,
    assets: list[Asset] = (),  # type: ignore[assignment]
) -> StatePage:
    """A complete full listing in one page, every object at `version`."""
    objects: list[WireModel] = [device, *([playlist] if playlist else []), *assets]
    return page(cursor, *(upsert(o, version) for o in objects), full=True)


def item(asset_id: str, position: int, duration_ms: int | None = None) -> PlaylistItem:
    return PlaylistItem(asset_id=asset_id, position=position, duration_ms=duration_ms)


__all__ = ["item", "listing", "page", "tombstone", "upsert"]
