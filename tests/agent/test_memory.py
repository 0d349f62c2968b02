from __future__ import annotations

import subprocess
import sys

import pytest

from agent.memory import _malloc_trim, resident_mib, trim_heap

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
