"""Telling systemd how the agent is doing (sd_notify), without a library.

`Type=notify` units read datagrams on the socket named by `NOTIFY_SOCKET`: `READY=1` once
the screen shows something, `WATCHDOG=1` at least every `WATCHDOG_USEC` microseconds (or
systemd restarts the service), `STOPPING=1` on the way out, `STATUS=...` for
`systemctl status`. The watchdog pings come from the agent's event loop, so a loop that
hangs (a libvlc call that never returns, say) gets the agent restarted instead of leaving a
frozen screen. Outside systemd there is no socket and every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)


def _address(environ: Mapping[str, str]) -> str | None:
    path = environ.get("NOTIFY_SOCKET")
    if not path or path[0] not in "/@":
        return None
    return "\0" + path[1:] if path[0] == "@" else path  # "@name": Linux abstract namespace


def notify(*fields: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `fields` (like "READY=1") to systemd; False when not run by systemd or it failed."""
    address = _address(os.environ if environ is None else environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError as exc:
        log.warning("cannot tell systemd %s: %s", fields[0], exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to ping the watchdog (half its timeout), or None when it is off."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", str(os.getpid())))
    except ValueError:
        return None
    if usec <= 0 or pid != os.getpid():
        return None
    return usec / 1_000_000 / 2


STATUS_EVERY_S = 5.0


async def report_forever(ready: Callable[[], Awaitable[None]], status: Callable[[], str]) -> None:
    """READY=1 once `ready()` returns (the screen shows something), then watchdog pings from
    this loop and `STATUS=` (one human line for `systemctl status`) whenever it changes."""
    await ready()
    shown = status()
    notify("READY=1", f"STATUS={shown}")
    interval = watchdog_interval_s()
    while True:
        fields = ["WATCHDOG=1"] if interval is not None else []
        now = status()
        if now != shown:
            shown = now
            fields.append(f"STATUS={now}")
        if fields:
            notify(*fields)
        await asyncio.sleep(min(interval or STATUS_EVERY_S, STATUS_EVERY_S))


__all__ = ["notify", "report_forever", "watchdog_interval_s"]
