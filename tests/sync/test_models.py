"""The device-facing wire models as pure logic: what they accept and what they refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sync.answers import first_problem
from sync.models import CONTROL_CHARACTERS, MAX_NAME_CHARS, StateSnapshot

SHA = "ab" * 32
FORBIDDEN = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=FORBIDDEN),
    max_size=MAX_NAME_CHARS,
)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """A valid state answer: unique asset ids and positions, every item's asset present."""
    asset_ids = draw(st.lists(st.from_regex(r"ast_[0-9a-f]{1,16}", fullmatch=True), unique=True))
    assets = [
        {
            "id": asset_id,
            "name": draw(names),
            "sha256": SHA,
            "media_type": draw(st.sampled_from(["image", "video"])),
            "size": draw(st.integers(0, 1 << 40)),
        }
        for asset_id in asset_ids
    ]
    playlist = None
    if asset_ids and draw(st.booleans()):
        positions = draw(st.lists(st.integers(0, 2**31 - 1), unique=True, max_size=20))
        items = [
            {
                "asset_id": draw(st.sampled_from(asset_ids)),
                "position": position,
                "duration_ms": draw(st.none() | st.integers(1, 86_400_000)),
            }
            for position in positions
        ]
        playlist = {"id": "pl_1", "name": draw(names), "items": items}
    return {
        "cursor": "rev.1",
        "device": {"id": "dev_1", "name": draw(names), "tenant_id": "ten_1"},
        "playlist": playlist,
        "assets": assets,
    }


@given(snapshots())
def test_every_valid_snapshot_parses_as_sent(state: dict[str, Any]) -> None:
    parsed = StateSnapshot.model_validate_json(json.dumps(state))
    assert parsed.model_dump(mode="json") == state


@given(snapshots(), st.data())
def test_a_repeated_asset_id_is_refused(state: dict[str, Any], data: st.DataObject) -> None:
    if not state["assets"]:
        state["assets"].append(
            {"id": "ast_x", "name": "", "sha256": SHA, "media_type": "image", "size": 0}
        )
    repeated = data.draw(st.sampled_from(state["assets"]))
    state["assets"].insert(data.draw(st.integers(0, len(state["assets"]))), dict(repeated))
    with pytest.raises(ValidationError) as info:
        StateSnapshot.model_validate_json(json.dumps(state))
    assert f"id {repeated['id']!r} appears twice" in first_problem(info.value)


@given(snapshots(), st.data())
def test_an_item_whose_asset_is_missing_is_refused(
    state: dict[str, Any], data: st.DataObject
) -> None:
    if state["playlist"] is None or not state["playlist"]["items"]:
        return
    missing = data.draw(st.sampled_from(state["playlist"]["items"]))["asset_id"]
    state["assets"] = [asset for asset in state["assets"] if asset["id"] != missing]
    with pytest.raises(ValidationError) as info:
        StateSnapshot.model_validate_json(json.dumps(state))
    assert f"asset_id {missing!r} is not in assets" in first_problem(info.value)


@given(names, st.sampled_from(FORBIDDEN), st.data())
def test_a_name_with_a_control_character_anywhere_is_refused(
    name: str, control: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(name)))
    state = {
        "cursor": "rev.1",
        "device": {"id": "dev_1", "name": name[:at] + control + name[at:], "tenant_id": "t"},
        "playlist": None,
        "assets": [],
    }
    with pytest.raises(ValidationError) as info:
        StateSnapshot.model_validate_json(json.dumps(state))
    problem = first_problem(info.value)
    assert problem.startswith("device.name: ")
    assert f"U+{ord(control):04X}" in problem or len(name) + 1 > MAX_NAME_CHARS
    assert not CONTROL_CHARACTERS.search(problem)


def test_the_forbidden_characters_are_exactly_c0_del_c1_and_the_unicode_separators() -> None:
    assert [chr(c) for c in range(0x110000) if CONTROL_CHARACTERS.match(chr(c))] == FORBIDDEN
