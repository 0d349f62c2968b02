"""Applying a page of changes: the pure rules, apart from the store that carries them out.

A device holds objects by (kind, id), each with the highest version it has applied; a
deleted object keeps its version as a tombstone, so a late upsert of an older version
cannot bring it back. `plan_page` says what a page does to what the device holds:

- an upsert or a tombstone is applied when its version is higher than the one held;
  otherwise it is stale and changes nothing (a page applied twice is harmless);
- changes of kinds this agent does not know are set aside, to be logged and skipped;
- in a full listing, every object named is remembered (`listed`); once the listing's last
  page is applied, the store deletes what the listing did not name.

`apply_to` runs a plan on a plain dict: the reference the store's SQL is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sync.models import Change, StatePage, WireModel

Key = tuple[str, str]  # (kind, id)


@dataclass(frozen=True)
class Held:
    """What the device holds of one object: its version, and whether it is a tombstone."""

    version: int
    deleted: bool = False


@dataclass
class PagePlan:
    upserts: list[tuple[Key, int, WireModel]] = field(default_factory=list)
    deletes: list[tuple[Key, int]] = field(default_factory=list)
    stale: int = 0
    unknown_kinds: dict[str, int] = field(default_factory=dict)  # kind -> changes skipped
    listed: list[Key] = field(default_factory=list)  # named by a full listing


def plan_page(page: StatePage, held: Mapping[Key, Held]) -> PagePlan:
    """What applying `page` does, given what is held of the objects it names."""
    plan = PagePlan()
    for change in page.changes:
        key = (change.kind, change.id)
        if not change.known:
            plan.unknown_kinds[change.kind] = plan.unknown_kinds.get(change.kind, 0) + 1
            continue
        if page.full and not change.deleted:
            plan.listed.append(key)
        current = held.get(key)
        if current is not None and current.version >= change.version:
            plan.stale += 1
            continue
        if change.deleted:
            plan.deletes.append((key, change.version))
        else:
            assert change.object is not None  # a known kind's upsert is validated on entry
            plan.upserts.append((key, change.version, change.object))
    return plan


def apply_to(state: dict[Key, tuple[Held, WireModel | None]], plan: PagePlan) -> None:
    """Carry `plan` out on a plain dict of key -> (held, object or None for a tombstone)."""
    for key, version, obj in plan.upserts:
        state[key] = (Held(version), obj)
    for key, version in plan.deletes:
        state[key] = (Held(version, deleted=True), None)


def keys_of(changes: Iterable[Change]) -> list[Key]:
    return [(change.kind, change.id) for change in changes]


__all__ = ["Held", "Key", "PagePlan", "apply_to", "keys_of", "plan_page"]
