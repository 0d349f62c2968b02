"""Wire models of the device API (v3), shared by the agent and the reference cloud.

The cloud's OpenAPI document is generated from these classes, so the contract the
agent parses and the contract the cloud serves cannot drift apart. Every model
ignores unknown fields, so a newer cloud can add fields without breaking an older
agent, and rejects a missing or mistyped field with a validation error the client
turns into one log line.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NewType

from pydantic import BaseModel, ConfigDict, Field

Sha256 = NewType("Sha256", str)
DurationMs = NewType("DurationMs", int)

API_PREFIX = "/api/v3"
DEVICE_PREFIX = f"{API_PREFIX}/device"
ADMIN_PREFIX = f"{API_PREFIX}/admin"

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105 (a grant type name, not a secret)
CLIENT_ID = "signage-agent"

SHA256_PATTERN = r"^[0-9a-f]{64}$"

# --- Limits of the contract ---------------------------------------------------------------
# Both sides enforce them: the cloud refuses to create what exceeds them (422), the agent
# rejects a whole answer that exceeds them. Documented in docs/device-api.md.
MAX_PLAYLIST_ITEMS = 10_000
MAX_STATE_ASSETS = 10_000
MAX_NAME_CHARS = 200  # asset, playlist and device names
MAX_ID_CHARS = 64  # ids, cursors and tenant ids
MAX_DURATION_MS = 86_400_000  # one day on screen for one item
MAX_ASSET_BYTES = 1 << 40  # 1 TiB: above any Pi's disk, far below 2^63
# Default cap on a state answer's body, on the agent (configurable there): a 10,000-item
# playlist is about 2.3 MB.
DEFAULT_MAX_STATE_BYTES = 8 * 1024 * 1024

MediaType = Literal["video", "image"]


class ErrorCode(StrEnum):
    """OAuth error codes both sides use (RFC 6749 §5.2, RFC 8628 §3.5, RFC 9449 §§5, 7, 8)."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"  # noqa: S105 (an error code, not a secret)
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- RFC 8628 device authorization -------------------------------------------------


class DeviceAuthorization(WireModel):
    """Answer to `POST /device/authorize` (RFC 8628 section 3.2)."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: int = Field(gt=0)
    interval: int = Field(default=5, gt=0)


class TokenResponse(WireModel):
    """A successful answer of `POST /device/token` (RFC 6749 section 5.1, RFC 9449 section 5)."""

    access_token: str
    token_type: Literal["DPoP"]
    expires_in: int = Field(gt=0)
    refresh_token: str
    device_id: str
    tenant_id: str


class OAuthError(WireModel):
    """An OAuth error body (RFC 6749 section 5.2, RFC 8628 section 3.5)."""

    error: str
    error_description: str | None = None
    # Extension member: true when an admin removed this device. The device then deletes its
    # tenant's content and enrolls afresh; merely revoked tokens keep the content playing.
    device_removed: bool | None = None


# --- Device state ---------------------------------------------------------------------


class Asset(WireModel):
    """A piece of content, addressed by the sha256 of its bytes."""

    id: str
    name: str
    sha256: Sha256 = Field(pattern=SHA256_PATTERN)
    media_type: MediaType
    size: int = Field(ge=0)


class PlaylistItem(WireModel):
    asset_id: str
    position: int = Field(ge=0)
    # For images: how long they stay on screen. For videos: None plays to the end.
    duration_ms: DurationMs | None = Field(default=None, gt=0)


class Playlist(WireModel):
    id: str
    name: str
    items: list[PlaylistItem]


class DeviceInfo(WireModel):
    id: str
    name: str
    tenant_id: str


class StateSnapshot(WireModel):
    """The whole state a device needs, as of `cursor` (answer to `GET /device/state`).

    The cloud answers 204 No Content instead when the caller's cursor is current.
    """

    cursor: str
    device: DeviceInfo
    playlist: Playlist | None
    assets: list[Asset]


# --- Admin API -------------------------------------------------------------------------


class ApproveEnrollment(WireModel):
    name: str = Field(min_length=1, max_length=200)


class ApprovedDevice(WireModel):
    device_id: str
    name: str


class AssetCreated(WireModel):
    id: str
    name: str
    sha256: Sha256
    media_type: MediaType
    size: int


class NewPlaylistItem(WireModel):
    asset_id: str
    duration_s: float | None = Field(default=None, gt=0)


class NewPlaylist(WireModel):
    name: str = Field(min_length=1, max_length=200)
    items: list[NewPlaylistItem] = Field(min_length=1)


class PlaylistCreated(WireModel):
    id: str
    name: str


class AssignPlaylist(WireModel):
    playlist_id: str | None


class DeviceSummary(WireModel):
    id: str
    name: str
    playlist_id: str | None
    created_at: str
    last_seen_at: str | None


__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "CLIENT_ID",
    "DEVICE_CODE_GRANT",
    "DEVICE_PREFIX",
    "REFRESH_TOKEN_GRANT",
    "SHA256_PATTERN",
    "ApproveEnrollment",
    "ApprovedDevice",
    "Asset",
    "AssetCreated",
    "AssignPlaylist",
    "DeviceAuthorization",
    "DeviceInfo",
    "DeviceSummary",
    "DurationMs",
    "ErrorCode",
    "MediaType",
    "NewPlaylist",
    "NewPlaylistItem",
    "OAuthError",
    "Playlist",
    "PlaylistCreated",
    "PlaylistItem",
    "Sha256",
    "StateSnapshot",
    "TokenResponse",
]
