"""Interrupts: one playlist over every schedule of a device or a group, from now on.

A device or a group has at most one interrupt: setting a new one replaces the old (with a
new id, so the old one reaches its devices as a tombstone). It starts at the cloud's now and
lasts until `until` (which must be in the future), or until it is cleared. An expired one is
out of every view at once and deleted lazily (`cloud.expiry`). Setting or clearing one
records, for the devices it reaches (the device, or the group's members), the interrupt and
the playlist and assets that came into or left their view (`cloud.views.Fanout`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from cloud.admin_models import InterruptSummary, NewInterrupt
from cloud.devices import no_device
from cloud.errors import NotFound, Unprocessable
from cloud.expiry import purge_expired
from cloud.groups import no_group
from cloud.playlists import no_playlist
from cloud.store import Row, new_id
from cloud.views import Fanout, ViewWriter, epoch_text, instant_text, interrupt_data

log = logging.getLogger(__name__)


def interrupt_summary(row: Row) -> InterruptSummary:
    return InterruptSummary.model_validate({**interrupt_data(row), "device_id": row["device_id"]})


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class Interrupts(ViewWriter):
    def _reached(self, tenant_id: str, device_id: str | None, group_id: str | None) -> list[str]:
        devices = self._views.target(tenant_id, device_id=device_id, group_id=group_id)
        if devices is None:
            raise no_device(device_id) if device_id is not None else no_group(str(group_id))
        return devices

    def _current(self, tenant_id: str, device_id: str | None, group_id: str | None) -> Row | None:
        column, target = (
            ("device_id", device_id) if device_id is not None else ("group_id", group_id)
        )
        return self._db.one(
            f"SELECT * FROM interrupts WHERE tenant_id = ? AND {column} = ?",  # noqa: S608 - constants
            (tenant_id, target),
        )

    def set(
        self,
        *,
        tenant_id: str,
        interrupt: NewInterrupt,
        device_id: str | None = None,
        group_id: str | None = None,
    ) -> InterruptSummary:
        """Interrupt a device or a group (exactly one) from now on, replacing its interrupt."""
        clock = self._clock()
        now = datetime.fromtimestamp(clock, UTC)
        until = interrupt.until
        if interrupt.for_s is not None:
            until = now + timedelta(seconds=interrupt.for_s)
        if until is not None and until <= now:
            raise Unprocessable(
                f"until {until.isoformat()} is not in the future (the cloud's clock says "
                f"{now.isoformat(timespec='seconds')}): give a later time, or for_s"
            )
        interrupt_id = new_id("int")
        row = {
            "id": interrupt_id,
            "device_id": device_id,
            "group_id": group_id,
            "playlist_id": interrupt.playlist_id,
            "starts_at": instant_text(now),
            "until": None if until is None else instant_text(until),
        }
        try:
            summary = interrupt_summary(row)  # e.g. an until past the contract's last year
        except ValidationError as exc:
            raise Unprocessable(_first_problem(exc)) from None
        with self._db.write():
            devices = self._reached(tenant_id, device_id, group_id)
            if not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, interrupt.playlist_id),
            ):
                raise no_playlist(interrupt.playlist_id)
            now_text = epoch_text(clock)
            purge_expired(self._db, self._views, self._changelog, tenant_id=tenant_id, now=now_text)
            fanout = Fanout(self._views, self._changelog, tenant_id, devices, now=now_text)
            replaced = self._current(tenant_id, device_id, group_id)
            if replaced is not None:
                self._db.execute(
                    "DELETE FROM interrupts WHERE tenant_id = ? AND id = ?",
                    (tenant_id, replaced["id"]),
                )
            self._db.insert("interrupts", {**row, "tenant_id": tenant_id})
            fanout.record(self._db.next_seq(tenant_id))
        log.info(
            "tenant %s interrupted %s %s with playlist %s until %s (%d device(s))%s",
            tenant_id,
            "device" if device_id else "group",
            device_id or group_id,
            interrupt.playlist_id,
            row["until"] or "cleared",
            len(devices),
            f", replacing {replaced['id']}" if replaced is not None else "",
        )
        return summary

    def clear(
        self, *, tenant_id: str, device_id: str | None = None, group_id: str | None = None
    ) -> InterruptSummary:
        """End the interrupt of a device or a group now (404 when it has none)."""
        with self._db.write():
            devices = self._reached(tenant_id, device_id, group_id)
            now_text = epoch_text(self._clock())
            purge_expired(self._db, self._views, self._changelog, tenant_id=tenant_id, now=now_text)
            current = self._current(tenant_id, device_id, group_id)
            if current is None:
                what = f"device {device_id}" if device_id is not None else f"group {group_id}"
                raise NotFound(
                    f"{what} has no interrupt: `signage-cloud interrupt list` lists them"
                )
            fanout = Fanout(self._views, self._changelog, tenant_id, devices, now=now_text)
            self._db.execute(
                "DELETE FROM interrupts WHERE tenant_id = ? AND id = ?", (tenant_id, current["id"])
            )
            fanout.record(self._db.next_seq(tenant_id))
        log.info("tenant %s cleared interrupt %s", tenant_id, current["id"])
        return interrupt_summary(current)

    def list(self, tenant_id: str) -> list[InterruptSummary]:
        """The tenant's interrupts that have not expired, oldest first."""
        rows = self._db.all(
            "SELECT * FROM interrupts WHERE tenant_id = :tenant"
            " AND (until IS NULL OR until > :now) ORDER BY starts_at, id",
            {"tenant": tenant_id, "now": epoch_text(self._clock())},
        )
        return [interrupt_summary(row) for row in rows]

    def purge_expired(self) -> int:
        """Delete every tenant's expired interrupts, telling their devices (a server task)."""
        with self._db.write():
            return purge_expired(
                self._db,
                self._views,
                self._changelog,
                tenant_id=None,
                now=epoch_text(self._clock()),
            )


__all__ = ["Interrupts", "interrupt_summary"]
