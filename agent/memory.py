"""Giving freed heap memory back to the system.

libvlc allocates a picture pool per item at the item's resolution and frees it on the next
switch; glibc keeps most of what was freed for reuse, so the agent's resident memory settles
well above what it uses. Measured here (a 1920x1080 message, a 1280x720 image and a 640x360
video in a loop): 172 MiB resident, 95 MiB after one `malloc_trim(0)`, which took 4-5 ms.
On a Pi that shares its RAM with the GPU, that difference matters, so the daemon trims every
few seconds from a worker thread: in `bench/agent_footprint.py` the agent's median resident
memory fell from 210 MiB (no trim) to 174 MiB (every 30 s) and 157 MiB (every 5 s). Only
switches free those pools, so it trims 5 s after an item starts, not while one stays.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from functools import cache

log = logging.getLogger(__name__)


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def trim_heap() -> bool | None:
    """Return freed heap pages to the system: True if any were, None where unsupported."""
    trim = _malloc_trim()
    if trim is None:
        return None
    return bool(trim(0))


def resident_mib() -> float | None:
    """This process's resident memory (VmRSS) in MiB, where /proc tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# After a switch, libvlc frees the old item's pools within a second or two; trim then, and
# again at this interval while switches keep coming. While one picture stays on screen,
# nothing is freed and the daemon does not wake for this at all.
HEAP_TRIM_INTERVAL_S = 5.0


async def trim_heap_forever(
    switched: asyncio.Event, interval_s: float = HEAP_TRIM_INTERVAL_S
) -> None:
    """Give the picture buffers libvlc freed back to the system: `interval_s` after a
    switch (`switched`, set by the daemon when an item starts), at most that often."""
    while True:
        await switched.wait()
        await asyncio.sleep(interval_s)
        switched.clear()
        before = resident_mib()
        if await asyncio.to_thread(trim_heap) is None:
            await asyncio.Event().wait()  # not glibc: nothing to trim, stay alive
        log.debug("heap trimmed: resident %.0f -> %.0f MiB", before or 0, resident_mib() or 0)


__all__ = ["HEAP_TRIM_INTERVAL_S", "resident_mib", "trim_heap", "trim_heap_forever"]
