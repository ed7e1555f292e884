"""Three tiers for derived images: process memory, local disk, and the shared cache store.

Keys are `derived/<record id>/<sha256 prefix of the original>/<canonical name>`: purging an
image is a prefix delete, and a replaced original never serves its predecessor's derivatives.
The disk tier and the cache store keep their size bounds across processes and instances: the
disk tier in its own SQLite database (diskcache), the cache store in the catalog.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import diskcache

from imagehost.catalog.derived_objects import DerivedEntry, DerivedObjectCatalog
from imagehost.errors import NotFound, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.memory import release_freed_memory
from imagehost.storage.base import Store

log = logging.getLogger(__name__)
PREFIX = "derived"
TOUCH_INTERVAL = timedelta(minutes=10)
"""A cache-store hit marks its object used in the catalog at most this often per process."""
_TOUCHED_KEYS = 10_000
WRITE_BEHIND_BYTES = 16 * 1024 * 1024
"""Most bytes waiting for the writer thread; past it, a write happens in its caller."""
WRITE_BEHIND_WAIT = 0.05
"""Longest the writer thread waits, while renders are running, to take their images in the
same batch: a batch costs about 1 ms of transactions whatever its size, plus 0.2 ms an image."""
TRIM_EVERY_BYTES = 8 * 1024 * 1024
"""After this many bytes evicted from the memory tier, the writer thread hands the freed
memory back to the system (glibc's malloc_trim): images evicted in LRU order leave holes
that malloc otherwise keeps (bench/README.md, the soak)."""


def cache_key(record_id: int, sha256: str, name: str) -> str:
    return f"{PREFIX}/{record_id}/{sha256[:16]}/{name}"


def record_prefix(record_id: int) -> str:
    return f"{PREFIX}/{record_id}/"


def record_of(key: str) -> int:
    """The record id in a derived key (0 for a key of no record)."""
    parts = key.split("/")
    return int(parts[1]) if len(parts) > 2 and parts[0] == PREFIX and parts[1].isdigit() else 0


class MemoryTier:
    """An LRU bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = 0
        """Bytes evicted or purged so far."""
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 8:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            self.bytes -= len(previous) if previous is not None else 0
            self._items[key] = data
            self.bytes += len(data)
            while self.bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= len(evicted)
                self.evicted += len(evicted)

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [k for k in self._items if k.startswith(prefix)]

    def purge(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                size = len(self._items.pop(key))
                self.bytes -= size
                self.evicted += size

    def __len__(self) -> int:
        return len(self._items)


class DiskTier:
    """Derived images in a diskcache under `root`: values in its SQLite database (a killed
    write leaves nothing behind), bounded in bytes with the least recently used evicted
    first. The bound and the order are kept in the database, so they hold for every process
    and instance using the folder, and across restarts."""

    def __init__(self, root: Path, max_bytes: int, *, timeout: float = 2.0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        _remove_old_layout(root)
        self._cache = diskcache.Cache(
            str(root), timeout=timeout, size_limit=max_bytes,
            eviction_policy="least-recently-used", cull_limit=1, tag_index=True,
            disk_min_file_size=_IN_DATABASE, sqlite_journal_size_limit=_WAL_KEPT,
            sqlite_mmap_size=0, sqlite_cache_size=_PAGES_CACHED)
        self._trim()

    @property
    def bytes(self) -> int:
        """The size of the tier's database, which the bound applies to."""
        return self._cache.volume()

    def get(self, key: str) -> bytes | None:
        try:
            return self._cache.get(key)
        except diskcache.Timeout:
            return None  # other processes hold the database: a miss, not a wait

    def put(self, key: str, data: bytes) -> None:
        self.put_many([(key, data)])

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        """In one transaction; an item over an eighth of the bound is not kept."""
        kept = [(key, data) for key, data in items if len(data) <= self.max_bytes // 8]
        if not kept:
            return
        try:
            with self._cache.transact():    # busy: Timeout, not a wait
                for key, data in kept:
                    self._cache.set(key, data, tag=record_of(key))
        except diskcache.Timeout:
            log.warning("disk cache busy: %d derived images not kept", len(kept))
            return
        self._trim()

    def keys(self, prefix: str = "") -> list[str]:
        return [key for key in self._cache.iterkeys() if key.startswith(prefix)]

    def purge(self, prefix: str) -> None:
        self._cache.evict(record_of(prefix), retry=True)

    def close(self) -> None:
        self._cache.close()

    def _trim(self) -> None:
        """Each write evicts the least recently used item when past the bound; a write larger
        than that item needs more (diskcache then evicts ten at a time)."""
        if self._cache.volume() > self.max_bytes:
            self._cache.cull(retry=True)


_IN_DATABASE = 2**40
_WAL_KEPT = 4 * 1024 * 1024
# diskcache's defaults map 64 MiB of the database and cache 32 MiB of pages in every thread's
# connection: once the tier holds more than that, 100-200 MB of the process's RSS (the soak)
_PAGES_CACHED = 1024
_OLD_FILE = re.compile(r"[0-9a-f]{40}|\.tmp.*")


def _remove_old_layout(root: Path) -> None:
    """Earlier versions kept `<root>/<record id>/<hash>` files with per-process bookkeeping."""
    for folder in root.iterdir():
        if not folder.is_dir() or not (folder.name.isdigit() or folder.name == "misc"):
            continue
        for path in folder.iterdir():
            if _OLD_FILE.fullmatch(path.name):
                path.unlink(missing_ok=True)
        try:
            folder.rmdir()
        except OSError:
            continue


class DerivedCache:
    """Lookups go memory -> disk -> store; a hit in a lower tier fills the upper ones.

    Every object put in the cache store is recorded in the catalog (`objects`) with its size
    and last use; past `max_bytes` in all, the least recently used objects go. A store hit
    marks its object used at most once per TOUCH_INTERVAL per process.

    `put(..., later=True)` leaves the disk and cache-store writes (and the catalog's count) to
    one writer thread, so that a render's answer does not wait for them; until they are done,
    `get` answers the key from the bytes being written ("coalesced"), and `purge` and
    `in_store` wait for them. The writer takes what has queued up meanwhile as one batch, with
    one catalog transaction for the batch's rows."""

    def __init__(self, store: Store, memory: MemoryTier | None = None,
                 disk: DiskTier | None = None, *, objects: DerivedObjectCatalog,
                 max_bytes: int = 0, max_age: float = 0.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.memory = memory
        self.disk = disk
        self.objects = objects
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.clock = clock
        self._touched: dict[str, datetime] = {}
        self._writing: dict[str, tuple[bytes, Future[None]]] = {}
        self._queued: list[str] = []
        self._writing_bytes = 0
        self._writing_lock = threading.Lock()
        self._rendered = threading.Condition(self._writing_lock)
        self._rendering = 0
        self._writer: ThreadPoolExecutor | None = None
        self._draining = False
        self._trimmed_at = 0

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The bytes and the tier that had them."""
        if self.memory is not None and (data := self.memory.get(key)) is not None:
            return data, "memory"
        if (writing := self._writing.get(key)) is not None:
            return writing[0], "coalesced"
        if self.disk is not None and (data := self.disk.get(key)) is not None:
            self._fill(key, data, disk=False)
            return data, "disk"
        try:
            data = self.store.get(key)
        except NotFound:
            return None
        except StoreUnavailable as exc:
            log.warning("cache store unavailable: %s", exc.message)
            return None
        self._fill(key, data, disk=True)
        self._mark_used(key, len(data))
        return data, "store"

    @contextmanager
    def rendering(self) -> Iterator[None]:
        """Around a render whose image will be `put`: the writer thread waits for it (at
        most WRITE_BEHIND_WAIT) to write it in the same batch as the images before it."""
        with self._writing_lock:
            self._rendering += 1
        try:
            yield
        finally:
            with self._writing_lock:
                self._rendering -= 1
                self._rendered.notify()

    def put(self, key: str, data: bytes, *, later: bool = False) -> Future[None] | None:
        """In every tier. With `later`, in memory now and below it on the writer thread: the
        future is done once written (it never fails: a failed write is only logged). When the
        writer is WRITE_BEHIND_BYTES behind, the write happens now."""
        if later:
            if self.memory is not None:
                self.memory.put(key, data)
            with self._writing_lock:
                if key in self._writing:
                    return self._writing[key][1]
                if self._writing_bytes + len(data) <= WRITE_BEHIND_BYTES:
                    future: Future[None] = Future()
                    self._writing[key] = (data, future)
                    self._queued.append(key)
                    self._writing_bytes += len(data)
                    if not self._draining:
                        self._draining = True
                        if self._writer is None:
                            self._writer = ThreadPoolExecutor(
                                1, thread_name_prefix="imagehost-cache-write")
                        self._writer.submit(self._drain)
                    return future
        self._fill(key, data, disk=True)
        self.put_in_store(key, data)
        return None

    def put_in_store(self, key: str, data: bytes) -> None:
        """Store `key` in the cache store only (a temporary URL needs it there)."""
        self._put_many_in_store([(key, data)])

    def _put_many_in_store(self, objects: list[tuple[str, bytes]]) -> None:
        """The rows go first, in one transaction: a process killed before the objects are
        written leaves rows without objects (harmless), never an object that no bound
        counts."""
        now = self.clock()
        total = self.objects.use_many([(key, record_of(key), len(data)) for key, data in objects],
                                      now)
        for key, data in objects:
            self._remember(key, now)
            try:
                self.store.put(key, data, content_type_of(key))
            except StoreUnavailable as exc:
                log.warning("cache store unavailable: %s", exc.message)
                return
        self._bound(total)

    def in_store(self, key: str) -> bool:
        self._wait_for_writes(key)
        return self.store.exists(key)

    def purge(self, record_id: int) -> int:
        prefix = record_prefix(record_id)
        self._wait_for_writes(prefix)
        if self.memory is not None:
            self.memory.purge(prefix)
        if self.disk is not None:
            self.disk.purge(prefix)
        keys = [info.key for info in self.store.list(prefix)]
        for key in keys:
            self.store.delete(key)
        self.objects.forget_record(record_id)
        for key in list(self._touched):   # list() copies at once; other threads add keys
            if key.startswith(prefix):
                self._touched.pop(key, None)
        return len(keys)

    def trim(self) -> list[str]:
        """Remove the objects unused for `max_age` and, past `max_bytes`, the least recently
        used (after the bound was lowered); returns their keys."""
        removed: list[str] = []
        if self.max_age:
            cutoff = self.clock() - timedelta(seconds=self.max_age)
            while stale := self.objects.unused_since(cutoff):
                evicted = self._evict(stale)
                removed += evicted
                if len(evicted) < len(stale):
                    break
        if self.max_bytes:
            removed += self._evict(self.objects.least_recent(
                self.objects.total() - self.max_bytes))
        return removed

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self.disk is not None:
            self.disk.close()

    def _drain(self) -> None:
        """The writer thread: write what is queued, batch after batch, until nothing is."""
        while True:
            with self._writing_lock:
                deadline = time.monotonic() + WRITE_BEHIND_WAIT
                while self._rendering and (left := deadline - time.monotonic()) > 0:
                    self._rendered.wait(left)
                batch = [(key, self._writing[key][0]) for key in self._queued]
                self._queued.clear()
                if not batch:
                    self._draining = False
                    return
            try:
                if self.disk is not None:
                    self.disk.put_many(batch)
                self._put_many_in_store(batch)
            except Exception as exc:  # the answer is sent: a failed cache fill is not its error
                log.warning("%d derived images not cached on disk or in the cache store: %s",
                            len(batch), exc)
            finally:
                with self._writing_lock:
                    written = [self._writing.pop(key)[1] for key, _ in batch]
                    self._writing_bytes -= sum(len(data) for _, data in batch)
                self._trim_memory()
                for future in written:
                    future.set_result(None)

    def _trim_memory(self) -> None:
        if self.memory is not None and \
                self.memory.evicted - self._trimmed_at >= TRIM_EVERY_BYTES:
            self._trimmed_at = self.memory.evicted
            release_freed_memory()

    def _wait_for_writes(self, prefix: str) -> None:
        """Until the writes of the keys starting with `prefix` are done."""
        with self._writing_lock:
            pending = [future for key, (_, future) in self._writing.items()
                       if key.startswith(prefix)]
        wait(pending)

    def _mark_used(self, key: str, size: int) -> None:
        now = self.clock()
        last = self._touched.get(key)
        if last is not None and now - last < TOUCH_INTERVAL:
            return
        self._remember(key, now)
        self._bound(self.objects.use(key, record_of(key), size, now))

    def _remember(self, key: str, now: datetime) -> None:
        if len(self._touched) >= _TOUCHED_KEYS:
            self._touched.clear()
        self._touched[key] = now

    def _bound(self, total: int) -> None:
        if self.max_bytes and total > self.max_bytes:
            self._evict(self.objects.least_recent(total - self.max_bytes))

    def _evict(self, entries: list[DerivedEntry]) -> list[str]:
        """Objects first, then their rows (a row without object is harmless)."""
        deleted: list[DerivedEntry] = []
        for entry in entries:
            try:
                self.store.delete(entry.key)
            except StoreUnavailable as exc:
                log.warning("cache store unavailable, eviction stopped: %s", exc.message)
                break
            deleted.append(entry)
            self._touched.pop(entry.key, None)
        self.objects.forget(deleted)
        return [entry.key for entry in deleted]

    def _fill(self, key: str, data: bytes, *, disk: bool) -> None:
        if self.memory is not None:
            self.memory.put(key, data)
        if disk and self.disk is not None:
            self.disk.put(key, data)
