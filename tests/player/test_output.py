"""`choose_video_output`: which libvlc output each kind of machine gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from player import OutputConfigError, choose_video_output
from player.libvlc import load_vlc, new_instance


@pytest.fixture
def no_dri(tmp_path: Path) -> Path:
    return tmp_path / "no-dri"  # does not exist, like /dev/dri on a cloud VM


@pytest.fixture
def dri_with_card(tmp_path: Path) -> Path:
    folder = tmp_path / "dri"
    folder.mkdir()
    (folder / "card0").write_bytes(b"")  # a file we can open read-write stands in for the device
    (folder / "renderD128").write_bytes(b"")
    return folder


@pytest.fixture
def sound(tmp_path: Path) -> Path:
    folder = tmp_path / "snd"
    folder.mkdir()
    (folder / "controlC0").write_bytes(b"")
    return folder


def test_x11_desktop_gets_a_fullscreen_window(no_dri: Path, sound: Path) -> None:
    output = choose_video_output(None, environ={"DISPLAY": ":0"}, dri_dir=no_dri, snd_dir=sound)
    assert output.name == "window"
    assert "--fullscreen" in output.vlc_args
    assert "--no-xlib" not in output.vlc_args  # X11 outputs need Xlib
    assert not any(arg.startswith("--vout") for arg in output.vlc_args)
    assert "--aout=dummy" not in output.vlc_args
    assert "DISPLAY=:0" in output.reason


def test_wayland_session_gets_a_window(dri_with_card: Path, sound: Path) -> None:
    output = choose_video_output(
        "auto", environ={"WAYLAND_DISPLAY": "wayland-0"}, dri_dir=dri_with_card, snd_dir=sound
    )
    assert output.name == "window"
    assert "WAYLAND_DISPLAY=wayland-0" in output.reason


def test_pi_without_desktop_draws_with_kms(dri_with_card: Path, sound: Path) -> None:
    output = choose_video_output(None, environ={}, dri_dir=dri_with_card, snd_dir=sound)
    assert output.name == "kms"
    assert "--vout=kms,drm_vout,fb" in output.vlc_args and "--no-xlib" in output.vlc_args
    assert not any(arg.startswith("--kms=") for arg in output.vlc_args)  # card0 is VLC's default
    assert str(dri_with_card / "card0") in output.reason


def test_kms_is_pointed_at_the_usable_card_when_it_is_not_card0(
    tmp_path: Path, sound: Path
) -> None:
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "card0").mkdir()  # cannot be opened read-write (like a render-only GPU we may not use)
    (dri / "card1").write_bytes(b"")
    output = choose_video_output(None, environ={}, dri_dir=dri, snd_dir=sound)
    assert output.name == "kms"
    assert f"--kms={dri / 'card1'}" in output.vlc_args


def test_render_nodes_alone_are_not_a_display(tmp_path: Path, sound: Path) -> None:
    dri = tmp_path / "dri"
    dri.mkdir()
    (dri / "renderD128").write_bytes(b"")
    output = choose_video_output(None, environ={}, dri_dir=dri, snd_dir=sound)
    assert output.name == "dummy"


def test_headless_machine_without_sound_gets_dummy_outputs(no_dri: Path, tmp_path: Path) -> None:
    output = choose_video_output(None, environ={}, dri_dir=no_dri, snd_dir=tmp_path / "no-snd")
    assert output.name == "dummy"
    for arg in ("--vout=dummy", "--aout=dummy", "--intf=dummy", "--no-xlib", "--quiet"):
        assert arg in output.vlc_args
    assert "no DISPLAY and no usable DRM device" in output.reason
    assert "audio off" in output.reason


def test_empty_display_variable_counts_as_unset(no_dri: Path, sound: Path) -> None:
    output = choose_video_output(None, environ={"DISPLAY": " "}, dri_dir=no_dri, snd_dir=sound)
    assert output.name == "dummy"


@pytest.mark.parametrize("configured", ["dummy", "DUMMY", " dummy "])
def test_explicit_dummy_wins_over_a_display(
    configured: str, dri_with_card: Path, sound: Path
) -> None:
    output = choose_video_output(
        configured, environ={"DISPLAY": ":0"}, dri_dir=dri_with_card, snd_dir=sound
    )
    assert output.name == "dummy"
    assert "--vout=dummy" in output.vlc_args
    assert "set in the configuration" in output.reason


def test_explicit_kms_without_a_usable_card_is_still_kms(no_dri: Path, sound: Path) -> None:
    output = choose_video_output("kms", environ={}, dri_dir=no_dri, snd_dir=sound)
    assert output.name == "kms"
    assert "--vout=kms,drm_vout,fb" in output.vlc_args


def test_explicit_window_without_display(no_dri: Path, sound: Path) -> None:
    output = choose_video_output("window", environ={}, dri_dir=no_dri, snd_dir=sound)
    assert output.name == "window"
    assert "--fullscreen" in output.vlc_args


def test_raw_vout_module_name_is_passed_to_vlc(no_dri: Path, sound: Path) -> None:
    output = choose_video_output("gles2", environ={}, dri_dir=no_dri, snd_dir=sound)
    assert output.name == "gles2"
    assert "--vout=gles2" in output.vlc_args
    with_x = choose_video_output(
        "xcb_x11", environ={"DISPLAY": ":0"}, dri_dir=no_dri, snd_dir=sound
    )
    assert "--vout=xcb_x11" in with_x.vlc_args and "--no-xlib" not in with_x.vlc_args


@pytest.mark.parametrize("configured", ["dummy --verbose=2", "--vout=x", "kms;rm", "../x"])
def test_names_that_could_smuggle_options_are_refused(configured: str, no_dri: Path) -> None:
    with pytest.raises(OutputConfigError, match="not a VLC output name"):
        choose_video_output(configured, environ={}, dri_dir=no_dri)


@pytest.mark.parametrize("configured", ["window", "kms", "dummy", "auto"])
def test_installed_libvlc_accepts_every_argument_set(configured: str, tmp_path: Path) -> None:
    # libvlc returns no instance at all for an option it does not know.
    output = choose_video_output(configured, environ={}, snd_dir=tmp_path / "no-snd")
    instance = new_instance(load_vlc(), output.vlc_args)
    instance.release()
