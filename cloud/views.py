"""What each device should hold (its view), and each object as the device receives it.

A device's view, by kind (the order of a full listing):

    device     its own record: name, default playlist, groups (in the order it joined), settings
    group      the groups it is in
    schedule   the schedule entries of the device and of those groups
    interrupt  the interrupts of the device and of those groups that have not expired
    playlist   every playlist one of the above names: its default, its groups' defaults, the
               entries' and the interrupts' playlists
    asset      the assets those playlists use
    command    the commands sent to it (or to a group it was in when they were sent) that
               it has not answered for good and that were not cancelled for it, until the
               notice after their expiry ends (`cloud.commands`)

`View` holds a device's view down to playlists (small: ids only); assets follow from its
playlists with one indexed query when needed, so a view costs a handful of queries however
large the playlists are. `Views.of` computes the views of many devices at once.

Writes use views twice (`Fanout`): the views of the devices a write concerns before it and
after it; what differs (plus the objects the write edited) is what those devices must be told,
with the assets that differ between the two sets of playlists found by one query per distinct
pair of sets (`Views.asset_changes`). `cloud.state` uses the current view to answer: a logged
change of an object in the view is an upsert, of one outside it a tombstone.

Instants (interrupts, `created_at` of entries) are stored as ISO text in UTC with microseconds
(`instant_text`), so that comparing texts compares instants and "not expired" is a plain
`until > :now` in SQL.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloud.changelog import ChangeLog
from cloud.store import Database, Row
from sync.models import ChangeKind

Key = tuple[str, str]  # (kind, object id)

# Order of a full listing, and the kinds a cursor may name.
LISTING_ORDER: tuple[ChangeKind, ...] = (
    ChangeKind.DEVICE,
    ChangeKind.GROUP,
    ChangeKind.SCHEDULE,
    ChangeKind.INTERRUPT,
    ChangeKind.PLAYLIST,
    ChangeKind.ASSET,
    ChangeKind.COMMAND,
)


def instant_text(moment: datetime) -> str:
    """An aware datetime as the cloud stores instants: ISO, UTC, microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def epoch_text(seconds: float) -> str:
    """Seconds since the epoch (the cloud's clock) as `instant_text`."""
    return instant_text(datetime.fromtimestamp(seconds, UTC))


def ids_json(ids: Iterable[str]) -> str:
    """Ids as one JSON array: one SQL parameter, read with `json_each`, however many."""
    return json.dumps(sorted(set(ids)))


IN_IDS = "(SELECT value FROM json_each({}))"  # `x IN` a JSON array parameter
# The items of given playlists: without it, `SELECT DISTINCT asset_id` may prefer the index
# by asset (sorted for DISTINCT) and read every item of the tenant.
BY_PLAYLIST = "playlist_items_by_playlist_asset"


def _in(parameter: str) -> str:
    return IN_IDS.format(parameter)


@dataclass(frozen=True)
class View:
    """A device's view down to playlists (see the module docstring)."""

    device_id: str
    playlist_id: str | None = None  # the device's own default
    group_ids: tuple[str, ...] = ()  # in the order it joined them
    entry_ids: frozenset[str] = frozenset()
    interrupt_ids: frozenset[str] = frozenset()
    playlist_ids: frozenset[str] = frozenset()
    command_ids: frozenset[str] = frozenset()

    def ids(self, kind: str) -> Collection[str]:
        """The ids of `kind` in the view; assets are not listed here (see `Views.assets`)."""
        if kind == ChangeKind.DEVICE:
            return (self.device_id,)
        if kind == ChangeKind.GROUP:
            return self.group_ids
        if kind == ChangeKind.SCHEDULE:
            return self.entry_ids
        if kind == ChangeKind.INTERRUPT:
            return self.interrupt_ids
        if kind == ChangeKind.PLAYLIST:
            return self.playlist_ids
        if kind == ChangeKind.COMMAND:
            return self.command_ids
        return ()

    def keys(self) -> set[Key]:
        """Every (kind, id) of the view but assets."""
        return {
            (str(kind), object_id)
            for kind in LISTING_ORDER
            if kind != ChangeKind.ASSET
            for object_id in self.ids(kind)
        }


@dataclass
class _Building:
    device_id: str
    playlist_id: str | None
    group_ids: list[str] = field(default_factory=list)
    entry_ids: set[str] = field(default_factory=set)
    interrupt_ids: set[str] = field(default_factory=set)
    playlist_ids: set[str] = field(default_factory=set)
    command_ids: set[str] = field(default_factory=set)

    def view(self) -> View:
        return View(
            device_id=self.device_id,
            playlist_id=self.playlist_id,
            group_ids=tuple(self.group_ids),
            entry_ids=frozenset(self.entry_ids),
            interrupt_ids=frozenset(self.interrupt_ids),
            playlist_ids=frozenset(self.playlist_ids),
            command_ids=frozenset(self.command_ids),
        )


class Views:
    """Read-only: views of devices, who holds what, and objects as devices receive them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # --- views ----------------------------------------------------------------------------

    def of(self, tenant_id: str, device_ids: Iterable[str], *, now: str | None) -> dict[str, View]:
        """{device id: view} of those of `device_ids` that are active devices of the tenant.

        `now` (an `instant_text`) leaves out the interrupts and commands that expired by then;
        None keeps them all (what a device may still hold of one that expired).
        """
        db = self._db
        wanted = ids_json(device_ids)
        building: dict[str, _Building] = {
            row["id"]: _Building(row["id"], row["playlist_id"])
            for row in db.all(
                "SELECT id, playlist_id FROM devices WHERE tenant_id = :tenant"  # noqa: S608 - constant
                f" AND revoked_at IS NULL AND id IN {_in(':ids')}",
                {"tenant": tenant_id, "ids": wanted},
            )
        }
        if not building:
            return {}
        devices = ids_json(building)
        members: dict[str, list[str]] = defaultdict(list)  # group id -> device ids
        for row in db.all(
            "SELECT device_id, group_id FROM group_members WHERE tenant_id = :tenant"  # noqa: S608 - constant
            f" AND device_id IN {_in(':ids')} ORDER BY device_id, joined_seq, group_id",
            {"tenant": tenant_id, "ids": devices},
        ):
            building[row["device_id"]].group_ids.append(row["group_id"])
            members[row["group_id"]].append(row["device_id"])
        groups = ids_json(members)
        for row in db.all(
            "SELECT id, playlist_id FROM groups WHERE tenant_id = :tenant"  # noqa: S608 - constant
            f" AND id IN {_in(':groups')}",  # by id: not `playlist_id IS NOT NULL`'s index
            {"tenant": tenant_id, "groups": groups},
        ):
            if row["playlist_id"] is None:
                continue
            for device_id in members[row["id"]]:
                building[device_id].playlist_ids.add(row["playlist_id"])
        params = {"tenant": tenant_id, "ids": devices, "groups": groups, "now": now or ""}
        for table, attribute, alive in (
            ("schedule_entries", "entry_ids", ""),
            ("interrupts", "interrupt_ids", " AND (until IS NULL OR until > :now)"),
        ):
            sql = (
                f"SELECT id, device_id, group_id, playlist_id FROM {table}"  # noqa: S608 - constants
                f" WHERE tenant_id = :tenant AND device_id IN {_in(':ids')}{alive}"
                f" UNION ALL SELECT id, device_id, group_id, playlist_id FROM {table}"
                f" WHERE tenant_id = :tenant AND group_id IN {_in(':groups')}{alive}"
            )
            for row in db.all(sql, params):
                targets = [row["device_id"]] if row["device_id"] else members[row["group_id"]]
                for device_id in targets:
                    getattr(building[device_id], attribute).add(row["id"])
                    building[device_id].playlist_ids.add(row["playlist_id"])
        # The open commands of these devices (not answered for good, not cancelled), until
        # the notice after their expiry ends (`offered_until`: a screen that was offline at
        # the expiry still gets the command and answers it `expired`; `cloud.commands`). By
        # the partial index of open targets: without it, SQLite may prefer the primary key
        # and read every command the tenant ever sent.
        for row in db.all(
            "SELECT t.device_id, t.command_id FROM command_targets t"  # noqa: S608 - constant
            " INDEXED BY command_targets_open_by_device JOIN commands c"
            " ON c.tenant_id = t.tenant_id AND c.id = t.command_id"
            f" WHERE t.tenant_id = :tenant AND t.device_id IN {_in(':ids')}"
            " AND t.state IN ('pending', 'started') AND t.cancelled_at IS NULL"
            " AND c.offered_until > :now",
            params,
        ):
            building[row["device_id"]].command_ids.add(row["command_id"])
        for built in building.values():
            if built.playlist_id is not None:
                built.playlist_ids.add(built.playlist_id)
        return {device_id: built.view() for device_id, built in building.items()}

    def one(self, tenant_id: str, device_id: str, *, now: str | None) -> View | None:
        return self.of(tenant_id, [device_id], now=now).get(device_id)

    # --- who holds what -------------------------------------------------------------------

    def target(
        self, tenant_id: str, *, device_id: str | None, group_id: str | None
    ) -> list[str] | None:
        """The devices an entry or interrupt of a device or of a group reaches (a group's
        members); None when that active device or that group is not the tenant's."""
        if device_id is not None:
            found = self._db.one(
                "SELECT id FROM devices WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
                (tenant_id, device_id),
            )
            return None if found is None else [device_id]
        if not self._db.one(
            "SELECT id FROM groups WHERE tenant_id = ? AND id = ?", (tenant_id, group_id)
        ):
            return None
        return sorted(self.members(tenant_id, [str(group_id)]))

    def members(self, tenant_id: str, group_ids: Iterable[str]) -> set[str]:
        """The devices in any of `group_ids`."""
        return {
            row["device_id"]
            for row in self._db.all(
                "SELECT device_id FROM group_members WHERE tenant_id = :tenant"  # noqa: S608 - constant
                f" AND group_id IN {_in(':groups')}",
                {"tenant": tenant_id, "groups": ids_json(group_ids)},
            )
        }

    def holding_playlists(
        self, tenant_id: str, playlist_ids: Iterable[str], *, now: str
    ) -> set[str]:
        """The active devices whose view holds one of `playlist_ids`."""
        params = {"tenant": tenant_id, "playlists": ids_json(playlist_ids), "now": now}
        playlists = _in(":playlists")
        alive = "(until IS NULL OR until > :now)"
        # Entries and interrupts by the playlist index (a NULL device or group id is dropped
        # at the end), never by scanning every entry of the tenant's devices.
        sql = (
            "WITH via_groups(id) AS ("  # noqa: S608 - constants
            f" SELECT id FROM groups WHERE tenant_id = :tenant AND playlist_id IN {playlists}"
            " UNION SELECT group_id FROM schedule_entries WHERE tenant_id = :tenant"
            f" AND playlist_id IN {playlists}"
            " UNION SELECT group_id FROM interrupts WHERE tenant_id = :tenant"
            f" AND playlist_id IN {playlists} AND {alive})"
            " SELECT id FROM devices WHERE tenant_id = :tenant AND revoked_at IS NULL"
            f" AND playlist_id IN {playlists}"
            " UNION SELECT device_id FROM schedule_entries WHERE tenant_id = :tenant"
            f" AND playlist_id IN {playlists}"
            " UNION SELECT device_id FROM interrupts WHERE tenant_id = :tenant"
            f" AND playlist_id IN {playlists} AND {alive}"
            " UNION SELECT device_id FROM group_members WHERE tenant_id = :tenant"
            " AND group_id IN via_groups"
        )
        return {row["id"] for row in self._db.all(sql, params) if row["id"] is not None}

    def playlists_using(self, tenant_id: str, asset_id: str) -> list[str]:
        """The playlists that use an asset, by id."""
        return [
            row["playlist_id"]
            for row in self._db.all(
                "SELECT DISTINCT playlist_id FROM playlist_items"
                " WHERE tenant_id = ? AND asset_id = ? ORDER BY playlist_id",
                (tenant_id, asset_id),
            )
        ]

    def assets_of(self, tenant_id: str, playlist_ids: Iterable[str]) -> set[str]:
        """The assets any of `playlist_ids` uses."""
        return {
            row["asset_id"]
            for row in self._db.all(
                "SELECT DISTINCT asset_id FROM playlist_items"  # noqa: S608 - constant
                f" INDEXED BY {BY_PLAYLIST} WHERE tenant_id = :tenant"
                f" AND playlist_id IN {_in(':playlists')}",
                {"tenant": tenant_id, "playlists": ids_json(playlist_ids)},
            )
        }

    def used_by(
        self, tenant_id: str, asset_ids: Iterable[str], playlist_ids: Iterable[str]
    ) -> set[str]:
        """Those of `asset_ids` that one of `playlist_ids` uses."""
        return {
            row["asset_id"]
            for row in self._db.all(
                "SELECT DISTINCT asset_id FROM playlist_items WHERE tenant_id = :tenant"  # noqa: S608 - constant
                f" AND asset_id IN {_in(':assets')} AND playlist_id IN {_in(':playlists')}",
                {
                    "tenant": tenant_id,
                    "assets": ids_json(asset_ids),
                    "playlists": ids_json(playlist_ids),
                },
            )
        }

    def asset_changes(
        self, tenant_id: str, before: Collection[str], after: Collection[str]
    ) -> set[str]:
        """The assets used by the playlists `before` or by those `after`, but not by both."""
        changed = set(before) ^ set(after)
        if not changed:
            return set()
        uses = (
            "EXISTS (SELECT 1 FROM playlist_items i WHERE i.tenant_id = :tenant"
            " AND i.asset_id = c.asset_id AND i.playlist_id IN {})"
        )
        sql = (
            "SELECT c.asset_id FROM (SELECT DISTINCT asset_id FROM playlist_items"  # noqa: S608 - constants
            f" INDEXED BY {BY_PLAYLIST} WHERE tenant_id = :tenant"
            f" AND playlist_id IN {_in(':changed')}) AS c"
            f" WHERE {uses.format(_in(':before'))} <> {uses.format(_in(':after'))}"
        )
        params = {
            "tenant": tenant_id,
            "changed": ids_json(changed),
            "before": ids_json(before),
            "after": ids_json(after),
        }
        return {row["asset_id"] for row in self._db.all(sql, params)}

    # --- objects as a device receives them ------------------------------------------------

    def device_data(self, tenant_id: str, view: View) -> dict[str, Any] | None:
        row = self._db.one(
            "SELECT id, name, tenant_id, playlist_id, timezone, on_switch, rotation, volume"
            " FROM devices"
            " WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
            (tenant_id, view.device_id),
        )
        if row is None:
            return None
        return {
            "id": row["id"],
            "name": row["name"],
            "tenant_id": row["tenant_id"],
            "playlist_id": row["playlist_id"],
            "group_ids": list(view.group_ids),
            "timezone": row["timezone"],
            "on_switch": row["on_switch"],
            "rotation": row["rotation"],
            "volume": row["volume"],
        }

    def groups_data(self, tenant_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            row["id"]: {"id": row["id"], "name": row["name"], "playlist_id": row["playlist_id"]}
            for row in self._by_ids("groups", "id, name, playlist_id", tenant_id, ids)
        }

    def entries_data(self, tenant_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            row["id"]: entry_data(row)
            for row in self._by_ids("schedule_entries", "*", tenant_id, ids)
        }

    def interrupts_data(self, tenant_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {
            row["id"]: interrupt_data(row)
            for row in self._by_ids("interrupts", "*", tenant_id, ids)
        }

    def commands_data(self, tenant_id: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        columns = "id, kind, args, created_at, expires_at"
        return {
            row["id"]: command_data(row)
            for row in self._by_ids("commands", columns, tenant_id, ids)
        }

    def _by_ids(self, table: str, columns: str, tenant_id: str, ids: Iterable[str]) -> list[Row]:
        return self._db.all(
            f"SELECT {columns} FROM {table} WHERE tenant_id = :tenant"  # noqa: S608 - constants
            f" AND id IN {_in(':ids')} ORDER BY id",
            {"tenant": tenant_id, "ids": ids_json(ids)},
        )

    def playlist_data(self, tenant_id: str, playlist_id: str) -> dict[str, Any] | None:
        row = self._db.one(
            "SELECT id, name FROM playlists WHERE tenant_id = ? AND id = ?",
            (tenant_id, playlist_id),
        )
        if row is None:
            return None
        cursor = self._db.sqlite.conn.execute(
            "SELECT asset_id, position, duration_ms, valid_from, valid_until FROM playlist_items"
            " WHERE tenant_id = ? AND playlist_id = ? ORDER BY position",
            (tenant_id, playlist_id),
        )
        items = []
        for asset_id, position, duration_ms, valid_from, valid_until in cursor:
            item: dict[str, Any] = {
                "asset_id": asset_id,
                "position": position,
                "duration_ms": duration_ms,
            }
            # Sent only when set: a 10,000-item playlist stays as small as it was.
            if valid_from is not None:
                item["valid_from"] = valid_from
            if valid_until is not None:
                item["valid_until"] = valid_until
            items.append(item)
        return {"id": row["id"], "name": row["name"], "items": items}

    def assets_data(
        self, tenant_id: str, asset_ids: Iterable[str], playlist_ids: Collection[str]
    ) -> dict[str, dict[str, Any]]:
        """{id: data} of those of `asset_ids` that exist and one of `playlist_ids` uses."""
        sql = (
            "SELECT id, name, sha256, media_type, size, url FROM assets a"  # noqa: S608 - constants
            f" WHERE tenant_id = :tenant AND id IN {_in(':ids')} AND EXISTS (SELECT 1"
            " FROM playlist_items i WHERE i.tenant_id = a.tenant_id AND i.asset_id = a.id"
            f" AND i.playlist_id IN {_in(':playlists')})"
        )
        params = {
            "tenant": tenant_id,
            "ids": ids_json(asset_ids),
            "playlists": ids_json(playlist_ids),
        }
        return {row["id"]: asset_data(row) for row in self._db.all(sql, params)}

    def listed_assets(
        self, tenant_id: str, playlist_ids: Collection[str], *, after_id: str, count: int
    ) -> list[tuple[str, dict[str, Any]]]:
        """The first `count` assets after `after_id` (by id) that `playlist_ids` use."""
        sql = (
            "SELECT id, name, sha256, media_type, size, url FROM assets"  # noqa: S608 - constants
            " WHERE tenant_id = :tenant AND id > :after AND id IN (SELECT asset_id"
            " FROM playlist_items WHERE tenant_id = :tenant"
            f" AND playlist_id IN {_in(':playlists')}) ORDER BY id LIMIT :count"
        )
        params = {
            "tenant": tenant_id,
            "after": after_id,
            "playlists": ids_json(playlist_ids),
            "count": count,
        }
        return [(row["id"], asset_data(row)) for row in self._db.all(sql, params)]


def asset_data(row: Row) -> dict[str, Any]:
    """An `assets` row as an `Asset`: a stream with its `url` (sent only for a stream, so a
    file's asset is what it was before streams)."""
    data = {
        "id": row["id"],
        "name": row["name"],
        "sha256": row["sha256"],
        "media_type": row["media_type"],
        "size": row["size"],
    }
    if row["url"] is not None:
        data["url"] = row["url"]
    return data


def entry_data(row: Row) -> dict[str, Any]:
    """A `schedule_entries` row as a `ScheduleEntry`."""
    return {
        "id": row["id"],
        "playlist_id": row["playlist_id"],
        "group_id": row["group_id"],
        "days": row["days"].split(",") if row["days"] else [],
        "from_time": row["from_time"],
        "to_time": row["to_time"],
        "start_date": row["start_date"],
        "end_date": row["end_date"],
        "priority": row["priority"],
        "timezone": row["timezone"],
        "on_switch": row["on_switch"],
        "created_at": row["created_at"],
    }


def interrupt_data(row: Row) -> dict[str, Any]:
    """An `interrupts` row as an `Interrupt`."""
    return {
        "id": row["id"],
        "playlist_id": row["playlist_id"],
        "group_id": row["group_id"],
        "starts_at": row["starts_at"],
        "until": row["until"],
    }


def command_data(row: Row) -> dict[str, Any]:
    """A `commands` row as a `Command`."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "args": json.loads(row["args"]),
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
    }


class Fanout:
    """The change-log rows of one write: the views of the devices it concerns, before and after.

        fanout = Fanout(views, changelog, tenant_id, device_ids, now=now)   # before the write
        ...                                                                 # the write
        fanout.record(db.next_seq(tenant_id), changed=[(kind, id), ...])   # after it

    Each device gets a row for every object that entered or left its view, for the assets
    used by the playlists it gained or lost but not by both, and for each of `changed` (the
    objects the write edited) that is in its view before or after. A device whose view did
    not change and holds none of `changed` gets nothing and is not woken.
    """

    def __init__(
        self,
        views: Views,
        changelog: ChangeLog,
        tenant_id: str,
        device_ids: Iterable[str],
        *,
        now: str,
        expired_held: bool = False,
    ) -> None:
        self._views = views
        self._changelog = changelog
        self.tenant_id = tenant_id
        self.now = now
        self.device_ids = set(device_ids)
        # expired_held: count expired interrupts as held before the write (their purge).
        self._before = views.of(tenant_id, self.device_ids, now=None if expired_held else now)

    def changes(self, changed: Iterable[Key] = ()) -> dict[str, set[Key]]:
        """{device id: the (kind, id) pairs to record for it}; call after the write."""
        after = self._views.of(self.tenant_id, self.device_ids, now=self.now)
        edited = {(str(kind), object_id) for kind, object_id in changed}
        empty = View(device_id="")
        assets_by_pair: dict[tuple[frozenset[str], frozenset[str]], frozenset[Key]] = {}
        rows: dict[str, set[Key]] = {}
        for device_id in self.device_ids:
            old = self._before.get(device_id, empty)
            new = after.get(device_id, empty)
            old_keys, new_keys = old.keys(), new.keys()
            keys = (old_keys ^ new_keys) | (edited & (old_keys | new_keys))
            pair = (old.playlist_ids, new.playlist_ids)
            if pair[0] != pair[1]:
                if pair not in assets_by_pair:  # members of a group share one query
                    assets = self._views.asset_changes(self.tenant_id, *pair)
                    assets_by_pair[pair] = frozenset((str(ChangeKind.ASSET), a) for a in assets)
                keys |= assets_by_pair[pair]
            if keys:
                rows[device_id] = keys
        return rows

    def record(self, seq: int, changed: Iterable[Key] = ()) -> dict[str, set[Key]]:
        """Record (and wake) what changed for each device at `seq`; the rows, by device."""
        rows = self.changes(changed)
        self._changelog.record_each(self.tenant_id, seq, rows)
        return rows


class ViewWriter:
    """What the services share that work on what devices see (devices, groups, schedule
    entries, interrupts, commands, a device's state pages): the database, the change log,
    the views, and the clock their reads and writes are dated by. A write takes a `Fanout`
    of the devices it concerns before, and records it after."""

    def __init__(
        self,
        db: Database,
        changelog: ChangeLog,
        views: Views,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._changelog = changelog
        self._views = views
        self._clock = clock


__all__ = [
    "LISTING_ORDER",
    "Fanout",
    "Key",
    "View",
    "ViewWriter",
    "Views",
    "asset_data",
    "command_data",
    "entry_data",
    "epoch_text",
    "ids_json",
    "instant_text",
    "interrupt_data",
]
