"""The device's rotation and volume settings (agent.screen_settings): the rule alone, over
every order of settings and commands (hypothesis), then with a real store file and the
real renderer (libvlc's dummy output) as the daemon wires them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.screen_settings import NO_SETTING, ScreenSettings, decide
from agent.store import Meta, Store
from player import VlcRenderer, choose_video_output
from sync.models import DeviceRecord
from tests.support.pages import page, upsert

ME = DeviceRecord(id="dev-1", name="Lobby", tenant_id="t-1")
CONFIGURED_ROTATION, CONFIGURED_VOLUME = 180, 80


def record(rotation: int | None = None, volume: int | None = None) -> DeviceRecord:
    return ME.model_copy(update={"rotation": rotation, "volume": volume})


def test_the_records_rotation_wins_and_none_leaves_the_configured_one() -> None:
    def rotation(rec: DeviceRecord | None) -> int:
        return decide(
            rec, applied_setting=None, configured_rotation=90, configured_volume=50
        ).rotation

    assert [rotation(None), rotation(record()), rotation(record(0)), rotation(record(270))] == [
        90,
        90,
        0,
        270,
    ]


# An admin's action: ("setting", volume or None) changes the device's volume setting (a
# new record through the delta stream); ("command", volume) is a set-volume command.
Action = tuple[str, int | None]
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("setting"), st.none() | st.integers(0, 100)),
        st.tuples(st.just("command"), st.integers(0, 100)),
        st.tuples(st.just("page"), st.none()),  # a page that leaves the setting as it was
    ),
    max_size=12,
)


@given(ACTIONS)
@settings(max_examples=300)
def test_the_volume_is_what_the_last_admin_action_asked(actions: list[Action]) -> None:
    """Whatever the order: the volume in effect is the last command's or the last setting
    change's (the configured one when the setting was taken away, or before any action);
    a page that does not change the setting does not undo a command."""
    setting: int | None = None
    applied: str | None = None  # Meta.VOLUME_SETTING
    volume = CONFIGURED_VOLUME  # what plays
    expected = CONFIGURED_VOLUME
    changed_setting = False
    for kind, value in actions:
        if kind == "command":
            assert value is not None
            volume = expected = value
            continue
        if kind == "setting":
            changed_setting = value != setting
            setting = value
            if changed_setting:
                expected = CONFIGURED_VOLUME if value is None else value
        decision = decide(
            record(volume=setting),
            applied_setting=applied,
            configured_rotation=0,
            configured_volume=CONFIGURED_VOLUME,
        )
        applied = decision.volume_setting
        if decision.volume is not None:
            volume = decision.volume
        assert volume == expected, (actions, kind, value)
    assert applied in (None, NO_SETTING, str(setting))


def test_a_setting_is_applied_once_not_again_over_a_later_command() -> None:
    first = decide(record(volume=30), applied_setting=None, configured_rotation=0,
                   configured_volume=80)  # fmt: skip
    assert (first.volume, first.volume_setting) == (30, "30")
    again = decide(record(volume=30), applied_setting="30", configured_rotation=0,
                   configured_volume=80)  # fmt: skip
    assert again.volume is None  # a command since then keeps its volume
    gone = decide(record(), applied_setting="30", configured_rotation=0, configured_volume=80)
    assert (gone.volume, gone.forget_volume, gone.volume_setting) == (80, True, NO_SETTING)


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(tmp_path / "state")
    yield store
    store.close()


def test_the_renderer_is_turned_and_set_as_each_page_says_and_a_restart_keeps_it(
    store: Store, tmp_path: Path
) -> None:
    output = choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))
    versions = iter(range(1, 100))

    def sync(rec: DeviceRecord) -> None:
        store.apply_page(page(f"c{next(versions)}", upsert(rec, next(versions))),
                         starts_listing=False)  # fmt: skip

    async def scenario() -> list[tuple[int, int]]:
        settings = ScreenSettings(store, rotation=CONFIGURED_ROTATION, volume=CONFIGURED_VOLUME)
        rotation, volume = settings.at_start()
        renderer = VlcRenderer(
            video_output=output, messages_dir=tmp_path / "m", rotation=rotation, volume=volume
        )
        seen = [(renderer.rotation, renderer.volume)]
        await renderer.start(lambda _event: None)
        try:
            for rec in (record(90, 30), record(90, 30), record(None, 30), record(270, None)):
                sync(rec)
                settings.apply(renderer)
                seen.append((renderer.rotation, renderer.volume))
                if rec == record(90, 30) and len(seen) == 2:
                    renderer.set_volume(55)  # a set-volume command, as agent.commands does
                    store.set_many({Meta.VOLUME: "55"})
                    seen.append((renderer.rotation, renderer.volume))
        finally:
            await renderer.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        (CONFIGURED_ROTATION, CONFIGURED_VOLUME),  # nothing synced yet: the configuration
        (90, 30),  # the admin's settings
        (90, 55),  # a command
        (90, 55),  # the same record again does not undo the command
        (CONFIGURED_ROTATION, 55),  # rotation back to the screen's own
        (270, CONFIGURED_VOLUME),  # volume back to the screen's own
    ]
    # A restart starts as the last record and command left it, before any sync.
    sync(record(270, 10))
    assert ScreenSettings(store, rotation=0, volume=CONFIGURED_VOLUME).at_start() == (270, 10)
    store.set_many({Meta.VOLUME: "42"})  # a command after that setting
    assert ScreenSettings(store, rotation=0, volume=CONFIGURED_VOLUME).at_start() == (270, 42)
