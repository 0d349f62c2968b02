"""Waking long-polling devices when what their tenant's devices see has changed.

`GET /device/state?cursor=C&wait=N` holds the request while `C` is current, for up to N
seconds; the database calls `notify(tenant_id)` after committing a transaction that moved
the tenant's revision, which wakes every request waiting on that tenant. Everything runs on
the server's one event loop, so checking the cursor and starting to wait cannot miss a
change in between.

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

    def notify(self, tenant_id: str) -> None:
        """Wake the requests waiting on `tenant_id` (call on the loop, after the commit)."""
        event = self._events.pop(tenant_id, None)
        if event is not None:
            event.set()

    async def wait(self, tenant_id: str, timeout_s: float) -> bool:
        """Wait until `tenant_id` changes (True) or `timeout_s` passes or the server stops."""
        if self._closed:
            return False
        self._loop = asyncio.get_running_loop()
        event = self._events.setdefault(tenant_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return event.is_set() and not self._closed

    def close(self) -> None:
        """Release every waiter now and refuse to wait from here on; safe from a signal handler."""
        self._closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._release_all)

    def _release_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()


__all__ = ["ChangeFeed"]
