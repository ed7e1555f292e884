"""strip-originals: apply ORIGINAL_METADATA to the originals already stored, incoming and
active."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from imagehost.catalog.filters import RecordFilter
from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.jobs.options import time_range
from imagehost.jobs.reindex import STORE_ROLES, is_original
from imagehost.service.context import ServiceContext
from imagehost.service.privacy import strip_stored_original

STORE_ITEM = "store:"
"""Items listed with --from-store are `store:<incoming|active>:<key>`."""


class StripJob:
    name = "strip"

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        time_range(params)

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        if params.get("key"):
            yield params["key"]
            return
        prefix = params.get("prefix") or ""
        if params.get("from_store"):
            suffixes = tuple(spec.suffix for spec in ctx.policy.specs)
            for role in STORE_ROLES:
                for info in ctx.stores.named()[role].list(prefix):
                    if is_original(info.key, suffixes):
                        yield f"{STORE_ITEM}{role}:{info.key}"
            return
        since, until = time_range(params)
        record_filter = RecordFilter(
            statuses=(ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value),
            file_prefix=prefix or None, time_from=since, time_to=until)
        for record in ctx.records.iterate(record_filter):
            yield record.key

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        status = None
        if key.startswith(STORE_ITEM):
            role, key = key.removeprefix(STORE_ITEM).split(":", 1)
            status = STORE_ROLES[role]
        changed = strip_stored_original(ctx, key, status=status, dry_run=dry_run)
        return ItemState.DONE if changed else ItemState.SKIPPED
