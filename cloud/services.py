"""The parts of a running cloud, as the routes receive them.

`cloud.app.create_app` builds one `Services` and keeps it on `app.state`; endpoints ask
for it with the `ServicesDep` dependency instead of importing anything global, so two apps
over two data dirs can live in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from cloud.access import Guard
from cloud.apikeys import ApiKeys
from cloud.blobs import BlobStore
from cloud.changelog import ChangeLog
from cloud.changes import ChangeFeed
from cloud.commands import Commands
from cloud.content import Content
from cloud.devices import Devices
from cloud.enrollment import Enrollments
from cloud.events import Events
from cloud.groups import Groups
from cloud.interrupts import Interrupts
from cloud.keys import AccessTokens
from cloud.playlists import Playlists
from cloud.presence import Presence
from cloud.proofs import ProofChecker
from cloud.reports import Reports
from cloud.schedules import Schedules
from cloud.sessions import DeviceSessions
from cloud.settings import Settings
from cloud.state import DeviceState
from cloud.status import Statuses
from cloud.store import Database
from cloud.views import Views


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    proofs: ProofChecker
    access_tokens: AccessTokens
    sessions: DeviceSessions
    enrollments: Enrollments
    devices: Devices
    content: Content
    playlists: Playlists
    groups: Groups
    schedules: Schedules
    interrupts: Interrupts
    commands: Commands
    events: Events
    reports: Reports
    presence: Presence
    statuses: Statuses
    changelog: ChangeLog
    views: Views
    state: DeviceState
    blobs: BlobStore
    changes: ChangeFeed
    keys: ApiKeys
    guard: Guard
    clock: Callable[[], float]


async def services_of(request: Request) -> Services:
    """The `Services` of the app serving `request`."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(services_of)]

__all__ = ["Services", "ServicesDep", "services_of"]
