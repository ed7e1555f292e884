"""Three tiers for derived images: process memory, local disk, and the shared cache store.

Keys are `derived/<record id>/<sha256 prefix of the original>/<canonical name>`: purging an
image is a prefix delete, and a replaced original never serves its predecessor's derivatives.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from imagehost.errors import NotFound, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.storage.base import Store

log = logging.getLogger(__name__)
PREFIX = "derived"


def cache_key(record_id: int, sha256: str, name: str) -> str:
    return f"{PREFIX}/{record_id}/{sha256[:16]}/{name}"


def record_prefix(record_id: int) -> str:
    return f"{PREFIX}/{record_id}/"


class MemoryTier:
    """An LRU bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
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

    def keys(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [k for k in self._items if k.startswith(prefix)]

    def purge(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k.startswith(prefix)]:
                self.bytes -= len(self._items.pop(key))

    def __len__(self) -> int:
        return len(self._items)


class DiskTier:
    """Files under `root/<record id>/<hash of key>`, LRU by modification time, bounded in bytes.
    The index is rebuilt from the folder at start, so the tier survives restarts."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        self._sizes: dict[Path, int] = {}
        for path in root.glob("*/*"):
            if path.is_file() and not path.name.startswith(".tmp"):
                self._sizes[path] = path.stat().st_size
        self.bytes = sum(self._sizes.values())
        self._evict()

    def path(self, key: str) -> Path:
        record = key.split("/")[1] if key.startswith(PREFIX + "/") else "misc"
        return self.root / record / hashlib.sha256(key.encode()).hexdigest()[:40]

    def get(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            data = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 8:
            return
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
        with self._lock:
            self.bytes += len(data) - self._sizes.get(path, 0)
            self._sizes[path] = len(data)
            self._evict()

    def purge(self, prefix: str) -> None:
        record = prefix.strip("/").split("/")[1]
        folder = self.root / record
        with self._lock:
            for path in [p for p in self._sizes if p.parent == folder]:
                self.bytes -= self._sizes.pop(path)
            shutil.rmtree(folder, ignore_errors=True)

    def _evict(self) -> None:
        if self.bytes <= self.max_bytes:
            return
        by_age = sorted(self._sizes, key=lambda p: _mtime(p))
        for path in by_age:
            if self.bytes <= self.max_bytes * 0.9:
                break
            self.bytes -= self._sizes.pop(path)
            path.unlink(missing_ok=True)


class DerivedCache:
    """Lookups go memory -> disk -> store; a hit in a lower tier fills the upper ones."""

    def __init__(self, store: Store, memory: MemoryTier | None = None,
                 disk: DiskTier | None = None) -> None:
        self.store = store
        self.memory = memory
        self.disk = disk

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The bytes and the tier that had them."""
        if self.memory is not None and (data := self.memory.get(key)) is not None:
            return data, "memory"
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
        return data, "store"

    def put(self, key: str, data: bytes) -> None:
        self._fill(key, data, disk=True)
        try:
            self.store.put(key, data, content_type_of(key))
        except StoreUnavailable as exc:
            log.warning("cache store unavailable: %s", exc.message)

    def in_store(self, key: str) -> bool:
        return self.store.exists(key)

    def purge(self, record_id: int) -> int:
        prefix = record_prefix(record_id)
        if self.memory is not None:
            self.memory.purge(prefix)
        if self.disk is not None:
            self.disk.purge(prefix)
        keys = [info.key for info in self.store.list(prefix)]
        for key in keys:
            self.store.delete(key)
        return len(keys)

    def _fill(self, key: str, data: bytes, *, disk: bool) -> None:
        if self.memory is not None:
            self.memory.put(key, data)
        if disk and self.disk is not None:
            self.disk.put(key, data)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
