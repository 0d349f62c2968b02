"""Waking long-polling devices when what their tenant's devices see has changed.

`GET /device/state?cursor=C&wait=N` holds the request while `C` is current, for up to N
seconds; the database calls `notify(tenant_id)` after committing a transaction that moved
the tenant's revision, which wakes every request waiting on that tenant.

Commits happen in worker threads (database work stays off the event loop), so `notify`
hands the wake-up to the loop with `call_soon_threadsafe`. A request therefore starts
watching *before* it reads the cursor in a thread: a change committed after the read
still finds the watch and sets it, and one committed before shows in the cursor read.

At shutdown `close()` wakes every waiter at once: uvicorn waits for open requests before it
stops, and a held request would otherwise delay a restart by its whole wait.
"""

from __future__ import annotations

import asyncio
import contextlib


class ChangeFeed:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver wake-ups on `loop`, the server's event loop (call at start-up)."""
        self._loop = loop

    def notify(self, tenant_id: str) -> None:
        """Wake the requests watching `tenant_id`; call from any thread after the commit."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # no server loop, so nobody can be watching (e.g. the CLI)
        loop.call_soon_threadsafe(self._wake, tenant_id)

    def watch(self, tenant_id: str) -> asyncio.Event:
        """An event set by the tenant's next change; call on the loop before reading a cursor."""
        return self._events.setdefault(tenant_id, asyncio.Event())

    async def wait(self, watch: asyncio.Event, timeout_s: float) -> bool:
        """Wait until `watch` is set (True) or `timeout_s` passes or the server stops."""
        if self._closed:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.wait(), timeout_s)
        return watch.is_set() and not self._closed

    def close(self) -> None:
        """Release every waiter now and refuse to wait from here on; safe from a signal handler."""
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._release_all)

    def _wake(self, tenant_id: str) -> None:
        event = self._events.pop(tenant_id, None)
        if event is not None:
            event.set()

    def _release_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


__all__ = ["ChangeFeed"]
