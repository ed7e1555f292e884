"""resize: regenerate the variants of active originals after a change of RESIZING_CONFIG."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imagehost.catalog.filters import RecordFilter
from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.jobs.options import time_option
from imagehost.service.context import ServiceContext
from imagehost.service.naming import ORIGINAL_KEY
from imagehost.service.processing import process_original
from imagehost.service.storing import store_all


class ResizeJob:
    name = "resize"

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        for option in ("since", "until"):
            time_option(params, option)

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
        record_filter = RecordFilter(
            statuses=(ImageStatus.ACTIVE.value,), file_prefix=prefix or None,
            published_from=time_option(params, "since"),
            published_to=time_option(params, "until"))
        for record in ctx.records.iterate(record_filter):
            yield record.key

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
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
