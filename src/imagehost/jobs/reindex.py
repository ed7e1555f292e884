"""reindex: rebuild or repair the catalog from what the stores hold.

Items are `store:<role>:<key>` for every original found in incoming and active (a record is
added, or its status set to the store it is in) and `record:<key>` for every live record (a
record whose original is in neither store is deleted, cached derivatives and all, and stays
as a tombstone)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from imagehost.catalog.filters import RecordFilter
from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.imaging.formats import UPLOAD_FORMATS, format_of_path
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_image
from imagehost.service.ladder import ladder_side
from imagehost.service.storing import catalog_stored_image, set_image_status

STORE_ROLES = {"incoming": ImageStatus.INCOMING, "active": ImageStatus.ACTIVE}


class ReindexJob:
    name = "reindex"

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        """Nothing to refuse: every store and the catalog are already connected."""

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        suffixes = tuple(spec.suffix for spec in ctx.policy.specs)
        for role in STORE_ROLES:
            for info in ctx.stores.named()[role].list(params.get("prefix") or ""):
                if is_original(info.key, suffixes):
                    yield f"store:{role}:{info.key}"
        live = RecordFilter(statuses=(ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value),
                            file_prefix=params.get("prefix") or None)
        for record in ctx.records.iterate(live):
            yield f"record:{record.key}"

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        if key.startswith("record:"):
            return self._check_record(key.removeprefix("record:"), ctx, dry_run)
        _, role, object_key = key.split(":", 2)
        status = STORE_ROLES[role]
        record = ctx.records.by_file(object_key)
        if record is not None and record.status == status.value:
            return ItemState.SKIPPED
        if status is ImageStatus.INCOMING and record is not None and \
                record.status == ImageStatus.ACTIVE.value and \
                ctx.stores.active.exists(object_key):
            return ItemState.SKIPPED  # a publish in progress: active wins
        if dry_run:
            return ItemState.DONE
        now = datetime.now(UTC)
        if record is None:
            data = ctx.stores.named()[role].get(object_key)
            catalog_stored_image(ctx, object_key, data, status, now)
        else:
            set_image_status(ctx, object_key, status, now)
        return ItemState.DONE

    def _check_record(self, file: str, ctx: ServiceContext, dry_run: bool) -> ItemState:
        record = ctx.records.by_file(file)
        if record is None or record.status == ImageStatus.DELETED.value:
            return ItemState.SKIPPED
        if ctx.store_for(record.status).exists(file):
            return ItemState.SKIPPED
        other = ImageStatus.ACTIVE if record.status == ImageStatus.INCOMING.value \
            else ImageStatus.INCOMING
        if ctx.store_for(other).exists(file):
            return ItemState.SKIPPED  # the store pass sets the right status
        if not dry_run:
            delete_image(ctx, record, datetime.now(UTC))
        return ItemState.DONE


def is_original(key: str, suffixes: tuple[str, ...]) -> bool:
    """Not a variant (`<base><SUFFIX>.<ext>`), not a step of a ladder
    (`<original>.ladder-<side>`), not a cached derivative, an image extension."""
    if key.startswith("derived/") or ladder_side(key) is not None \
            or format_of_path(key) not in UPLOAD_FORMATS:
        return False
    stem = posixpath.splitext(key)[0]
    return not any(stem.endswith(suffix) and len(stem) > len(suffix) for suffix in suffixes)
