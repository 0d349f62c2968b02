"""Keeping reports and commands only as long as the settings say.

`forget_old` deletes the play events older than `SIGNAGE_CLOUD_PLAY_RETENTION_S` and the
commands (with their results and attachments) older than
`SIGNAGE_CLOUD_COMMAND_RETENTION_S`, each in small transactions (`Events.forget_old_plays`,
`Commands.forget_old`). The app runs it at start and then every `retention_every_s`
(`cloud.app`, with its other periodic tasks).
"""

from __future__ import annotations

from cloud.services import Services
from cloud.settings import Settings

RETENTION_EVERY_S = 3600.0


def retention_every_s(settings: Settings) -> float:
    """How often the retention task runs: hourly, or a tenth of the shorter retention."""
    shortest = min(settings.play_retention_s, settings.command_retention_s)
    return min(RETENTION_EVERY_S, max(1.0, shortest / 10))


def forget_old(services: Services) -> None:
    """Delete what is kept past its retention: old play events, then old commands."""
    settings = services.settings
    services.events.forget_old_plays(keep_s=settings.play_retention_s)
    services.commands.forget_old(keep_s=settings.command_retention_s)


__all__ = ["RETENTION_EVERY_S", "forget_old", "retention_every_s"]
