"""What a device should be playing, and what comes next: `signage-cloud device show`.

The cloud builds the `ScheduleState` a device would hold from its view (`cloud.views`: the
very objects the device receives, validated by the same wire models) and asks the device's
own pure `player.schedule.evaluate`, at now and then at each next boundary until what plays
changes (a boundary can pass with nothing changing: midnight under an all-day entry while an
interrupt plays). So the admin sees what the screen decides, not a second implementation of
the rules.
"""

from __future__ import annotations

from datetime import datetime

from cloud.admin_models import DeviceDetail, Playing
from cloud.devices import no_device
from cloud.store import Database
from cloud.views import View, Views, instant_text
from player.schedule import Decision, ScheduleState, evaluate
from sync.models import DeviceRecord, Group, Interrupt, Playlist, ScheduleEntry


def schedule_state(views: Views, tenant_id: str, view: View) -> ScheduleState:
    """The `ScheduleState` of a device whose view is `view` (inside a read transaction)."""
    device = views.device_data(tenant_id, view)
    if device is None:
        raise no_device(view.device_id)
    playlists: dict[str, Playlist] = {}
    for playlist_id in sorted(view.playlist_ids):
        data = views.playlist_data(tenant_id, playlist_id)
        if data is not None:
            playlists[playlist_id] = Playlist.model_validate(data)
    groups = views.groups_data(tenant_id, view.group_ids)
    return ScheduleState(
        device=DeviceRecord.model_validate(device),
        groups={group_id: Group.model_validate(data) for group_id, data in groups.items()},
        entries=[
            ScheduleEntry.model_validate(data)
            for data in views.entries_data(tenant_id, view.entry_ids).values()
        ],
        interrupts=[
            Interrupt.model_validate(data)
            for data in views.interrupts_data(tenant_id, view.interrupt_ids).values()
        ],
        playlists=playlists,
    )


# How many boundaries `next` looks past where nothing changes: enough for a month of daily
# windows that an interrupt or a higher entry covers; past that, `next` is the last one seen.
MAX_QUIET_BOUNDARIES = 64


def same_playing(a: Decision, b: Decision) -> bool:
    """True when the screen would not switch from `a` to `b`."""
    return (a.playlist_id, a.reason, a.source_id, a.items) == (
        b.playlist_id,
        b.reason,
        b.source_id,
        b.items,
    )


def next_change(state: ScheduleState, decision: Decision) -> Playing | None:
    """What plays from the first boundary after `decision` at which that changes."""
    current = decision
    for _ in range(MAX_QUIET_BOUNDARIES):
        at = current.next_boundary
        if at is None:
            return None
        current = evaluate(state, at)
        if not same_playing(current, decision):
            break
    assert at is not None
    return playing(current, at)


def playing(decision: Decision, at: datetime) -> Playing:
    return Playing(
        at=at,
        playlist_id=decision.playlist_id,
        reason=str(decision.reason),
        source_id=decision.source_id,
        why=decision.why,
        items=len(decision.items),
        on_switch=decision.on_switch,
        next_boundary=decision.next_boundary,
        warnings=list(decision.warnings),
    )


def device_detail(
    db: Database, views: Views, *, tenant_id: str, device_id: str, now: datetime
) -> DeviceDetail:
    """The device with what it should play at `now` (aware) and from its next boundary on."""
    with db.read():
        view = views.one(tenant_id, device_id, now=instant_text(now))
        row = db.one(
            "SELECT created_at, last_seen_at FROM devices WHERE tenant_id = ? AND id = ?",
            (tenant_id, device_id),
        )
        if view is None or row is None:
            raise no_device(device_id)
        state = schedule_state(views, tenant_id, view)
    decision = evaluate(state, now)
    later = next_change(state, decision)
    device = state.device
    return DeviceDetail(
        id=device.id,
        name=device.name,
        playlist_id=device.playlist_id,
        group_ids=list(device.group_ids),
        timezone=device.timezone,
        on_switch=device.on_switch,
        rotation=device.rotation,
        volume=device.volume,
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        now=playing(decision, now),
        next=later,
    )


__all__ = ["device_detail", "playing", "schedule_state"]
