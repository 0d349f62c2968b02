"""The agent's configuration: defaults < TOML file < environment < command line.

Validated against one schema that reports every problem at once and names the key, so an
installer fixing a config file fixes it in one go. Unknown keys are errors (a typo must not
be silently ignored on a screen nobody watches).

Keys (all optional):

    cloud_url        base URL of the cloud                 env SIGNAGE_AGENT_CLOUD_URL
    state_dir        SQLite store, device key, content     env SIGNAGE_AGENT_STATE_DIR
    video_output     auto | window | kms | dummy | <vout>  env SIGNAGE_AGENT_VIDEO_OUTPUT
    sync_interval_s  seconds between state polls           env SIGNAGE_AGENT_SYNC_INTERVAL
    long_poll_s      how long the cloud may hold a poll    env SIGNAGE_AGENT_LONG_POLL
    log_level        DEBUG | INFO | WARNING | ERROR        env SIGNAGE_AGENT_LOG_LEVEL
    max_state_bytes  largest state answer accepted, bytes  env SIGNAGE_AGENT_MAX_STATE_BYTES
    download_concurrency     blobs downloaded at once      env SIGNAGE_AGENT_DOWNLOAD_CONCURRENCY
    cache_min_free_percent   disk share always left free   env SIGNAGE_AGENT_CACHE_MIN_FREE_PERCENT
    cache_max_bytes          cap on the content cache      env SIGNAGE_AGENT_CACHE_MAX_BYTES
    cache_grace_s            unreferenced blobs kept this long  env SIGNAGE_AGENT_CACHE_GRACE
    rotation         0 | 90 | 180 | 270 (degrees, clockwise) env SIGNAGE_AGENT_ROTATION
    volume           0..200 (percent)                      env SIGNAGE_AGENT_VOLUME
    heartbeat_interval_s     seconds between heartbeats    env SIGNAGE_AGENT_HEARTBEAT_INTERVAL
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync.models import DEFAULT_MAX_STATE_BYTES

DEFAULT_CONFIG_FILE = Path("/etc/signage-agent/agent.toml")
DEFAULT_STATE_DIR = Path("/var/lib/signage-agent")

ENV_KEYS: dict[str, str] = {
    "cloud_url": "SIGNAGE_AGENT_CLOUD_URL",
    "state_dir": "SIGNAGE_AGENT_STATE_DIR",
    "video_output": "SIGNAGE_AGENT_VIDEO_OUTPUT",
    "sync_interval_s": "SIGNAGE_AGENT_SYNC_INTERVAL",
    "long_poll_s": "SIGNAGE_AGENT_LONG_POLL",
    "log_level": "SIGNAGE_AGENT_LOG_LEVEL",
    "max_state_bytes": "SIGNAGE_AGENT_MAX_STATE_BYTES",
    "download_concurrency": "SIGNAGE_AGENT_DOWNLOAD_CONCURRENCY",
    "cache_min_free_percent": "SIGNAGE_AGENT_CACHE_MIN_FREE_PERCENT",
    "cache_max_bytes": "SIGNAGE_AGENT_CACHE_MAX_BYTES",
    "cache_grace_s": "SIGNAGE_AGENT_CACHE_GRACE",
    "rotation": "SIGNAGE_AGENT_ROTATION",
    "volume": "SIGNAGE_AGENT_VOLUME",
    "heartbeat_interval_s": "SIGNAGE_AGENT_HEARTBEAT_INTERVAL",
}


class ConfigError(Exception):
    """The configuration is unusable; the message lists every problem, one per line."""


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cloud_url: str = "http://127.0.0.1:8080"
    state_dir: Path = DEFAULT_STATE_DIR
    video_output: str = "auto"
    sync_interval_s: float = Field(default=10.0, ge=0.2, le=3600)
    # The cloud holds a poll up to this long and answers the moment something changes, so
    # an admin's change shows within about a second. 0: plain polling every sync_interval_s.
    long_poll_s: int = Field(default=30, ge=0, le=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A larger answer from the cloud is refused whole (a 10,000-item playlist is ~2.3 MB).
    max_state_bytes: int = Field(default=DEFAULT_MAX_STATE_BYTES, ge=64 * 1024, le=256 << 20)
    download_concurrency: int = Field(default=4, ge=1, le=32)
    # The cache evicts blobs nothing uses (least recently played first) to keep this share
    # of the filesystem free, and never grows past cache_max_bytes (0: no cap).
    cache_min_free_percent: float = Field(default=10.0, ge=0, le=90)
    cache_max_bytes: int = Field(default=0, ge=0, le=1 << 50)
    cache_grace_s: float = Field(default=86_400.0, ge=0, le=365 * 86_400)
    # How the screen is mounted, and how loud videos play, until the device's settings in
    # the cloud say otherwise (agent.screen_settings).
    rotation: int = 0
    volume: int = Field(default=100, ge=0, le=200)
    # A heartbeat (what plays, cache, disk, clock, temperature...) goes to the cloud this
    # often, and soon after a significant change.
    heartbeat_interval_s: float = Field(default=60.0, ge=10, le=3600)

    @field_validator("cloud_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("rotation")
    @classmethod
    def _quarter_turns(cls, value: int) -> int:
        if value not in (0, 90, 180, 270):
            raise ValueError("must be 0, 90, 180 or 270")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def cloud_is_plain_http_remote(self) -> bool:
        """True when tokens would cross a network unencrypted (plain http, non-loopback host)."""
        parts = urlsplit(self.cloud_url)
        loopback = parts.hostname in ("localhost", "::1") or (parts.hostname or "").startswith(
            "127."
        )
        return parts.scheme == "http" and not loopback

    def display(self) -> dict[str, Any]:
        """The effective config as printable values (no secrets live here yet)."""
        return {key: str(value) for key, value in self.model_dump().items()}


def _format_errors(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def load_config(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Build the effective config. `config_file` None means the default path, if it exists."""
    values: dict[str, Any] = {}
    source = "config"
    path = config_file if config_file is not None else DEFAULT_CONFIG_FILE
    if config_file is not None or path.exists():
        source = str(path)
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such config file") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    env = environ if environ is not None else {}
    for key, name in ENV_KEYS.items():
        if env.get(name):
            values[key] = env[name]
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return AgentConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source)) from exc


__all__ = ["DEFAULT_CONFIG_FILE", "ENV_KEYS", "AgentConfig", "ConfigError", "load_config"]
