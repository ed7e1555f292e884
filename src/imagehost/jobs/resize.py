"""resize: regenerate the variants of active originals after a change of RESIZING_CONFIG, or,
with --ladder, their ladders (after a change of LADDER_SIDES, or for images stored before
the ladder existed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imagehost.catalog.filters import RecordFilter
from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.jobs.options import time_range
from imagehost.service.context import ServiceContext
from imagehost.service.ladder import possible_ladder_keys
from imagehost.service.naming import ORIGINAL_KEY
from imagehost.service.processing import process_ladder, process_original
from imagehost.service.storing import store_all


class ResizeJob:
    name = "resize"

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        time_range(params)

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        if params.get("key"):
            yield params["key"]
            return
        prefix = params.get("prefix") or ""
        if params.get("from_store"):
            for info in ctx.stores.active.list(prefix):
                if ORIGINAL_KEY.match(info.key.rsplit("/", 1)[-1]):
                    yield info.key
            return
        since, until = time_range(params)
        record_filter = RecordFilter(
            statuses=(ImageStatus.ACTIVE.value,), file_prefix=prefix or None,
            published_from=since, published_to=until)
        for record in ctx.records.iterate(record_filter):
            yield record.key

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        if params.get("ladder"):
            return rebuild_ladder(ctx, key, dry_run=dry_run)
        data = ctx.stores.active.get(key)
        if dry_run:
            return ItemState.DONE
        only = set(params.get("only") or [])
        objects = [obj for obj, variant in zip(process_original(data, ctx.policy)
                                               .variant_objects(key),
                                               ctx.policy.specs, strict=True)
                   if not only or variant.suffix in only]
        store_all(ctx.stores.active, objects)
        return ItemState.DONE


def rebuild_ladder(ctx: ServiceContext, key: str, *, dry_run: bool = False) -> ItemState:
    """Make the ladder LADDER_SIDES asks for from the active original `key` (one decode at
    the largest step's size), record it and the image's colour in the row, then remove the
    steps it no longer has. An image whose row already records that ladder, every step
    present, and its colour is skipped."""
    store = ctx.stores.active
    record = ctx.records.by_file(key)
    if record is not None and record.status == ImageStatus.ACTIVE.value:
        wanted = possible_ladder_keys(key, ctx.policy.ladder_sides,
                                      (record.width, record.height))
        if record.ladder == wanted and record.color is not None \
                and all(store.exists(k) for k in wanted):
            return ItemState.SKIPPED
    data = store.get(key)
    if dry_run:
        return ItemState.DONE
    processed = process_ladder(data, ctx.policy)
    objects = processed.ladder_objects(key)
    store_all(store, objects)
    kept = [k for k, _, _ in objects]
    before = set(record.ladder or ()) if record is not None else set()
    if record is not None:
        ctx.records.set_ladder(key, kept, processed.rendered.color)
        ctx.record_cache.forget(record.id)
    stale = (before | set(possible_ladder_keys(key, ctx.policy.ladder_sides))) - set(kept)
    for old in sorted(stale):
        store.delete(old)
    return ItemState.DONE
