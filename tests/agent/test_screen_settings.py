"""The device's rotation and volume settings (agent.screen_settings): the rule alone, over
every order of settings and commands (hypothesis), then with a real store file and the
real renderer (libvlc's dummy output) as the daemon wires them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from agent.screen_settings import NO_SETTING, ScreenSettings, decide
from agent.store import Meta, Store
from player import VlcRenderer, choose_video_output
from sync.models import DeviceRecord
from tests.player.xvfb import running_xvfb, xvfb_available
from tests.support.agent import running_agent, wait_until
from tests.support.cloud import RunningCloud
from tests.support.device import approve, assign, create_playlist, upload
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
        screen_settings = ScreenSettings(
            store, rotation=CONFIGURED_ROTATION, volume=CONFIGURED_VOLUME
        )
        rotation, volume = screen_settings.at_start()
        renderer = VlcRenderer(
            video_output=output, messages_dir=tmp_path / "m", rotation=rotation, volume=volume
        )
        seen = [(renderer.rotation, renderer.volume)]
        await renderer.start(lambda _event: None)
        try:
            for rec in (record(90, 30), record(90, 30), record(None, 30), record(270, None)):
                sync(rec)
                screen_settings.apply(renderer)
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


def two_halves(path: Path) -> Path:
    """A 1920x1080 picture: the left half red, the right half blue."""
    picture = Image.new("RGB", (1920, 1080), (220, 0, 0))
    picture.paste((0, 0, 220), (960, 0, 1920, 1080))
    picture.save(path)
    return path


def colour(pixel: tuple[int, int, int]) -> str:
    red, _, blue = pixel
    return "red" if red > 150 > blue else "blue" if blue > 150 > red else "other"


@pytest.mark.skipif(not xvfb_available(), reason="Xvfb is needed (apt-get install xvfb)")
def test_the_screen_turns_when_the_admin_sets_a_rotation(
    cloud: RunningCloud, tmp_path: Path
) -> None:
    """The real agent in the window output of a bare X screen (1920x1080, no window
    manager): a picture red on the left, blue on the right. Turned 90 degrees clockwise
    by `PATCH /devices/{id}/settings`, the red half comes to the top, with no restart."""
    asset = upload(cloud, "halves.png", two_halves(tmp_path / "halves.png").read_bytes(),
                   "image/png")  # fmt: skip
    playlist = create_playlist(cloud, [{"asset_id": asset, "duration_s": 60}], name="Halves")
    with running_xvfb() as xvfb:
        env = {"SIGNAGE_AGENT_VIDEO_OUTPUT": "window", "DISPLAY": xvfb.display}
        with running_agent(tmp_path / "agent", cloud.url, extra_env=env) as agent:
            code = wait_until(lambda: agent.status()["enrollment_code"], 30, "an enrollment code")
            device = approve(cloud, code, "Turned")
            assign(cloud, device, playlist)
            wait_until(lambda: agent.started_names(), 60, "the picture on screen")

            def screen() -> tuple[str, str, str, str]:
                left, right = xvfb.framebuffer.pixel(480, 540), xvfb.framebuffer.pixel(1440, 540)
                top, bottom = xvfb.framebuffer.pixel(960, 135), xvfb.framebuffer.pixel(960, 945)
                return colour(left), colour(right), colour(top), colour(bottom)

            wait_until(lambda: screen()[:2] == ("red", "blue"), 10, "the picture as it is")
            with cloud.admin() as admin:
                answer = admin.patch(f"/api/v3/admin/devices/{device}/settings",
                                     json={"rotation": 90})  # fmt: skip
                assert answer.status_code == 200, answer.text
            # Turned 90 degrees clockwise, the picture is letterboxed in the middle: its
            # left (red) half is now the top, its right (blue) half the bottom.
            wait_until(lambda: screen()[2:] == ("red", "blue"), 10, "the picture turned")
            assert len(agent.started_names()) == 1  # the same play: no restart, no new start
            assert "Traceback" not in agent.log()


def test_a_store_that_cannot_write_still_turns_the_screen(store: Store, tmp_path: Path) -> None:
    """On a full disk (here: a read-only store, where every write fails) the settings are
    applied to the renderer all the same and nothing is raised into the sync loop."""
    store.apply_page(page("c1", upsert(record(270, 15), 1)), starts_listing=False)
    read_only = Store.open_read_only(tmp_path / "state")
    assert read_only is not None
    output = choose_video_output("dummy", environ={}, snd_dir=Path("/nonexistent"))
    renderer = VlcRenderer(video_output=output, messages_dir=tmp_path / "m")
    try:
        screen_settings = ScreenSettings(read_only, rotation=0, volume=CONFIGURED_VOLUME)
        assert screen_settings.at_start() == (270, 15)
        assert screen_settings.apply(renderer) is True
        assert (renderer.rotation, renderer.volume) == (270, 15)
        assert read_only.get(Meta.VOLUME_SETTING) is None  # not kept: a restart applies it again
    finally:
        read_only.close()
