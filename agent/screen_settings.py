"""The screen's rotation and volume as an admin sets them for the device, applied without a
restart.

Both arrive in the device's record through the delta stream (`DeviceRecord.rotation`,
`.volume`); None there leaves each to the screen's own configuration (`agent.config`:
`rotation`, `volume`).

- **Rotation** is the record's when it has one, else the configuration's: applied at start
  and after every page (the renderer ignores a rotation it already has).
- **Volume** is set by whichever came last: a change of the admin's setting, or a
  `set-volume` command (agent.commands). The store keeps the volume in effect
  (`Meta.VOLUME`, read at the next start) and the setting last applied
  (`Meta.VOLUME_SETTING`), so a setting is applied once when it changes, not again over a
  later command, and a setting taken away gives the configuration's volume back.

`decide` is the rule alone; `ScreenSettings` reads the store and drives the renderer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from agent.errors import StoreError
from agent.store import Meta, Store
from sync.models import DeviceRecord

log = logging.getLogger(__name__)

NO_SETTING = "none"  # Meta.VOLUME_SETTING when the record leaves the volume to the screen


class Adjustable(Protocol):
    """What of a renderer these settings drive (`player.VlcRenderer` has both)."""

    @property
    def rotation(self) -> int: ...

    def set_rotation(self, degrees: int) -> None: ...

    def set_volume(self, percent: int) -> None: ...


@dataclass(frozen=True)
class Decision:
    rotation: int  # the rotation to show with
    volume: int | None  # a volume to set now; None: leave the one in effect
    volume_setting: str  # what to remember as the setting last applied

    @property
    def forget_volume(self) -> bool:
        """The configuration's volume again (the setting was taken away): the volume in
        effect is dropped from the store."""
        return self.volume is not None and self.volume_setting == NO_SETTING


def decide(
    record: DeviceRecord | None,
    *,
    applied_setting: str | None,
    configured_rotation: int,
    configured_volume: int,
) -> Decision:
    """What the record asks of the screen, given the volume setting last applied (None:
    never one; NO_SETTING: the record had none)."""
    rotation = configured_rotation
    if record is not None and record.rotation is not None:
        rotation = record.rotation
    if record is None:
        return Decision(rotation, None, applied_setting or NO_SETTING)
    setting = NO_SETTING if record.volume is None else str(record.volume)
    if setting == (applied_setting or NO_SETTING):
        return Decision(rotation, None, setting)
    if record.volume is None:
        return Decision(rotation, configured_volume, setting)
    return Decision(rotation, record.volume, setting)


class ScreenSettings:
    """Keeps the renderer turned and as loud as the device's record and commands say."""

    def __init__(self, store: Store, *, rotation: int, volume: int) -> None:
        """`rotation`, `volume`: the screen's own configuration."""
        self._store = store
        self._rotation = rotation
        self._volume = volume

    def at_start(self) -> tuple[int, int]:
        """The rotation and volume to start the renderer with (a setting that changed while
        the agent was not running its renderer is applied here)."""
        decision = self._decide()
        self._remember(decision)
        if decision.volume is not None:
            return decision.rotation, decision.volume
        return decision.rotation, _stored_volume(self._store, self._volume)

    def apply(self, renderer: Adjustable) -> bool:
        """After a page: turn the screen and set the volume if the record changed them;
        whether either changed. A renderer that refuses (closed, or a value it cannot take)
        is logged, never raised."""
        decision = self._decide()
        changed = decision.rotation != renderer.rotation or decision.volume is not None
        try:
            renderer.set_rotation(decision.rotation)
            if decision.volume is not None:
                renderer.set_volume(decision.volume)
                log.info(
                    "volume set to %d%% (%s)",
                    decision.volume,
                    "the screen's own: the device's setting was removed"
                    if decision.forget_volume
                    else "the device's setting",
                )
        except (ValueError, RuntimeError) as exc:
            log.warning("cannot apply the device's screen settings: %s", exc)
            return False
        self._remember(decision)
        return changed

    def _decide(self) -> Decision:
        return decide(
            self._store.device_record(),
            applied_setting=self._store.get(Meta.VOLUME_SETTING),
            configured_rotation=self._rotation,
            configured_volume=self._volume,
        )

    def _remember(self, decision: Decision) -> None:
        values: dict[Meta, str | None] = {Meta.VOLUME_SETTING: decision.volume_setting}
        if decision.forget_volume:
            values[Meta.VOLUME] = None
        elif decision.volume is not None:
            values[Meta.VOLUME] = str(decision.volume)
        if all(self._store.get(key) == value for key, value in values.items()):
            return
        try:
            self._store.set_many(values)
        except StoreError as exc:  # applied, not kept: a restart may apply it again
            log.warning("cannot keep the device's volume setting in the store: %s", exc)


def _stored_volume(store: Store, configured: int) -> int:
    """The volume in effect (a command's or a setting's), else the configured one."""
    try:
        return max(0, min(200, int(store.get(Meta.VOLUME) or configured)))
    except ValueError:
        return configured


__all__ = ["NO_SETTING", "Adjustable", "Decision", "ScreenSettings", "decide"]
