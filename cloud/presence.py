"""Whether a device is online: it holds a long-poll, or it was heard from a moment ago.

    online  =  a `GET /device/state?wait=N` of the device is held open right now
            or its last authenticated request (`devices.last_seen_at`: any device request,
               heartbeats included) is at most `window_s` old

The window is two heartbeats and a margin (`SIGNAGE_CLOUD_ONLINE_WINDOW_S`, 150 s), so one
lost heartbeat does not flip a screen to offline, and a screen that stopped talking shows
offline within about two and a half minutes. A device that holds a long-poll is online
whatever the window: its request is the proof, even if it was made a minute ago.

Held long-polls are counted in the process's memory, on the event loop, and read by the
admin endpoints' worker threads (one lock). A restart forgets them; the devices reconnect at
once, and `last_seen_at` covers the gap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from cloud.settings import DEFAULT_ONLINE_WINDOW_S

DeviceKey = tuple[str, str]  # (tenant id, device id)


class Presence:
    def __init__(self, *, window_s: float = DEFAULT_ONLINE_WINDOW_S) -> None:
        self.window_s = window_s
        self._holding: dict[DeviceKey, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, tenant_id: str, device_id: str) -> Iterator[None]:
        """While inside, the device holds a long-poll (requests may overlap: they are counted)."""
        key = (tenant_id, device_id)
        with self._lock:
            self._holding[key] = self._holding.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._holding.get(key, 1) - 1
                if left > 0:
                    self._holding[key] = left
                else:
                    self._holding.pop(key, None)

    def holds(self, tenant_id: str, device_id: str) -> bool:
        """Whether the device holds a long-poll now."""
        with self._lock:
            return (tenant_id, device_id) in self._holding

    def online(
        self, tenant_id: str, device_id: str, *, last_seen_at: str | None, now: float
    ) -> bool:
        """The rule of the module docstring; `last_seen_at` as stored, `now` the epoch's s."""
        if self.holds(tenant_id, device_id):
            return True
        if not last_seen_at:
            return False
        try:
            seen = datetime.fromisoformat(last_seen_at).timestamp()
        except ValueError:
            return False
        return now - seen <= self.window_s


__all__ = ["Presence"]
