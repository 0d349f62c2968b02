"""The device-facing wire models as pure logic: what they accept and what they refuse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sync.answers import first_problem
from sync.models import CONTROL_CHARACTERS, MAX_NAME_CHARS, Asset, StatePage, stream_sha256

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


def as_page(state: dict[str, Any]) -> dict[str, Any]:
    """The same content as a full listing of delta sync."""
    device = {**state["device"], "playlist_id": (state["playlist"] or {}).get("id")}
    objects = [("device", device)]
    if state["playlist"] is not None:
        objects.append(("playlist", state["playlist"]))
    objects += [("asset", asset) for asset in state["assets"]]
    changes = [
        {"kind": kind, "id": obj["id"], "version": 1, "deleted": False, "data": obj}
        for kind, obj in objects
    ]
    return {"cursor": "rev.1", "full": True, "more": False, "changes": changes}


@given(snapshots())
def test_every_valid_page_parses_as_sent(state: dict[str, Any]) -> None:
    page = as_page(state)
    parsed = StatePage.model_validate_json(json.dumps(page))
    assert parsed.model_dump(mode="json") == page
    assert all(change.object is not None for change in parsed.changes)


@given(snapshots(), st.data())
def test_an_object_named_twice_in_a_page_is_refused(
    state: dict[str, Any], data: st.DataObject
) -> None:
    page = as_page(state)
    repeated = data.draw(st.sampled_from(page["changes"]))
    page["changes"].insert(data.draw(st.integers(0, len(page["changes"]))), dict(repeated))
    with pytest.raises(ValidationError) as info:
        StatePage.model_validate_json(json.dumps(page))
    assert f"{repeated['kind']} {repeated['id']!r} appears twice" in first_problem(info.value)


@given(snapshots(), st.data())
def test_a_playlist_with_a_repeated_position_is_refused(
    state: dict[str, Any], data: st.DataObject
) -> None:
    if state["playlist"] is None or not state["playlist"]["items"]:
        return
    items = state["playlist"]["items"]
    items.append(dict(data.draw(st.sampled_from(items))))
    with pytest.raises(ValidationError) as info:
        StatePage.model_validate_json(json.dumps(as_page(state)))
    assert "appears twice" in first_problem(info.value)


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
        StatePage.model_validate_json(json.dumps(as_page(state)))
    problem = first_problem(info.value)
    assert problem.startswith("changes[0].name: ")
    assert f"U+{ord(control):04X}" in problem or len(name) + 1 > MAX_NAME_CHARS
    assert not CONTROL_CHARACTERS.search(problem)


def test_an_unknown_kind_is_kept_for_skipping_and_a_known_one_must_match_its_id() -> None:
    page = StatePage.model_validate(
        {"cursor": "c", "changes": [{"kind": "weather", "id": "w", "version": 1, "data": {}}]}
    )
    assert not page.changes[0].known and page.changes[0].object is None
    with pytest.raises(ValidationError, match="not the change's id"):
        StatePage.model_validate(
            {"cursor": "c", "changes": [{"kind": "device", "id": "d1", "version": 1,
             "data": {"id": "d2", "name": "x", "tenant_id": "t"}}]}
        )  # fmt: skip
    with pytest.raises(ValidationError, match="not both"):
        StatePage.model_validate(
            {"cursor": "c", "changes": [{"kind": "asset", "id": "a", "version": 1,
             "deleted": True, "data": {}}]}
        )  # fmt: skip


def test_the_forbidden_characters_are_exactly_c0_del_c1_and_the_unicode_separators() -> None:
    assert [chr(c) for c in range(0x110000) if CONTROL_CHARACTERS.match(chr(c))] == FORBIDDEN


def test_a_stream_asset_has_a_url_its_sha256_and_no_size() -> None:
    url = "https://cams.example/lobby/index.m3u8"
    stream = Asset(id="as_s", name="Lobby cam", sha256=stream_sha256(url), media_type="stream",
                   size=0, url=url)  # fmt: skip
    assert stream.url == url
    refused = [
        {"media_type": "stream", "url": None},  # a stream without a url
        {"media_type": "image", "url": url},  # a url on a file
        {"media_type": "stream", "url": url, "size": 10},
        {"media_type": "stream", "url": url, "sha256": "a" * 64},
        {"media_type": "stream", "url": "file:///etc/passwd"},
        {"media_type": "stream", "url": "javascript:alert(1)"},
        {"media_type": "stream", "url": "http:///no-host"},
        {"media_type": "stream", "url": "http://host/with space"},
        {"media_type": "stream", "url": "rtsp://cam/\x00"},
        {"media_type": "stream", "url": "https://h/" + "a" * 3000},
    ]
    for change in refused:
        data = {**stream.model_dump(), **change}
        if change.get("url") and "sha256" not in change:
            data["sha256"] = stream_sha256(change["url"])
        with pytest.raises(ValidationError):
            Asset.model_validate(data)
    for good in ("http://10.0.0.5:8080/live.ts", "rtsp://user:pw@cam.local:554/stream1"):
        assert (
            Asset.model_validate(
                {**stream.model_dump(), "url": good, "sha256": stream_sha256(good)}
            ).url
            == good
        )
