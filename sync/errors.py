"""Errors of the device side of the cloud contract.

    SyncError
    ├── IdentityError            the device key is unusable
    ├── DPoPError                a DPoP proof is malformed or does not verify
    ├── CloudUnreachable         connect/read failures and timeouts: retry with backoff
    ├── CloudResponseError       the cloud answered something we cannot use: an unexpected
    │   │                        status, a body over its cap, a body that fails validation
    │   ├── CursorExpired        410: the cloud no longer knows the cursor: full listing
    │   └── Unauthorized         the device's tokens are no longer accepted: enroll again
    └── DownloadError            one blob could not be fetched or stored (the cache is not
        │                        writable, disk full); the other blobs are unaffected
        ├── BlobUnavailable      the cloud answered the blob with another status (404, 5xx)
        ├── DownloadInterrupted  the network failed mid-way; the partial file is kept
        ├── SizeMismatch         the body is longer or shorter than the asset's size
        └── HashMismatch         the bytes received do not hash to the sha256 asked for

Foreign errors (httpx, pydantic, OSError) are converted at the boundary with `raise ... from`.
Every message is one line and names what it is about (a request, a blob's first 12 hex digits).
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error raised by `sync`."""


class IdentityError(SyncError):
    pass


class DPoPError(SyncError):
    pass


class CloudUnreachable(SyncError):
    pass


class CloudResponseError(SyncError):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class CursorExpired(CloudResponseError):
    """The cloud no longer knows the cursor (410): ask again without one, for a full listing."""


class Unauthorized(CloudResponseError):
    """The cloud refuses the device's tokens; `device_removed` when an admin removed it."""

    def __init__(
        self, message: str, status_code: int | None = None, *, device_removed: bool = False
    ) -> None:
        super().__init__(message, status_code)
        self.device_removed = device_removed


class DownloadError(SyncError):
    """One blob failed; `status_code` is the cloud's answer when that was the reason."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class BlobUnavailable(DownloadError):
    pass


class DownloadInterrupted(DownloadError):
    pass


class SizeMismatch(DownloadError):
    pass


class HashMismatch(DownloadError):
    pass
