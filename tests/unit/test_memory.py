"""tune_malloc: blocks from MMAP_THRESHOLD_BYTES up are mapped on their own (returned to the
system when freed), smaller ones come from the heap, and the threshold stays put where glibc's
own climbs once a large block is freed (after which freed photos stay in the heap). Checked in
fresh interpreters, where the main thread allocates from glibc's [heap]."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imagehost.memory import MMAP_THRESHOLD_BYTES

PROBE = """
import ctypes, sys
from imagehost.memory import tune_malloc
tuned = tune_malloc() if sys.argv[1] == "tune" else None
def in_heap(size):
    block = bytearray(size)
    address = ctypes.addressof((ctypes.c_char * size).from_buffer(block))
    for line in open("/proc/self/maps"):
        if line.rstrip().endswith("[heap]"):
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            return low <= address < high
    return False
threshold = int(sys.argv[2])
READ = 256_000 + sys.getsizeof(b"")       # a bytes object of one of uvloop's largest reads
photo = bytearray(threshold * 8)
del photo                                 # glibc's own threshold now climbs to its size
print(tuned, in_heap(threshold // 2), in_heap(threshold * 2), in_heap(READ))
"""

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


def probe(mode: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return subprocess.run([sys.executable, "-c", PROBE, mode, str(MMAP_THRESHOLD_BYTES)],
                          check=True, capture_output=True, text=True, env=environ).stdout.split()


@glibc
def test_a_block_over_the_threshold_is_mapped_even_after_a_larger_one_was_freed() -> None:
    """...and the event loop's reads of a request body, 256 000 bytes at most, are not."""
    assert probe("tune") == ["True", "True", "False", "True"]


@glibc
def test_glibc_by_default_keeps_it_in_the_heap_once_a_larger_one_was_freed() -> None:
    assert probe("default") == ["None", "True", "True", "True"]
