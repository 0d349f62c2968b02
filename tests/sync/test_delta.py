"""`sync.delta`: the rules of applying pages, on plain data (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync.delta import Held, apply_to, plan_page
from sync.models import StatePage

SHA = "a" * 64


def asset(id_: str, name: str = "n") -> dict[str, Any]:
    return {"id": id_, "name": name, "sha256": SHA, "media_type": "image", "size": 1}


def change(kind: str, id_: str, version: int, deleted: bool, name: str = "n") -> dict[str, Any]:
    if deleted:
        return {"kind": kind, "id": id_, "version": version, "deleted": True}
    data = (
        asset(id_, name)
        if kind == "asset"
        else {"id": id_, "name": name, "items": []}
        if kind == "playlist"
        else {"x": 1}
    )
    return {"kind": kind, "id": id_, "version": version, "data": data}


KEYS = st.sampled_from(
    [("asset", "a1"), ("asset", "a2"), ("asset", "a3"), ("playlist", "p1"), ("weather", "w1")]
)


@st.composite
def pages(draw: st.DrawFn) -> StatePage:
    keys = draw(st.lists(KEYS, unique=True, max_size=5))
    changes = []
    for kind, id_ in keys:
        version, deleted = draw(st.integers(1, 30)), draw(st.booleans())
        changes.append(change(kind, id_, version, deleted, draw(st.text("xyz", max_size=3))))
    return StatePage.model_validate({"cursor": "c", "changes": changes})


def run(page_list: list[StatePage]) -> dict:
    state: dict = {}
    for page in page_list:
        apply_to(state, plan_page(page, {k: held for k, (held, _) in state.items()}))
    return state


@given(st.lists(pages(), max_size=8))
def test_applying_every_page_twice_is_the_same_as_once(page_list: list[StatePage]) -> None:
    assert run([p for page in page_list for p in (page, page)]) == run(page_list)


@given(st.lists(pages(), max_size=8))
def test_each_object_ends_at_the_highest_version_it_was_sent(page_list: list[StatePage]) -> None:
    state = run(page_list)
    highest: dict = {}
    for page in page_list:
        for c in page.changes:
            if c.known:
                highest[(c.kind, c.id)] = max(highest.get((c.kind, c.id), 0), c.version)
    assert {key: held.version for key, (held, _) in state.items()} == highest


@given(pages())
def test_unknown_kinds_are_set_aside_and_never_applied(page: StatePage) -> None:
    plan = plan_page(page, {})
    unknown = [c for c in page.changes if not c.known]
    assert sum(plan.unknown_kinds.values()) == len(unknown)
    changed = [key for key, _, _ in plan.upserts] + [key for key, _ in plan.deletes]
    assert all(kind != "weather" for kind, _ in changed)


def test_an_older_upsert_never_revives_a_deleted_object() -> None:
    page = StatePage.model_validate({"cursor": "c", "changes": [change("asset", "a1", 4, False)]})
    plan = plan_page(page, {("asset", "a1"): Held(5, deleted=True)})
    assert plan.upserts == [] and plan.stale == 1
