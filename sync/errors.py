"""Errors of the device side of the cloud contract.

    SyncError
    ├── IdentityError          the device key is unusable
    ├── DPoPError              a DPoP proof is malformed or does not verify
    ├── CloudUnreachable       connect/read failures and timeouts: retry with backoff
    ├── CloudResponseError     the cloud answered something we cannot use (HTTP status, bad body)
    │   └── Unauthorized       the device's tokens are no longer accepted: enroll again
    ├── EnrollmentError        the enrollment grant ended (denied, expired)
    │   └── EnrollmentExpired  the user code expired before an admin approved it: ask for a new one
    └── DownloadError          a blob could not be fetched or stored
        └── HashMismatch       the bytes received do not hash to the sha256 asked for

Foreign errors (httpx, pydantic, OSError) are converted at the boundary with `raise ... from`.
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


class Unauthorized(CloudResponseError):
    """The cloud refuses the device's tokens; `device_removed` when an admin removed it."""

    def __init__(
        self, message: str, status_code: int | None = None, *, device_removed: bool = False
    ) -> None:
        super().__init__(message, status_code)
        self.device_removed = device_removed


class EnrollmentError(SyncError):
    pass


class EnrollmentExpired(EnrollmentError):
    pass


class DownloadError(SyncError):
    pass


class HashMismatch(DownloadError):
    pass
