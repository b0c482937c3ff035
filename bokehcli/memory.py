"""Full-frame arrays reused from the heap while a photo renders, instead of mapped afresh.

glibc serves every allocation above its mmap threshold (32 MiB at most) with a new ``mmap`` and
unmaps it on ``free``. A render allocates and frees hundreds of full-frame tensors (each layer's
weights and five-channel stack, the blur's padded and upsampled copies), so the kernel maps,
zero-fills and unmaps gigabytes per photo, one page fault per 4 KiB. A 6 MP close-up at f/1.8
(900 px of blur, 29 layers) took 30.8 million page faults and 51 s of system time out of 124 s.

:func:`heap_reuse` turns that off around a render: allocations come from the heap (``mallopt``
``M_MMAP_MAX`` = 0) and freed blocks stay there for the next one (``M_TRIM_THRESHOLD`` = -1, "never
trim"). On leaving, glibc's defaults come back and ``malloc_trim(0)`` hands the free memory to the
kernel, so a batch does not hold on to one photo's fragments while rendering the next. Measured
figures are in docs/design.md ("Reuse freed memory").

Only with glibc; elsewhere (musl, macOS, Windows) a no-op. A user who set glibc's own
``MALLOC_MMAP_MAX_`` or ``MALLOC_TRIM_THRESHOLD_`` keeps them: nothing is changed then.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from typing import Iterator

# mallopt(3) parameters and glibc's defaults for them
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD = 128 * 1024
DEFAULT_MMAP_MAX = 65536
NEVER_TRIM = -1
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=None)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("gnu_get_libc_version", "mallopt", "malloc_trim")):
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def heap_reuse_available() -> bool:
    """Whether :func:`heap_reuse` changes anything here (glibc, and no user malloc settings)."""
    return _glibc() is not None and not any(name in os.environ for name in USER_SETTINGS)


@contextlib.contextmanager
def heap_reuse() -> Iterator[None]:
    """Inside: large allocations from the heap, freed memory kept for reuse. Nested or concurrent
    uses share one setting; the last to leave restores glibc's defaults and trims the heap."""
    global _depth
    libc = _glibc() if heap_reuse_available() else None
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
