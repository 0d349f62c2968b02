"""Running the cloud under uvicorn: bind, log one line when ready, stop cleanly on SIGTERM.

The listening socket is bound here rather than by uvicorn, so that a taken port is one
clear log line, and so that `--port 0` works (the ready line names the port the system
picked).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import sys
from types import FrameType
from urllib.parse import unquote

import uvicorn

from cloud.app import create_app
from cloud.enrollment import loggable_code
from cloud.errors import ConfigError
from cloud.services import Services
from cloud.settings import Settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Where an access log line would show an enrollment code in full.
_CODE_IN_PATH = re.compile(r"(/enrollments/)([^/?]+)(/approve)|([?&]user_code=)([^&]*)")


def _redact_codes(path: str) -> str:
    def shorten(match: re.Match[str]) -> str:
        if match.group(1):
            return f"{match.group(1)}{loggable_code(unquote(match.group(2)))}{match.group(3)}"
        return f"{match.group(4)}{loggable_code(unquote(match.group(5)))}"

    return _CODE_IN_PATH.sub(shorten, path)


class RedactCodes(logging.Filter):
    """Shortens enrollment codes in uvicorn's access log lines (`KX…#1a2b3c4d`): whoever
    reads the log must not be able to approve a screen that is waiting for its code."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], _redact_codes(args[2]), *args[3:])
        return True


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)


def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`; `ConfigError` saying what to do if that fails."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}: check --host") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}: "
            "stop what uses that port or pick another with --port"
        ) from exc
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, logging the cloud's own ready line once it accepts connections."""

    def __init__(self, config: uvicorn.Config, *, settings: Settings, services: Services) -> None:
        super().__init__(config)
        self._settings = settings
        self._services = services

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn lets open requests finish before it stops: end the long-polls now.
        self._services.changes.close()
        super().handle_exit(sig, frame)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        log.info(
            "signage-cloud ready at http://%s:%d (data in %s; installers type codes at %s)",
            host,
            port,
            self._settings.data_dir,
            f"{self._settings.public_url}/activate",
        )


def serve(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; the exit status of the process."""
    configure_logging()
    try:
        sock = bind_socket(settings.host, settings.port)
    except ConfigError as exc:
        log.error("%s", exc)
        return 1
    try:
        if settings.port == 0:
            settings = dataclasses.replace(settings, port=sock.getsockname()[1])
        try:
            app = create_app(settings)
        except ConfigError as exc:
            log.error("%s", exc)
            return 1
        config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=True)
        # The ready line replaces uvicorn's start-up chatter; its errors still show.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        logging.getLogger("uvicorn.access").addFilter(RedactCodes())
        _Server(config, settings=settings, services=app.state.services).run(sockets=[sock])
    except SystemExit as exc:
        return 1 if exc.code else 0
    finally:
        sock.close()
    return 0


__all__ = [
    "RedactCodes",
    "bind_socket",
    "configure_logging",
    "serve",
]
