"""The reference cloud of the signage device API (multi-tenant, SQLite).

It exists so that every part of the agent is tested against a real server over real
sockets, so that the demo runs on any machine, and so that the backend team has an
executable specification of the device API (docs/device-api.md).
"""

from __future__ import annotations

from cloud.errors import AdminClientError, ApiError, CloudError, CloudUnreachable, ConfigError
from cloud.settings import Settings

__all__ = [
    "AdminClientError",
    "ApiError",
    "CloudError",
    "CloudUnreachable",
    "ConfigError",
    "Settings",
]
