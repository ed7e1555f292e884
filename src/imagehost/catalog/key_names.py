"""Names of what INDEXED_KEYS adds to `images` for one data key, derived from the key so
that creating is idempotent and a key's objects can be found again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

INDEX_PREFIX = "ix_images_data_"
_VERSION = "1"
"""Part of every digest: a change of what is indexed changes the names."""


def key_path(key: str) -> tuple[str, ...]:
    """The segments of a dotted key."""
    return tuple(key.split("."))


def digest(key: str) -> str:
    return hashlib.sha256(f"{_VERSION}:{key}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KeyColumns:
    """PostgreSQL: the columns a trigger keeps equal to a key's number and string, and their
    indexes (with status, so that a count reads the index alone)."""

    number: str
    string: str
    number_index: str
    string_index: str
    function: str
    """The trigger function, and the trigger's name."""

    @classmethod
    def of(cls, key: str) -> KeyColumns:
        hashed = digest(key)
        return cls(number=f"data_{hashed}_num", string=f"data_{hashed}_str",
                   number_index=f"{INDEX_PREFIX}{hashed}_num",
                   string_index=f"{INDEX_PREFIX}{hashed}_str",
                   function=f"images_data_{hashed}")
