"""Freed full-frame buffers reused from the heap during a render (bokehcli/memory.py).

Each check runs in a fresh interpreter (glibc's allocator state is process-wide) and reads the
allocator's own accounting, ``mallinfo2``: bytes in separately mapped blocks (``hblkhd``) and free
bytes kept in the heap (``fordblks``). Page-fault counts would depend on the kernel's transparent
huge pages; what is timed is in docs/design.md, measured with ``bokeh bench``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bokehcli.memory import _glibc

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(_glibc() is None, reason="heap reuse is glibc-only")

# A 64 MiB buffer (over glibc's largest mmap threshold, as a 24 MP layer stack is) made and freed
# outside the context, then inside it; the resident size is compared before and after.
_BUFFERS = """
import ctypes
import numpy as np
from bokehcli.memory import heap_reuse, heap_reuse_available

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
MIB = 2**20

def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / MIB

def buffer_mapped_then_kept_free():
    buffer = np.ones(64 * MIB // 4, np.float32)
    mapped = libc.mallinfo2().hblkhd >= 64 * MIB
    del buffer
    return mapped, libc.mallinfo2().fordblks >= 64 * MIB

print(heap_reuse_available())
print(*buffer_mapped_then_kept_free())
resident = resident_mib()
with heap_reuse():
    print(*buffer_mapped_then_kept_free())
print(resident_mib() - resident)
"""


def run_buffers(**env) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _BUFFERS], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_large_buffer_comes_from_the_heap_and_stays_for_reuse_then_goes_back():
    """Outside: mapped on its own and unmapped when freed (the next one is mapped and zero-filled
    afresh, page by page). Inside: from the heap, and free there after ``del`` for the next one.
    After leaving: the memory is the kernel's again."""
    available, outside_mapped, outside_kept, inside_mapped, inside_kept, resident_growth_mib = run_buffers()
    assert available == "True"
    assert (outside_mapped, outside_kept) == ("True", "False")
    assert (inside_mapped, inside_kept) == ("False", "True")
    assert float(resident_growth_mib) < 16


def test_a_users_own_malloc_settings_win():
    available, outside_mapped, _, inside_mapped, _, _ = run_buffers(MALLOC_TRIM_THRESHOLD_="131072")
    assert available == "False"
    assert (outside_mapped, inside_mapped) == ("True", "True")
