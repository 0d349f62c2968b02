"""The running agent's local control socket: `signage-agent screenshot FILE` asks it for what
is on screen, through the same renderer snapshot as the remote `screenshot` command.

A Unix socket, `control.sock` in the state folder (mode 0600 inside the 0700 folder): only
the agent's own user and root can connect, and nothing reaches it from the network. One
request per connection, one at a time:

    request   one JSON line, at most `MAX_REQUEST_BYTES`, within `REQUEST_TIMEOUT_S`:
              {"verb": "screenshot"}
    answer    one JSON line {"ok": true, "size": N, "type": "image/png"} then N bytes,
              or {"ok": false, "error": "<one line>"}

Anything else (an unknown verb, a line too long or too slow, bytes that are not JSON) is
answered with an error line and the connection closed; the agent carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from agent.errors import ControlError
from player.renderer import RemoteControls
from sync.models import MAX_ATTACHMENT_BYTES

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
MAX_REQUEST_BYTES = 1024
REQUEST_TIMEOUT_S = 5.0
# A snapshot waits on libvlc; the CLI gives the whole exchange this long.
ANSWER_TIMEOUT_S = 20.0
# AF_UNIX paths are limited to 108 bytes on Linux (sun_path), the final NUL included.
MAX_SOCKET_PATH_BYTES = 107


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


class ControlServer:
    """Serves `control.sock` while the daemon runs (`run()`, cancelled to stop)."""

    def __init__(self, state_dir: Path, screen: RemoteControls | None) -> None:
        self._path = socket_path(state_dir)
        self._screen = screen
        self._busy = asyncio.Lock()  # one snapshot at a time

    async def run(self) -> None:
        if len(os.fsencode(self._path)) > MAX_SOCKET_PATH_BYTES:
            log.warning(
                "control: %s is too long a path for a Unix socket; `signage-agent "
                "screenshot` is unavailable with this state folder",
                self._path,
            )
            await asyncio.Event().wait()  # nothing to serve; wait to be cancelled
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()  # left by an agent that was killed
        old_mask = os.umask(0o177)  # the socket is created 0600
        try:
            server = await asyncio.start_unix_server(
                self._serve, path=self._path, limit=MAX_REQUEST_BYTES
            )
        finally:
            os.umask(old_mask)
        try:
            async with server:
                await server.serve_forever()
        finally:
            with contextlib.suppress(OSError):
                self._path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header, body = await self._answer(reader)
            writer.write(json.dumps(header).encode() + b"\n" + body)
            await writer.drain()
        except (ConnectionError, TimeoutError):
            pass  # the client went away: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                line = await reader.readuntil(b"\n")
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError):
            return _refusal("send one JSON line of at most 1 KiB"), b""
        if len(line) > MAX_REQUEST_BYTES:
            return _refusal("send one JSON line of at most 1 KiB"), b""
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            return _refusal("the request is not JSON"), b""
        verb = request.get("verb") if isinstance(request, dict) else None
        if verb != "screenshot":
            return _refusal("the only verb is screenshot"), b""
        return await self._screenshot()

    async def _screenshot(self) -> tuple[dict[str, Any], bytes]:
        if self._screen is None:
            return _refusal("this agent runs without a screen"), b""
        async with self._busy:
            with tempfile.TemporaryDirectory(prefix="signage-screenshot-") as folder:
                path = Path(folder) / "screen.png"
                if not await self._screen.snapshot(path):
                    return _refusal("nothing on screen to capture yet"), b""
                data = await asyncio.to_thread(path.read_bytes)
        if len(data) > MAX_ATTACHMENT_BYTES:
            return _refusal(f"the picture is larger than {MAX_ATTACHMENT_BYTES} bytes"), b""
        log.info("control: a screenshot of %d bytes was asked for locally", len(data))
        return {"ok": True, "size": len(data), "type": "image/png"}, data


def _refusal(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


async def request_screenshot(state_dir: Path, timeout_s: float = ANSWER_TIMEOUT_S) -> bytes:
    """The PNG the running agent of `state_dir` captures; raises `ControlError` saying why
    not (no agent running, nothing on screen, no answer in time)."""
    path = socket_path(state_dir)
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_unix_connection(path)
            try:
                writer.write(b'{"verb": "screenshot"}\n')
                await writer.drain()
                header = json.loads(await reader.readuntil(b"\n"))
                if not isinstance(header, dict) or not header.get("ok"):
                    error = header.get("error") if isinstance(header, dict) else None
                    raise ControlError(f"the agent could not take a screenshot: {error}")
                size = header.get("size")
                if not isinstance(size, int) or not 0 < size <= MAX_ATTACHMENT_BYTES:
                    raise ControlError("the agent answered with a picture of no usable size")
                return await reader.readexactly(size)
            finally:
                writer.close()
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(f"no agent is running on {state_dir} (no {path.name})") from exc
    except PermissionError as exc:
        raise ControlError(f"cannot open {path}: run as the agent's user or root") from exc
    except TimeoutError as exc:
        raise ControlError(f"the agent did not answer within {timeout_s:.0f} s") from exc
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise ControlError("the agent's answer was cut short or did not read") from exc


__all__ = [
    "SOCKET_NAME",
    "ControlServer",
    "request_screenshot",
    "socket_path",
]
