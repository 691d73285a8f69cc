"""glibc's allocator, set for batch work: keep freed memory for the next chunk.

`gitml monitor` and `gitml predict` read a batch in chunks and free each chunk's arrays before
the next one. With glibc's default thresholds, a process that has only freed arrays of a few MB
hands that memory back to the kernel (the top of the heap is trimmed beyond twice the largest
block freed so far), so every chunk pays again to have its pages mapped and zeroed: the monitor
took ~650k page faults per 10M rows, about a quarter of its time (benchmarks/RESULTS.md, "Dask").

`keep_freed_memory()` sets the thresholds glibc would grow into on its own (blocks below 32 MiB
come from the heap, glibc's own ceiling for its dynamic threshold) and keeps up to 128 MiB of
freed memory for reuse. The peak RSS is the same (the chunks are the same size); the process just
keeps its peak until it ends, as a batch command or a Dask worker between partitions should.
Not for long-lived servers. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_done = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for batch work (once per process); whether it did."""
    global _done
    if _done:
        return True
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, ValueError, AttributeError):  # no such confstr name, or no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _done
