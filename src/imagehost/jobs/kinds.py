"""The protocol every job kind implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from imagehost.catalog.models import ItemState
from imagehost.service.context import ServiceContext


class JobKind(Protocol):
    name: str

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        """Refuse parameters or settings that cannot work, with a one-line ConfigError,
        before any job row exists."""
        ...

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        """Every item key, streamed (never the whole list in memory)."""
        ...

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        """Do (or with dry_run, only decide) one item: DONE or SKIPPED; raise on failure.
        Running an item twice gives the same objects."""
        ...
