"""Errors of the playback package.

    PlayerError
    ├── OutputConfigError   the configured video output cannot be used as given (bad name)
    └── RendererError       the renderer could not start or was used in the wrong state
        └── VlcUnavailable  libvlc is missing or refused its options: fix the install or config

Playback failures of a single item are not exceptions: the renderer reports them as
`Failed` events and the engine skips the item. Foreign errors (OSError from python-vlc's
loader, Pillow errors) are converted at the boundary with `raise ... from`.
"""

from __future__ import annotations


class PlayerError(Exception):
    """Base of every error raised by `player`."""


class OutputConfigError(PlayerError, ValueError):
    """The configured video output is not a name VLC could accept."""


class RendererError(PlayerError):
    """The renderer could not start, or was used before `start()` / after `close()`."""


class VlcUnavailable(RendererError):
    """libvlc could not be loaded or rejected the instance options."""


__all__ = ["OutputConfigError", "PlayerError", "RendererError", "VlcUnavailable"]
