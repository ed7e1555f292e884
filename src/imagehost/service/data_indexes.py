"""Indexes on the data keys of INDEXED_KEYS (`imagehost index`): create the
missing ones, drop a key's, list what is there against what the setting asks for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagehost.catalog.data_indexes import Built, DataIndex, DataIndexes, Progress
from imagehost.catalog.filters import parse_path
from imagehost.service.context import ServiceContext


@dataclass(frozen=True)
class IndexListing:
    present: list[DataIndex]
    missing: list[str]
    """Keys of INDEXED_KEYS with an index missing or invalid."""
    unlisted: list[DataIndex]
    """Indexes of keys INDEXED_KEYS no longer names (`--drop` removes them)."""


def _indexes(ctx: ServiceContext) -> DataIndexes:
    return DataIndexes(ctx.records.engine)


def apply_indexed_keys(ctx: ServiceContext, report: Callable[[Built], None],
                       progress: Progress | None = None) -> list[Built]:
    """Create the indexes of every key of INDEXED_KEYS that lacks them; idempotent, and
    safe while the service runs. Refreshes the planner's statistics."""
    return _indexes(ctx).create(ctx.settings.indexed_keys, report, progress)


def drop_indexed_key(ctx: ServiceContext, key: str) -> list[str]:
    """Drop the indexes of one data key (`site`, `data.plot.zone`); returns their names."""
    path = parse_path(key.removeprefix("data."), "--drop")
    return _indexes(ctx).drop(".".join(path))


def list_indexed_keys(ctx: ServiceContext) -> IndexListing:
    indexes = _indexes(ctx)
    present = indexes.listing()
    valid = {index.name for index in present if index.valid}
    wanted = ctx.settings.indexed_keys
    missing = [key for key in wanted
               if not {name for name, _ in indexes.definitions(key)} <= valid]
    unlisted = [index for index in present if index.key not in wanted]
    return IndexListing(present, missing, unlisted)
