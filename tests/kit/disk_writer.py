"""A process writing into a disk tier, for the tests of its bound across processes (a module
of its own: spawned processes import only this)."""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from imagehost.service.derived_cache import DiskTier


def fill_disk_tier(root: str, bound: int, worker: int, together: Barrier,
                   results: Queue) -> None:
    """120 items of 3-12 kB, some read back, in step with the other writers (every ten
    items); puts the largest size seen after a write."""
    tier = DiskTier(Path(root), bound)
    largest = 0
    for n in range(120):
        if n % 10 == 0:
            together.wait()
        tier.put(f"derived/{worker}/abc/k{n}.jpg", bytes([n % 256]) * (3_000 + 75 * n))
        if n % 3 == 0:
            tier.get(f"derived/{worker}/abc/k{n // 2}.jpg")
        largest = max(largest, tier.bytes)
    tier.close()
    results.put(largest)
