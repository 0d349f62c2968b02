"""Giving freed memory back to the system.

libvlc allocates a picture pool per item at the item's resolution and frees it on the next
switch. Two things keep what it freed from staying with the agent:

- `bound_heap()`, once at start: every block of 128 KiB or more (a picture) gets its own
  mapping, unmapped when freed, instead of glibc raising that threshold and carving the next
  pools from a heap that then keeps them (see its docstring for the figures).
- `trim_heap_forever()`: smaller blocks freed in the middle of a heap stay with glibc until
  a `malloc_trim(0)`. Measured before `bound_heap` (a 1920x1080 message, a 1280x720 image
  and a 640x360 video in a loop): 172 MiB resident, 95 MiB after one trim, which took 4-5 ms;
  in `bench/agent_footprint.py` the agent's median resident memory fell from 210 MiB (no
  trim) to 174 MiB (every 30 s) and 157 MiB (every 5 s). Only switches free those pools, so
  it trims 5 s after an item starts, not while one stays.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Mapping
from functools import cache

log = logging.getLogger(__name__)


def _glibc(name: str, argtypes: list[type], restype: type) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """glibc's function `name`, or None where the C library is not glibc (musl, macOS)."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = restype
    return function


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    return _glibc("malloc_trim", [ctypes.c_size_t], ctypes.c_int)


# glibc's mallopt() parameter and the value it starts with: blocks of this size or more get
# their own mapping, given back to the system when freed.
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
# Set by an operator who tunes glibc's threshold himself (see `bound_heap`).
MMAP_THRESHOLD_ENV = "MALLOC_MMAP_THRESHOLD_"


@cache
def _mallopt() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    return _glibc("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)


def bound_heap(environ: Mapping[str, str] = os.environ) -> bool | None:
    """Keep large blocks (libvlc's picture buffers, 3 MiB each at 1080p) out of the heap,
    so that freeing them gives their memory back at once. Call before libvlc starts.

    glibc maps a block of 128 KiB or more on its own, but the first time such a block is
    freed it raises that threshold to the block's size (up to 32 MiB): from then on every
    picture buffer is carved from a heap, freed pools stay there between items, and the
    heap grows as items of other sizes come and go. Fixing the threshold turns the
    raising off. Measured with libvlc alone (1080p and 720p videos and a 1080p picture in
    turn, 12 items): peak 292 -> 169 MiB, resident after each item climbing from 130 to
    232 MiB -> flat at 89-138 MiB (docs/performance.md, "Memory over many switches").

    Returns True if set, False if glibc refused, None where there is nothing to set (not
    glibc, or the operator set `MALLOC_MMAP_THRESHOLD_`, which glibc has already applied).
    """
    if MMAP_THRESHOLD_ENV in environ:
        return None
    mallopt = _mallopt()
    if mallopt is None:
        return None
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


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


__all__ = [
    "HEAP_TRIM_INTERVAL_S",
    "MMAP_THRESHOLD_BYTES",
    "bound_heap",
    "resident_mib",
    "trim_heap",
    "trim_heap_forever",
]
