"""How the server's malloc keeps memory, and handing freed memory back to the system.

glibc's malloc keeps what threads free for their next allocations: after an upload (libvips'
decode buffers, the encoders' work areas) the server's resident memory would stay near its
high-water mark and creep up with fragmentation from one upload to the next. malloc_trim
returns the free pages (about 1 ms). Elsewhere than glibc this does nothing."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

MMAP_THRESHOLD_BYTES = 256 * 1024
"""Blocks from 256 KiB up (a decoded photo, an upload's whole body) are mapped on their own
and go back to the system when freed; glibc's own threshold climbs with the blocks freed, up
to 32 MiB, and freed photos then stay in the heap. Below it stay the event loop's reads
(uvloop reads at most 256 000 bytes at a time): at 128 KiB each read of an upload's body was
a fresh mapping, its pages faulted in one by one (bench/upload.py --http-only, 12 MP PNG over
HTTP against the floor: 1.27x at 128 KiB, median of 9 runs; 1.21x at 256 KiB, of 5). Peak
RSS after 32 uploads: 145 MB at 128 KiB (max 148), 148 at 256 KiB (max 149.8), 152-154 at
512 KiB and 1 MiB."""
ARENAS = 2
"""malloc arenas for all threads (glibc's default is 8 per core): fewer half-empty heaps."""
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None


@functools.cache
def _malloc_trim() -> Callable[..., int] | None:
    return _libc_function("malloc_trim")


def tune_malloc() -> bool:
    """ARENAS and MMAP_THRESHOLD_BYTES for this process (what MALLOC_ARENA_MAX and
    MALLOC_MMAP_THRESHOLD_ would set); call it before the threads start. False where the C
    library has no mallopt or refused them."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    return (mallopt(_M_ARENA_MAX, ARENAS) == 1
            and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
