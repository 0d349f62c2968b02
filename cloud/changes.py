"""Waking long-polling devices when something that concerns them has changed.

`GET /device/state?cursor=C&wait=N` holds the request while nothing in the device's change
log is newer than `C`, for up to N seconds. A write records, in its own transaction, which
devices it concerns (`cloud.changelog`); after the commit the database calls
`notify(pairs)` with those (tenant, device) pairs, which wakes exactly their requests: an
edit of a playlist nobody plays wakes nobody, an asset rename wakes the screens whose
playlist uses it.

Commits happen in worker threads (database work stays off the event loop), so `notify`
hands the wake-up to the loop with `call_soon_threadsafe`, once per commit whatever the
number of devices. A request therefore starts watching *before* it reads its changes in a
thread: a change committed after the read still finds the watch and sets it, and one
committed before shows in the read.

An admin waiting for a command's results (`GET /admin/commands/{id}?wait=N`) watches the
pair (tenant, command id) the same way: a device's result wakes it (`cloud.commands`).
Command ids (`cmd_…`) and device ids (`dev_…`) never collide.

At shutdown `close()` wakes every waiter at once: uvicorn waits for open requests before it
stops, and a held request would otherwise delay a restart by its whole wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

DeviceKey = tuple[str, str]  # (tenant id, device id), or (tenant id, command id)


class ChangeFeed:
    def __init__(self) -> None:
        self._events: dict[DeviceKey, asyncio.Event] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver wake-ups on `loop`, the server's event loop (call at start-up)."""
        self._loop = loop

    def notify(self, devices: Collection[DeviceKey]) -> None:
        """Wake the requests of these (tenant, device) pairs; call from any thread after commit."""
        loop = self._loop
        if loop is None or loop.is_closed() or not devices:
            return  # no server loop, so nobody can be watching (e.g. the CLI)
        loop.call_soon_threadsafe(self._wake, tuple(devices))

    def watch(self, tenant_id: str, device_id: str) -> asyncio.Event:
        """An event set by the device's next change; call on the loop before reading changes."""
        return self._events.setdefault((tenant_id, device_id), asyncio.Event())

    async def wait(self, watch: asyncio.Event, timeout_s: float) -> bool:
        """Wait until `watch` is set (True) or `timeout_s` passes or the server stops."""
        if self._closed:
            return False
        # not `asyncio.wait_for`: in Python 3.11 it can lose a cancellation that comes as the
        # event is set (CPython gh-86296), and the server's shutdown would wait on this task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await watch.wait()
        return watch.is_set() and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    def watched(self) -> int:
        """How many devices have a request watching now (for tests and benchmarks)."""
        return len(self._events)

    def close(self) -> None:
        """Release every waiter now and refuse to wait from here on; safe from a signal handler."""
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._release_all)

    def _wake(self, devices: tuple[DeviceKey, ...]) -> None:
        for key in devices:
            event = self._events.pop(key, None)
            if event is not None:
                event.set()

    def _release_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


__all__ = ["ChangeFeed", "DeviceKey"]
