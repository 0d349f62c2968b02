from __future__ import annotations

import subprocess
import sys

import pytest

from agent.memory import _malloc_trim, _mallopt, bound_heap, resident_mib, trim_heap

# Run in a fresh process, so the test's own heap (pytest, other tests) does not blur the figure.
PROBE = """
from agent.memory import resident_mib, trim_heap
blocks = [bytearray(64 * 1024) for _ in range(3200)]  # ~200 MiB in heap-sized blocks
# allocated last: keeps the heap's top in use, so free() alone cannot shrink the heap
pin = bytearray(64 * 1024)
del blocks
before = resident_mib()
trimmed = trim_heap()
after = resident_mib()
print(before, after, trimmed)
"""


@pytest.mark.skipif(_malloc_trim() is None, reason="not glibc")
def test_trimming_returns_freed_heap_memory_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    before, after, trimmed = out.stdout.split()
    assert trimmed == "True"
    assert float(before) - float(after) > 100  # MiB given back


def test_resident_memory_is_reported() -> None:
    assert (resident_mib() or 0) > 1
    assert trim_heap() in (True, False, None)


# Picture-sized blocks freed with smaller blocks still in use between them, as when libvlc
# frees one item's pool while the agent keeps running. Prints the resident memory the freed
# blocks left behind, in MiB.
FREED_POOLS = """
import ctypes, sys
from agent.memory import bound_heap, resident_mib
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "bounded":
    assert bound_heap({}) is True
one = libc.malloc(4 << 20)  # a first large block, mapped; freeing it is what makes glibc
ctypes.memset(one, 1, 4 << 20)  # raise its threshold when it is left alone
libc.free(one)
before = resident_mib()
pictures, pins = [], []
for _ in range(40):  # 120 MiB of 3 MiB pictures, a smaller block kept after each
    block = libc.malloc(3 << 20)
    ctypes.memset(block, 1, 3 << 20)
    pictures.append(block)
    pins.append(libc.malloc(100_000))  # from the heap's top, after the picture
for block in pictures:
    libc.free(block)
print(resident_mib() - before)
"""


@pytest.mark.skipif(_mallopt() is None, reason="not glibc")
def test_freed_picture_buffers_leave_the_process_at_once_with_a_bounded_heap() -> None:
    def left_behind(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", FREED_POOLS, mode], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    assert left_behind("glibc's default") > 60  # the pools stay with the process
    assert left_behind("bounded") < 10


def test_an_operators_own_threshold_is_left_alone() -> None:
    assert bound_heap({"MALLOC_MMAP_THRESHOLD_": "65536"}) is None
