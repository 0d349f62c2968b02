"""Errors of the reference cloud.

    CloudError                    base of every error raised by `cloud`
    ├── ConfigError               a setting, the data dir or a key file is unusable: exit 1
    ├── ProofRejected             a DPoP proof is missing, stale (use_dpop_nonce) or invalid
    ├── TokenRejected             an access token is missing, expired, forged or not bound
    ├── ApiError                  an HTTP answer other than success, rendered by `cloud.app`
    │   ├── OAuthFailure          400 with an OAuth error body (authorize and token endpoints)
    │   │   └── OAuthTooManyRequests  429 + `Retry-After`, error `slow_down`
    │   ├── DeviceUnauthorized    401 + `WWW-Authenticate: DPoP error=...` (device resources)
    │   ├── BadRequest            400: a body that is not what the call takes (not JSON, say)
    │   ├── AdminUnauthorized     401 + `WWW-Authenticate: Bearer` (admin API)
    │   ├── Forbidden             403: the key's role may not make this call
    │   ├── NotFound              404
    │   ├── Conflict              409
    │   ├── Gone                  410
    │   ├── ContentTooLarge       413: more in a body than the call takes (events in a batch)
    │   ├── UnsupportedMediaType  415: a declared type the player does not show
    │   │   └── NotPlayable       415: an upload's bytes, probed, are not what it can show
    │   ├── Unprocessable         422
    │   └── TooManyRequests       429 + `Retry-After` (rate limit or lockout)
    └── AdminClientError          the CLI could not do what it was asked
        └── CloudUnreachable      no cloud answers at the URL given

`ProofRejected` and `TokenRejected` are raised by checks shared by the token endpoint (which
answers 400) and the resource endpoints (which answer 401); the device router converts them.
The `detail` of an admin error says what went wrong and what to do, because the CLI prints
it to a person as it is.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error raised by `cloud`."""


class ConfigError(CloudError):
    pass


class ProofRejected(CloudError):
    """`error` is the OAuth error code: `use_dpop_nonce` or `invalid_dpop_proof`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class TokenRejected(CloudError):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ApiError(CloudError):
    status_code = 500

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class OAuthFailure(ApiError):
    """An RFC 6749 §5.2 error: `error` is the code, `detail` the description."""

    status_code = 400

    def __init__(
        self, error: str, description: str | None = None, *, device_removed: bool = False
    ) -> None:
        super().__init__(description or error)
        self.error = error
        self.description = description
        self.device_removed = device_removed


class DeviceUnauthorized(ApiError):
    """A refused device request (RFC 9449 §7.1): the code also goes in `WWW-Authenticate`."""

    status_code = 401

    def __init__(self, error: str, description: str, *, device_removed: bool = False) -> None:
        challenge = f'DPoP error="{error}", error_description="{_quoted(description)}"'
        super().__init__(description, headers={"WWW-Authenticate": f'{challenge}, algs="ES256"'})
        self.error = error
        self.description = description
        self.device_removed = device_removed


class AdminUnauthorized(ApiError):
    status_code = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="signage-cloud"'})


class BadRequest(ApiError):
    status_code = 400


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Gone(ApiError):
    status_code = 410


class ContentTooLarge(ApiError):
    status_code = 413


class UnsupportedMediaType(ApiError):
    status_code = 415


class NotPlayable(UnsupportedMediaType):
    """An upload refused by `cloud.probe`: the detail names the file and says why."""


class Unprocessable(ApiError):
    status_code = 422


class TooManyRequests(ApiError):
    status_code = 429

    def __init__(self, detail: str, *, retry_after: str) -> None:
        super().__init__(detail, headers={"Retry-After": retry_after})


class OAuthTooManyRequests(OAuthFailure):
    """429 on the device API's form endpoints, with an OAuth body (`slow_down`)."""

    status_code = 429

    def __init__(self, description: str, *, retry_after: str) -> None:
        super().__init__("slow_down", description)
        self.headers = {"Retry-After": retry_after}


class AdminClientError(CloudError):
    pass


class CloudUnreachable(AdminClientError):
    pass


def _quoted(text: str) -> str:
    """`text` made safe inside a quoted-string of an HTTP header."""
    return text.replace("\\", "\\\\").replace('"', "'").replace("\r", " ").replace("\n", " ")


__all__ = [
    "AdminClientError",
    "AdminUnauthorized",
    "ApiError",
    "BadRequest",
    "CloudError",
    "CloudUnreachable",
    "ConfigError",
    "Conflict",
    "ContentTooLarge",
    "DeviceUnauthorized",
    "Forbidden",
    "Gone",
    "NotFound",
    "NotPlayable",
    "OAuthFailure",
    "OAuthTooManyRequests",
    "ProofRejected",
    "TokenRejected",
    "TooManyRequests",
    "Unprocessable",
    "UnsupportedMediaType",
]
