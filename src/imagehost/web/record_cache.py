"""Published records kept a moment in process, so that serving a derived image does not read
the catalog on every request.

Only the derived-image route reads it. Writes through this process clear it (see
web/fast_path.py); writes by other processes (more workers, CLI jobs) show after `ttl` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from imagehost.catalog.models import ImageRecord, ImageStatus


class RecordCache:
    """Active records by id, each for `ttl` seconds, at most `max_items` (least recently stored
    go first). Used on the event loop only, so it needs no lock."""

    def __init__(self, ttl: float, max_items: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._clock = clock
        self._items: OrderedDict[int, tuple[float, ImageRecord]] = OrderedDict()
        self.generation = 0
        """Counts clears: a record read before a clear may predate a write, so `put` with the
        generation seen before the read refuses it."""

    def get(self, record_id: int) -> ImageRecord | None:
        item = self._items.get(record_id)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[record_id]
            return None
        return item[1]

    def put(self, record: ImageRecord, read_at: int | None = None) -> None:
        """Keep `record`, unless the cache was cleared since generation `read_at`."""
        if self.ttl <= 0 or record.status != ImageStatus.ACTIVE.value:
            return
        if read_at is not None and read_at != self.generation:
            return
        self._items.pop(record.id, None)
        self._items[record.id] = (self._clock() + self.ttl, record)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._items)
