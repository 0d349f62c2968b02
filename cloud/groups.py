"""Groups of devices: a default playlist, schedule entries and an interrupt for many screens.

A device may be in several groups (at most `MAX_GROUPS_PER_DEVICE`); its record lists them
in the order it joined (`group_members.joined_seq`), which is the order in which their
default playlists are tried when the device has none of its own (`player.schedule`).

Every write records, in its transaction, what changed for the devices it concerns
(`cloud.views.Fanout`):

    create                nobody (a group without members concerns no device)
    add / remove devices  those devices: their record, the group, its entries and interrupt,
                          and the playlists and assets that came into or left their view
    assign a playlist     every member: the group; the new playlist and its assets where the
                          member did not hold them; tombstones for what only the old one brought
    delete                every member: its record, tombstones for the group, its entries and
                          interrupt, and for what only they brought
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cloud.admin_models import MAX_GROUPS, GroupSummary
from cloud.devices import no_device
from cloud.errors import NotFound, Unprocessable
from cloud.playlists import no_playlist
from cloud.store import Row, new_id, utc_now_iso
from cloud.views import Fanout, ViewWriter, epoch_text, ids_json
from sync.models import MAX_GROUPS_PER_DEVICE, ChangeKind

log = logging.getLogger(__name__)

_GROUP_WITH_COUNT = (
    "SELECT g.id, g.name, g.playlist_id, g.created_at,"
    " (SELECT COUNT(*) FROM group_members m"
    "  WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id) AS devices"
    " FROM groups g"
)


def no_group(group_id: str) -> NotFound:
    return NotFound(f"no group {group_id} in this tenant: `signage-cloud group list` lists them")


def group_summary(row: Row) -> GroupSummary:
    return GroupSummary(
        id=row["id"],
        name=row["name"],
        playlist_id=row["playlist_id"],
        devices=row["devices"],
        created_at=row["created_at"],
    )


def _shown(ids: Sequence[str]) -> str:
    more = f" (and {len(ids) - 3} more)" if len(ids) > 3 else ""
    return ", ".join(ids[:3]) + more


class Groups(ViewWriter):
    def _fanout(self, tenant_id: str, device_ids: set[str]) -> Fanout:
        return Fanout(
            self._views, self._changelog, tenant_id, device_ids, now=epoch_text(self._clock())
        )

    def _summary(self, tenant_id: str, group_id: str) -> GroupSummary:
        row = self._db.one(
            f"{_GROUP_WITH_COUNT} WHERE g.tenant_id = ? AND g.id = ?", (tenant_id, group_id)
        )
        if row is None:
            raise no_group(group_id)
        return group_summary(row)

    def create(self, *, tenant_id: str, name: str) -> GroupSummary:
        """A new group without devices (it concerns nobody yet)."""
        group_id = new_id("grp")
        with self._db.write():
            count = self._db.one(
                "SELECT COUNT(*) AS n FROM groups WHERE tenant_id = ?", (tenant_id,)
            )
            if count is not None and count["n"] >= MAX_GROUPS:
                raise Unprocessable(
                    f"this tenant has {MAX_GROUPS} groups, the most it may have: delete one "
                    "first (`signage-cloud group delete`)"
                )
            self._db.insert(
                "groups",
                {
                    "id": group_id,
                    "tenant_id": tenant_id,
                    "name": name,
                    "playlist_id": None,
                    "created_at": utc_now_iso(),
                },
            )
            summary = self._summary(tenant_id, group_id)
        log.info("tenant %s created group %s %r", tenant_id, group_id, name)
        return summary

    def list(self, tenant_id: str) -> list[GroupSummary]:
        """The tenant's groups, oldest first, with how many devices each has."""
        rows = self._db.all(
            f"{_GROUP_WITH_COUNT} WHERE g.tenant_id = ? ORDER BY g.created_at, g.id",
            (tenant_id,),
        )
        return [group_summary(row) for row in rows]

    def change_members(
        self, *, tenant_id: str, group_id: str, add: Sequence[str], remove: Sequence[str]
    ) -> GroupSummary:
        """Add devices to the group and take others out; all of them or, on a refusal, none."""
        with self._db.write():
            self._summary(tenant_id, group_id)
            named = sorted(set(add) | set(remove))
            found = {
                row["id"]
                for row in self._db.all(
                    "SELECT id FROM devices WHERE tenant_id = :tenant AND revoked_at IS NULL"
                    " AND id IN (SELECT value FROM json_each(:ids))",
                    {"tenant": tenant_id, "ids": ids_json(named)},
                )
            }
            missing = [device_id for device_id in named if device_id not in found]
            if missing:
                raise no_device(_shown(missing))
            members = self._views.members(tenant_id, [group_id])
            joining = sorted(set(add) - members)
            leaving = sorted(set(remove) & members)
            self._refuse_too_many_groups(tenant_id, joining)
            if not joining and not leaving:
                return self._summary(tenant_id, group_id)
            fanout = self._fanout(tenant_id, {*joining, *leaving})
            seq = self._db.next_seq(tenant_id)
            self._db.insert_many(
                "group_members",
                ("tenant_id", "group_id", "device_id", "joined_seq"),
                [(tenant_id, group_id, device_id, seq) for device_id in joining],
            )
            self._db.execute(
                "DELETE FROM group_members WHERE tenant_id = :tenant AND group_id = :group"
                " AND device_id IN (SELECT value FROM json_each(:ids))",
                {"tenant": tenant_id, "group": group_id, "ids": ids_json(leaving)},
            )
            fanout.record(seq, [(ChangeKind.DEVICE, device_id) for device_id in fanout.device_ids])
            summary = self._summary(tenant_id, group_id)
        log.info(
            "tenant %s: %d device(s) joined and %d left group %s",
            tenant_id,
            len(joining),
            len(leaving),
            group_id,
        )
        return summary

    def _refuse_too_many_groups(self, tenant_id: str, joining: list[str]) -> None:
        full = [
            row["device_id"]
            for row in self._db.all(
                "SELECT device_id FROM group_members WHERE tenant_id = :tenant"
                " AND device_id IN (SELECT value FROM json_each(:ids))"
                " GROUP BY device_id HAVING COUNT(*) >= :most ORDER BY device_id",
                {"tenant": tenant_id, "ids": ids_json(joining), "most": MAX_GROUPS_PER_DEVICE},
            )
        ]
        if full:
            raise Unprocessable(
                f"device {_shown(full)} is already in {MAX_GROUPS_PER_DEVICE} groups, the most "
                "a device may be in: take it out of one first (`signage-cloud group remove`)"
            )

    def assign_playlist(
        self, *, tenant_id: str, group_id: str, playlist_id: str | None
    ) -> GroupSummary:
        """Make `playlist_id` the group's default (None: none); its members get the change."""
        with self._db.write():
            self._summary(tenant_id, group_id)
            if playlist_id is not None and not self._db.one(
                "SELECT id FROM playlists WHERE tenant_id = ? AND id = ?",
                (tenant_id, playlist_id),
            ):
                raise no_playlist(playlist_id)
            fanout = self._fanout(tenant_id, self._views.members(tenant_id, [group_id]))
            self._db.execute(
                "UPDATE groups SET playlist_id = ? WHERE tenant_id = ? AND id = ?",
                (playlist_id, tenant_id, group_id),
            )
            fanout.record(self._db.next_seq(tenant_id), [(ChangeKind.GROUP, group_id)])
            summary = self._summary(tenant_id, group_id)
        log.info(
            "tenant %s made %s the default of group %s (%d devices)",
            tenant_id,
            playlist_id or "nothing",
            group_id,
            summary.devices,
        )
        return summary

    def delete(self, *, tenant_id: str, group_id: str) -> GroupSummary:
        """Delete the group with its memberships, schedule entries and interrupt."""
        with self._db.write():
            summary = self._summary(tenant_id, group_id)
            fanout = self._fanout(tenant_id, self._views.members(tenant_id, [group_id]))
            for table, column in (
                ("interrupts", "group_id"),
                ("schedule_entries", "group_id"),
                ("group_members", "group_id"),
                ("groups", "id"),
            ):
                self._db.execute(
                    f"DELETE FROM {table} WHERE tenant_id = ? AND {column} = ?",  # noqa: S608 - constants
                    (tenant_id, group_id),
                )
            fanout.record(
                self._db.next_seq(tenant_id),
                [(ChangeKind.DEVICE, device_id) for device_id in fanout.device_ids],
            )
        log.info("tenant %s deleted group %s %r", tenant_id, group_id, summary.name)
        return summary


__all__ = ["Groups", "group_summary", "no_group"]
