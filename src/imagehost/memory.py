"""Handing freed memory back to the system.

glibc's malloc keeps what threads free for their next allocations: after an upload (libvips'
decode buffers, the encoders' work areas) the server's resident memory would stay near its
high-water mark and creep up with fragmentation from one upload to the next. malloc_trim
returns the free pages (about 1 ms). Elsewhere than glibc this does nothing."""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
