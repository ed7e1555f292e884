"""The Store protocol every backend implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

ContentTypeOf = Callable[[str], str]
"""The Content-Type of an object by its key; the composition root passes the format registry's."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    last_modified: datetime
    etag: str


@runtime_checkable
class Store(Protocol):
    """A flat namespace of objects. Writes are atomic: a reader never sees half an object."""

    name: str

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises imagehost.errors.NotFound if it does not exist."""
        ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def exists(self, key: str) -> bool: ...

    def copy_to(self, key: str, target: Store) -> None:
        """Copy `key` into `target` under the same key (server-side where possible)."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def check(self) -> None:
        """Raise if the store cannot be used (for /health)."""
        ...

    def sweep_unfinished(self, before: datetime) -> list[str]:
        """Remove what writes interrupted before `before` left behind (temporary files,
        incomplete multipart uploads); returns what went, for the report."""
        ...

    def signed_url(self, key: str, expires_in: float) -> str:
        """A URL anyone can GET for `expires_in` seconds; tampering makes it fail."""
        ...

    def public_url(self, key: str) -> str:
        """The URL of `key` for stores whose objects are public (active)."""
        ...
