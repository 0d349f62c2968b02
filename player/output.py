"""Choosing how libvlc draws: a window, the kernel's mode setting (KMS), or nothing.

Pure logic over the environment and two device folders, so every case is testable
without a display. The agent reads the `video_output` config key (or the
SIGNAGE_AGENT_VIDEO_OUTPUT environment variable) and passes it as `configured`:

- `auto` (or unset): a window where DISPLAY or WAYLAND_DISPLAY is set; KMS where a
  /dev/dri/card* can be opened read-write (a Pi without a desktop); else libvlc's
  dummy output (nothing on screen, but decoding, events and snapshots still work).
- `window`, `kms`, `dummy`: forced.
- any other name: used as VLC's `--vout` module as is (see `vlc --list` on the device;
  Raspberry Pi OS's own VLC build has Pi-specific outputs).

Audio goes to libvlc's dummy output when the machine has no /dev/snd.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from player.errors import OutputConfigError

# Options every instance gets: no VLC interface, no title drawn over videos, no
# thumbnail drawn on screen after a snapshot, and only errors on stderr.
COMMON_ARGS: tuple[str, ...] = (
    "--intf=dummy",
    "--quiet",
    "--no-video-title-show",
    "--no-snapshot-preview",
)
WINDOW_ARGS: tuple[str, ...] = ("--fullscreen", "--no-video-deco")
# libvlc without its OpenGL outputs: it then takes XVideo where the X server has an
# adaptor, else plain X11 shared memory (`xcb_x11`, scaled by swscale). The renderer adds
# these in its own X11 windows when it double-buffers: under Xvfb the `gl` output drew
# over a window stacked above its own (docs/player.md, "Switching between items").
# `set_xwindow()` resets a player's `--vout` to "any", so turning the GL modules off is
# the one way to choose.
NO_GL_ARGS: tuple[str, ...] = ("--gl=none", "--gles2=none")
NO_AUDIO_ARGS: tuple[str, ...] = ("--aout=dummy",)

# VLC's kms output opens /dev/dri/card0 unless told otherwise with --kms=<device>.
KMS_DEFAULT_CARD = "card0"
# Drawing without a display server, in order of preference: VLC's own KMS output, the DRM
# output of Raspberry Pi OS's VLC build, then the Linux framebuffer (Debian's VLC has only
# this last one). VLC takes the first module in the list that loads.
KMS_VOUTS = "kms,drm_vout,fb"

_MODULE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class VideoOutput:
    """The libvlc instance options that draw on this machine, and why they were chosen."""

    name: str  # "window" | "kms" | "dummy" | a raw VLC vout module name
    vlc_args: tuple[str, ...]
    reason: str  # one line for the start-up log


def usable_drm_card(dri_dir: Path) -> Path | None:
    """The first /dev/dri/card* this process can open read-write, or None."""
    try:
        cards = sorted(p for p in dri_dir.iterdir() if p.name.startswith("card"))
    except OSError:
        return None
    for card in cards:
        try:
            fd = os.open(card, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        os.close(fd)
        return card
    return None


def has_sound_device(snd_dir: Path) -> bool:
    """True when the kernel exposes at least one sound device (an ALSA card)."""
    try:
        return any(snd_dir.iterdir())
    except OSError:
        return False


def _display_name(environ: Mapping[str, str]) -> str | None:
    for variable in ("WAYLAND_DISPLAY", "DISPLAY"):
        value = environ.get(variable, "").strip()
        if value:
            return f"{variable}={value}"
    return None


def choose_video_output(
    configured: str | None,
    *,
    environ: Mapping[str, str],
    dri_dir: Path = Path("/dev/dri"),
    snd_dir: Path = Path("/dev/snd"),
) -> VideoOutput:
    """Pick the video output for `configured` ("auto" when None or empty) on this machine."""
    choice = (configured or "auto").strip().lower()
    if choice != "auto" and not _MODULE_NAME.match(choice):
        raise OutputConfigError(
            f"video output {configured!r} is not a VLC output name: use auto, window, kms, "
            "dummy, or a module name from `vlc --list` (letters, digits, '-' and '_')"
        )
    display = _display_name(environ)
    card = usable_drm_card(dri_dir)

    if choice == "auto":
        if display is not None:
            choice, why = "window", f"{display} is set: using a fullscreen window"
        elif card is not None:
            choice, why = "kms", f"no display server, {card} is usable: drawing with KMS"
        else:
            choice = "dummy"
            why = (
                "no DISPLAY and no usable DRM device: using libvlc's dummy output "
                "(nothing is drawn)"
            )
    else:
        why = f"video output {choice!r} set in the configuration"

    if choice == "window":
        video_args: tuple[str, ...] = WINDOW_ARGS
    elif choice == "kms":
        video_args = (f"--vout={KMS_VOUTS}", "--no-xlib")
        if card is not None and card.name != KMS_DEFAULT_CARD:
            video_args += (f"--kms={card}",)
    else:
        # "dummy" or a raw module name. Xlib is only wanted when an X server is there.
        video_args = (f"--vout={choice}",)
        if display is None or choice == "dummy":
            video_args += ("--no-xlib",)

    if has_sound_device(snd_dir):
        audio_args: tuple[str, ...] = ()
    else:
        audio_args = NO_AUDIO_ARGS
        why += f"; no sound device in {snd_dir}: audio off"

    return VideoOutput(name=choice, vlc_args=(*COMMON_ARGS, *video_args, *audio_args), reason=why)


__all__ = [
    "COMMON_ARGS",
    "NO_GL_ARGS",
    "VideoOutput",
    "choose_video_output",
    "has_sound_device",
    "usable_drm_card",
]
