"""A store on a local folder. Writes go to a temporary name in the same file system and are
renamed into place, so readers and crashes never leave half an object under a real key."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from imagehost.errors import NotFound, StoreUnavailable
from imagehost.storage.base import ContentTypeOf, ObjectInfo, Store
from imagehost.storage.keys import validate_key
from imagehost.storage.signing import UrlSigner

_TMP_DIR = ".tmp"


class LocalStore:
    def __init__(self, name: str, root: Path, *, content_type_of: ContentTypeOf,
                 signer: UrlSigner | None = None, public_base_url: str | None = None) -> None:
        self.name = name
        self.content_type_of = content_type_of
        self.root = root.resolve()
        self.signer = signer
        self.public_base_url = public_base_url
        (self.root / _TMP_DIR).mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write(self.path(key), lambda handle: handle.write(data))

    def put_file(self, key: str, source: Path) -> None:
        def copy(handle) -> None:
            with source.open("rb") as src:
                shutil.copyfileobj(src, handle, 1024 * 1024)

        self._write(self.path(key), copy)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"No object {key!r} in the {self.name} store.") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if not path.is_file():
            return None
        return self._info(key, stat)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def copy_to(self, key: str, target: Store) -> None:
        source = self.path(key)
        if not source.is_file():
            raise NotFound(f"No object {key!r} in the {self.name} store.")
        if isinstance(target, LocalStore):
            target.put_file(key, source)
        else:
            target.put(key, source.read_bytes(), self.content_type_of(key))

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        self._prune_empty_parents(path.parent)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for directory, subdirs, files in os.walk(self.root):
            if Path(directory) == self.root:
                subdirs[:] = [d for d in subdirs if d != _TMP_DIR]
            subdirs.sort()
            for filename in sorted(files):
                path = Path(directory) / filename
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        yield self._info(key, path.stat())
                    except FileNotFoundError:
                        continue

    def check(self) -> None:
        probe = self.root / _TMP_DIR
        if not os.access(probe, os.W_OK):
            raise OSError(f"{probe} is not writable")

    def sweep_unfinished(self, before: datetime) -> list[str]:
        """Temporary files of writes that a killed process never renamed into place."""
        removed = []
        cutoff = before.timestamp()
        for path in (self.root / _TMP_DIR).iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(f"{_TMP_DIR}/{path.name}")
            except FileNotFoundError:
                continue
        return removed

    def signed_url(self, key: str, expires_in: float) -> str:
        if self.signer is None:
            raise StoreUnavailable(f"The {self.name} store has no URL signer.")
        return self.signer.sign(self.name, validate_key(key), expires_in)

    def public_url(self, key: str) -> str:
        if self.public_base_url is None:
            raise StoreUnavailable(f"The {self.name} store is not public.")
        return f"{self.public_base_url.rstrip('/')}/{quote(validate_key(key))}"

    def _write(self, destination: Path, write) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.root / _TMP_DIR)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
            os.replace(temporary, destination)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _info(self, key: str, stat: os.stat_result) -> ObjectInfo:
        etag = hashlib.md5(f"{stat.st_size}-{stat.st_mtime_ns}".encode(), usedforsecurity=False)
        return ObjectInfo(key, stat.st_size, self.content_type_of(key),
                          datetime.fromtimestamp(stat.st_mtime, UTC), etag.hexdigest())

    def _prune_empty_parents(self, directory: Path) -> None:
        while directory != self.root and directory.is_relative_to(self.root):
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent
