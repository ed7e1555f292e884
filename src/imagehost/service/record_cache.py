"""Published records kept a moment in process, so that serving a derived image does not read
the catalog on every request.

The code that writes a record forgets it here (service/storing.py, deletion.py, records.py);
writes by other processes (more workers, CLI jobs) show after `ttl` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from imagehost.catalog.models import ImageRecord, ImageStatus


class RecordCache:
    """Active records by id, each for `ttl` seconds, at most `max_items` (least recently stored
    go first). Read on the event loop, forgotten from any thread."""

    def __init__(self, ttl: float, max_items: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._clock = clock
        self._items: OrderedDict[int, tuple[float, ImageRecord]] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0
        """Counts writes: a record read before a write may predate it, so `put` with the
        generation seen before the read refuses it."""

    def get(self, record_id: int) -> ImageRecord | None:
        item = self._items.get(record_id)
        if item is None:
            return None
        if item[0] <= self._clock():
            self._items.pop(record_id, None)
            return None
        return item[1]

    def put(self, record: ImageRecord, read_at: int | None = None) -> None:
        """Keep `record`, unless a record was written since generation `read_at`."""
        if self.ttl <= 0 or record.status != ImageStatus.ACTIVE.value:
            return
        with self._lock:
            if read_at is not None and read_at != self.generation:
                return
            self._items.pop(record.id, None)
            self._items[record.id] = (self._clock() + self.ttl, record)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def forget(self, record_id: int | None = None) -> None:
        """A record was written: drop it (every record when `record_id` is None)."""
        with self._lock:
            if record_id is None:
                self._items.clear()
            else:
                self._items.pop(record_id, None)
            self.generation += 1

    def __len__(self) -> int:
        return len(self._items)
