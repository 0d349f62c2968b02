"""Settings of the reference cloud: the data dir, the address it serves on, lifetimes, limits.

Lifetimes and limits come from the environment so that tests can change them without
touching code:

    SIGNAGE_CLOUD_DATA               data dir when --data is not given (./signage-cloud-data)
    SIGNAGE_CLOUD_PUBLIC_URL         base URL shown to installers (http://HOST:PORT)
    SIGNAGE_CLOUD_POLL_INTERVAL      seconds a device waits between token polls (2)
    SIGNAGE_CLOUD_CODE_TTL           seconds an enrollment code stays valid (900)
    SIGNAGE_CLOUD_ACCESS_TOKEN_TTL   seconds an access token is accepted (3600)
    SIGNAGE_CLOUD_REFRESH_GRACE      seconds the previous refresh token stays usable (60)
    SIGNAGE_CLOUD_MAX_BODY_BYTES     largest request body but uploads and admin JSON (64K)
    SIGNAGE_CLOUD_MAX_ADMIN_BODY_BYTES   largest admin API JSON body (4M)
    SIGNAGE_CLOUD_MAX_UPLOAD_BYTES   largest asset upload (2G)
    SIGNAGE_CLOUD_CHANGE_RETENTION_S seconds device changes are kept; older cursors get 410
                                     (2592000: 30 days)
    SIGNAGE_CLOUD_APPROVALS_PER_MINUTE   failed code approvals per key and per address (5)
    SIGNAGE_CLOUD_LOCKOUT_FAILURES   failed authentications in a row that lock a key for an
                                     address (5)
    SIGNAGE_CLOUD_LOCKOUT_S          the first lock's seconds, doubled by each next one (60)
    SIGNAGE_CLOUD_LOCKOUT_MAX_S      the longest lock (3600)
    SIGNAGE_CLOUD_AUTHORIZE_PER_MINUTE   enrollment codes handed out per address (30)
    SIGNAGE_CLOUD_LIMITER_ENTRIES    addresses and keys each limit remembers at most (10000)
    SIGNAGE_CLOUD_ONLINE_WINDOW_S    a device is online this long after its last request, or
                                     while it holds a long-poll (150: two heartbeats)
    SIGNAGE_CLOUD_EVENT_BATCHES_PER_MINUTE   `POST /device/events` per device (120)
    SIGNAGE_CLOUD_ATTACHMENTS_PER_MINUTE     attachment uploads per device (12)
    SIGNAGE_CLOUD_COMMAND_NOTICE_S   seconds an expired command is still offered to the devices
                                     that have not answered it, so that one coming back
                                     reports it expired (604800: 7 days; at most a year)
    SIGNAGE_CLOUD_PLAY_RETENTION_S   seconds play events are kept after they started
                                     (34560000: 400 days; at most a century)
    SIGNAGE_CLOUD_COMMAND_RETENTION_S    seconds commands, their results and attachments are
                                     kept after they expired (2592000: 30 days; at most a century)

Sizes are bytes, or a number with a binary suffix: 64K, 4M, 2G.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cloud.errors import ConfigError
from sync.models import MAX_ASSET_BYTES

DEFAULT_DATA_DIR = "signage-cloud-data"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MAX_PORT = 65535
# How often a device asks whether its code was approved (RFC 8628's `interval`). 2 s keeps
# approval -> first synced state under about 2 s; the cost is one cheap request per pending
# screen every 2 s, and pending screens are few and rate-limited per address.
DEFAULT_POLL_INTERVAL_S = 2

DB_FILE_NAME = "cloud.db"
SIGNING_KEY_FILE_NAME = "signing-key.pem"
BLOBS_DIR_NAME = "blobs"

# How long a DPoP nonce is accepted, by the server's clock (RFC 9449 §8).
NONCE_TTL_S = 300
# What `slow_down` adds to a grant's polling interval (RFC 8628 §3.5).
SLOW_DOWN_STEP_S = 5
# A poll this fraction of the interval early still counts as on time.
POLL_TOLERANCE = 0.2
# An image item without a duration stays this long on screen.
DEFAULT_IMAGE_DURATION_MS = 10_000

# Request bodies (see cloud.limits). Device and form bodies are a few hundred bytes; an admin
# JSON body holds at most a MAX_PLAYLIST_ITEMS playlist (about 1.2 MB with 64-character ids).
DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_MAX_ADMIN_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024

# How long the per-device change log keeps a change: a device whose cursor is older gets
# 410 Gone and a full listing.
DEFAULT_CHANGE_RETENTION_S = 30 * 86_400

# Rate limits and lockout (see cloud.ratelimit and docs/cloud.md).
DEFAULT_APPROVALS_PER_MINUTE = 5
DEFAULT_LOCKOUT_FAILURES = 5
DEFAULT_LOCKOUT_S = 60
DEFAULT_LOCKOUT_MAX_S = 3600
DEFAULT_AUTHORIZE_PER_MINUTE = 30
DEFAULT_LIMITER_ENTRIES = 10_000

# A device is online while it holds a long-poll, or for this long after its last request:
# two heartbeats (every 60 s by default) and a margin, so one lost heartbeat is not "offline".
DEFAULT_ONLINE_WINDOW_S = 150
# Reports per device (see cloud.access): an outbox that drains a day offline (about 8,640
# plays of a 10 s playlist, 200 a batch) needs about 50 batches; a week's, about 300.
DEFAULT_EVENT_BATCHES_PER_MINUTE = 120
DEFAULT_ATTACHMENTS_PER_MINUTE = 12

# An expired command stays in the view of its devices that have not answered it this long, so
# that a screen offline at its expiry still hears of it and answers `expired` (cloud.commands).
DEFAULT_COMMAND_NOTICE_S = 7 * 86_400
MAX_COMMAND_NOTICE_S = 366 * 86_400
# What the cloud keeps (the retention task of cloud.server): plays for a year and a margin
# (advertisers ask for a year), commands with their results and attachments for a month.
DEFAULT_PLAY_RETENTION_S = 400 * 86_400
DEFAULT_COMMAND_RETENTION_S = 30 * 86_400
MAX_RETENTION_S = 100 * 366 * 86_400

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("SIGNAGE_CLOUD_DATA") or DEFAULT_DATA_DIR)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than zero")
    return value


def _bounded_seconds(env: Mapping[str, str], name: str, default: int, *, most: int) -> int:
    value = _positive_int(env, name, default)
    if value > most:
        raise ConfigError(f"{name}={value} is more than the most allowed, {most} seconds")
    return value


def parse_size(text: str) -> int:
    """`65536`, `64K`, `4M`, `2GiB` as a number of bytes; ValueError if it is none of these."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write bytes, or a number with K, M, G or T")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def _size(env: Mapping[str, str], name: str, default: int, *, most: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse_size(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if not 0 < value <= most:
        raise ConfigError(f"{name}={raw!r} must be more than 0 and at most {most} bytes")
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # None: http://HOST:PORT, the address the server listens on.
    configured_public_url: str | None = None
    poll_interval_s: int = DEFAULT_POLL_INTERVAL_S
    code_ttl_s: int = 900
    access_token_ttl_s: int = 3600
    refresh_grace_s: int = 60
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_admin_body_bytes: int = DEFAULT_MAX_ADMIN_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    change_retention_s: int = DEFAULT_CHANGE_RETENTION_S
    approvals_per_minute: int = DEFAULT_APPROVALS_PER_MINUTE
    lockout_failures: int = DEFAULT_LOCKOUT_FAILURES
    lockout_s: int = DEFAULT_LOCKOUT_S
    lockout_max_s: int = DEFAULT_LOCKOUT_MAX_S
    authorize_per_minute: int = DEFAULT_AUTHORIZE_PER_MINUTE
    limiter_entries: int = DEFAULT_LIMITER_ENTRIES
    online_window_s: int = DEFAULT_ONLINE_WINDOW_S
    event_batches_per_minute: int = DEFAULT_EVENT_BATCHES_PER_MINUTE
    attachments_per_minute: int = DEFAULT_ATTACHMENTS_PER_MINUTE
    command_notice_s: int = DEFAULT_COMMAND_NOTICE_S
    play_retention_s: int = DEFAULT_PLAY_RETENTION_S
    command_retention_s: int = DEFAULT_COMMAND_RETENTION_S

    @classmethod
    def from_env(
        cls,
        *,
        data_dir: Path | None = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        public_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings for a cloud on `host:port`; raises `ConfigError` naming a bad variable.

        `public_url` (from `serve --public-url`) wins over $SIGNAGE_CLOUD_PUBLIC_URL.
        """
        env = os.environ if environ is None else environ
        if not 0 <= port <= MAX_PORT:
            raise ConfigError(f"port {port} does not exist: use 1 to {MAX_PORT}, or 0 for any")
        public_url = public_url or env.get("SIGNAGE_CLOUD_PUBLIC_URL") or None
        if public_url is not None:
            parts = urlsplit(public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
                raise ConfigError(
                    f"public URL {public_url!r:.80} must be an http:// or https:// address with "
                    "a host and no query (what installers and the QR code open)"
                )
        lockout_s = _positive_int(env, "SIGNAGE_CLOUD_LOCKOUT_S", DEFAULT_LOCKOUT_S)
        lockout_max_s = _positive_int(env, "SIGNAGE_CLOUD_LOCKOUT_MAX_S", DEFAULT_LOCKOUT_MAX_S)
        if lockout_max_s < lockout_s:
            raise ConfigError(
                f"SIGNAGE_CLOUD_LOCKOUT_MAX_S={lockout_max_s} is shorter than "
                f"SIGNAGE_CLOUD_LOCKOUT_S={lockout_s}: the longest lock cannot be the shorter"
            )
        return cls(
            data_dir=data_dir if data_dir is not None else default_data_dir(env),
            host=host,
            port=port,
            configured_public_url=public_url.rstrip("/") if public_url else None,
            poll_interval_s=_positive_int(
                env, "SIGNAGE_CLOUD_POLL_INTERVAL", DEFAULT_POLL_INTERVAL_S
            ),
            code_ttl_s=_positive_int(env, "SIGNAGE_CLOUD_CODE_TTL", 900),
            access_token_ttl_s=_positive_int(env, "SIGNAGE_CLOUD_ACCESS_TOKEN_TTL", 3600),
            refresh_grace_s=_positive_int(env, "SIGNAGE_CLOUD_REFRESH_GRACE", 60),
            max_body_bytes=_size(
                env, "SIGNAGE_CLOUD_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, most=1 << 30
            ),
            max_admin_body_bytes=_size(
                env,
                "SIGNAGE_CLOUD_MAX_ADMIN_BODY_BYTES",
                DEFAULT_MAX_ADMIN_BODY_BYTES,
                most=1 << 30,
            ),
            max_upload_bytes=_size(
                env,
                "SIGNAGE_CLOUD_MAX_UPLOAD_BYTES",
                DEFAULT_MAX_UPLOAD_BYTES,
                most=MAX_ASSET_BYTES,
            ),
            change_retention_s=_positive_int(
                env, "SIGNAGE_CLOUD_CHANGE_RETENTION_S", DEFAULT_CHANGE_RETENTION_S
            ),
            approvals_per_minute=_positive_int(
                env, "SIGNAGE_CLOUD_APPROVALS_PER_MINUTE", DEFAULT_APPROVALS_PER_MINUTE
            ),
            lockout_failures=_positive_int(
                env, "SIGNAGE_CLOUD_LOCKOUT_FAILURES", DEFAULT_LOCKOUT_FAILURES
            ),
            lockout_s=lockout_s,
            lockout_max_s=lockout_max_s,
            authorize_per_minute=_positive_int(
                env, "SIGNAGE_CLOUD_AUTHORIZE_PER_MINUTE", DEFAULT_AUTHORIZE_PER_MINUTE
            ),
            limiter_entries=_positive_int(
                env, "SIGNAGE_CLOUD_LIMITER_ENTRIES", DEFAULT_LIMITER_ENTRIES
            ),
            online_window_s=_positive_int(
                env, "SIGNAGE_CLOUD_ONLINE_WINDOW_S", DEFAULT_ONLINE_WINDOW_S
            ),
            event_batches_per_minute=_positive_int(
                env, "SIGNAGE_CLOUD_EVENT_BATCHES_PER_MINUTE", DEFAULT_EVENT_BATCHES_PER_MINUTE
            ),
            attachments_per_minute=_positive_int(
                env, "SIGNAGE_CLOUD_ATTACHMENTS_PER_MINUTE", DEFAULT_ATTACHMENTS_PER_MINUTE
            ),
            command_notice_s=_bounded_seconds(
                env,
                "SIGNAGE_CLOUD_COMMAND_NOTICE_S",
                DEFAULT_COMMAND_NOTICE_S,
                most=MAX_COMMAND_NOTICE_S,
            ),
            play_retention_s=_bounded_seconds(
                env,
                "SIGNAGE_CLOUD_PLAY_RETENTION_S",
                DEFAULT_PLAY_RETENTION_S,
                most=MAX_RETENTION_S,
            ),
            command_retention_s=_bounded_seconds(
                env,
                "SIGNAGE_CLOUD_COMMAND_RETENTION_S",
                DEFAULT_COMMAND_RETENTION_S,
                most=MAX_RETENTION_S,
            ),
        )

    @property
    def public_url(self) -> str:
        """The base URL people and devices use to reach this cloud."""
        if self.configured_public_url:
            return self.configured_public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE_NAME

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / SIGNING_KEY_FILE_NAME

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / BLOBS_DIR_NAME


__all__ = [
    "DEFAULT_ATTACHMENTS_PER_MINUTE",
    "DEFAULT_CHANGE_RETENTION_S",
    "DEFAULT_COMMAND_NOTICE_S",
    "DEFAULT_COMMAND_RETENTION_S",
    "DEFAULT_DATA_DIR",
    "DEFAULT_EVENT_BATCHES_PER_MINUTE",
    "DEFAULT_HOST",
    "DEFAULT_IMAGE_DURATION_MS",
    "DEFAULT_MAX_ADMIN_BODY_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_ONLINE_WINDOW_S",
    "DEFAULT_PLAY_RETENTION_S",
    "DEFAULT_PORT",
    "MAX_COMMAND_NOTICE_S",
    "MAX_PORT",
    "MAX_RETENTION_S",
    "NONCE_TTL_S",
    "POLL_TOLERANCE",
    "SLOW_DOWN_STEP_S",
    "Settings",
    "default_data_dir",
    "parse_size",
]
