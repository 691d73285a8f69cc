"""gitml.malloc: batch commands keep freed memory for the next chunk instead of re-faulting it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

GLIBC = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")

#: Five rounds of what a chunk does: 32 column-sized arrays (2 MB each) written, then freed.
#: Prints each round's minor page faults (pages the kernel had to map and zero).
CHUNKS = """
import json, resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from gitml.malloc import keep_freed_memory
    assert keep_freed_memory()
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(250_000) for _ in range(32)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults))
"""


def chunk_faults(mode: str) -> list[int]:
    proc = subprocess.run(
        [sys.executable, "-c", CHUNKS, mode], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def test_later_chunks_reuse_the_pages_the_first_one_freed() -> None:
    # gitml runs on glibc (Debian here and in CI); elsewhere the call is a no-op and this fails.
    assert GLIBC, "gitml.malloc sets glibc's thresholds; this C library is not glibc"
    first, *later = chunk_faults("keep")
    assert first > 10_000  # 64 MB of fresh pages: 16k faults of 4 KiB
    assert max(later) < first / 20, (first, later)
    # With glibc's defaults every chunk pays again: the heap's top is handed back to the kernel.
    default_first, *default_later = chunk_faults("default")
    assert min(default_later) > default_first / 2, (default_first, default_later)


def test_it_is_set_once_and_says_whether_it_could() -> None:
    from gitml.malloc import keep_freed_memory

    assert keep_freed_memory() is GLIBC
    assert keep_freed_memory() is GLIBC
