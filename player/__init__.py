"""Playback: the engine that decides what is on screen, and the libvlc renderer that draws it."""

from __future__ import annotations

from player.engine import Player, PlayerState
from player.errors import OutputConfigError, PlayerError, RendererError, VlcUnavailable
from player.items import (
    DEFAULT_IMAGE_DURATION_MS,
    DEFAULT_MESSAGE,
    Ending,
    NowPlaying,
    PlayableItem,
    PlayerListener,
    ScreenMessage,
)
from player.output import VideoOutput, choose_video_output
from player.renderer import Ended, Failed, Recovered, Renderer, RendererEvent, Started
from player.sequence import RetryPolicy
from player.vlc import RendererState, VlcRenderer

__all__ = [
    "DEFAULT_IMAGE_DURATION_MS",
    "DEFAULT_MESSAGE",
    "Ended",
    "Ending",
    "Failed",
    "NowPlaying",
    "OutputConfigError",
    "PlayableItem",
    "Player",
    "PlayerError",
    "PlayerListener",
    "PlayerState",
    "Recovered",
    "Renderer",
    "RendererError",
    "RendererEvent",
    "RendererState",
    "RetryPolicy",
    "ScreenMessage",
    "Started",
    "VideoOutput",
    "VlcRenderer",
    "VlcUnavailable",
    "choose_video_output",
]
