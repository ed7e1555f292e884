"""tune_malloc: blocks under MMAP_THRESHOLD_BYTES come from the heap (no page faults of a
fresh mapping on every render), larger ones are mapped on their own (returned when freed).
Checked in fresh interpreters, where the main thread allocates from glibc's [heap]."""

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
print(tuned, in_heap(int(sys.argv[2]) // 2), in_heap(int(sys.argv[2]) * 4))
"""

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")


def probe(mode: str) -> list[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    return subprocess.run([sys.executable, "-c", PROBE, mode, str(MMAP_THRESHOLD_BYTES)],
                          check=True, capture_output=True, text=True, env=environ).stdout.split()


@glibc
def test_a_block_under_the_threshold_comes_from_the_heap_and_a_larger_one_is_mapped() -> None:
    assert probe("tune") == ["True", "True", "False"]


@glibc
def test_glibc_by_default_maps_the_smaller_block_too() -> None:
    assert probe("default") == ["None", "False", "False"]
