"""Expire: remove incoming images that were never published, what interrupted writes left
behind, and derived images past the cache store's age or size bound."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from imagehost.catalog.models import ImageStatus, PendingWrite
from imagehost.errors import StoreUnavailable
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_image, image_files

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpiryReport:
    objects: list[str]
    records: int
    interrupted: list[str] = field(default_factory=list)
    """Leftovers of interrupted writes, as `<store>/<key>`."""
    derived: list[str] = field(default_factory=list)
    """Derived objects removed from the cache store (age or size bound)."""


def expire_incoming(ctx: ServiceContext, *, older_than: float, now: datetime | None = None,
                    dry_run: bool = False) -> ExpiryReport:
    """Delete incoming images older than `older_than` seconds through the delete path, and
    old incoming objects that no stale row owns; sweep the leftovers of interrupted writes
    and trim the cache store.

    Rows are found in the catalog and objects by listing the store, so orphans of either kind
    (a file without a row, a row whose files are gone) are cleaned up too."""
    now = now or datetime.now(UTC)
    interrupted = sweep_interrupted_writes(ctx, now=now, dry_run=dry_run)
    cutoff = now - timedelta(seconds=older_than)
    incoming = ctx.stores.incoming
    stale = ctx.records.incoming_before(cutoff)
    listed = {o.key for o in incoming.list() if o.last_modified < cutoff}
    owned = {k for record in stale for k in image_files(ctx, record)}
    objects = sorted(listed | {k for k in owned if k not in listed and incoming.exists(k)})
    if dry_run:
        return ExpiryReport(objects, len(stale), interrupted)
    removed = sum(delete_image(ctx, record, now, expired=True) for record in stale)
    for key in sorted(listed - owned):
        incoming.delete(key)
    return ExpiryReport(objects, removed, interrupted, ctx.cache.trim())


def sweep_interrupted_writes(ctx: ServiceContext, *, now: datetime | None = None,
                             local_only: bool = False, dry_run: bool = False) -> list[str]:
    """Remove what writes interrupted more than ABANDONED_WRITE_AGE ago left: the stores'
    temporary files and incomplete multipart uploads, and the objects of image writes that
    never saved their row (a killed upload's variants). Returns them as `<store>/<what>`.
    `local_only` (at start) sweeps the stores only when they are local folders; `dry_run`
    lists the objects of unfinished writes and removes nothing."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=ctx.settings.abandoned_write_age)
    removed: list[str] = []
    kept: set[int] = set()
    while intents := [i for i in ctx.pending_writes.started_before(cutoff) if i.id not in kept]:
        for intent in intents:
            try:
                removed += _remove_unowned(ctx, intent, dry_run=dry_run)
            except StoreUnavailable as exc:
                log.warning("unfinished write of %s kept for the next sweep: %s", intent.key,
                            exc.message)
                kept.add(intent.id)
        if dry_run:
            break
    if not dry_run and (ctx.settings.storage_backend == "local" or not local_only):
        stores = {id(store): store for store in ctx.stores.named().values()}
        for store in stores.values():
            try:
                removed += [f"{store.name}/{what}" for what in store.sweep_unfinished(cutoff)]
            except StoreUnavailable as exc:
                log.warning("sweep of the %s store skipped: %s", store.name, exc.message)
    if removed and not dry_run:
        log.info("removed %d leftovers of interrupted writes", len(removed))
    return removed


def _remove_unowned(ctx: ServiceContext, intent: PendingWrite, *, dry_run: bool) -> list[str]:
    """The objects of an unfinished write that the row at its key (if any, in that store)
    does not own."""
    store = ctx.stores.named()[intent.store]
    record = ctx.records.by_file(intent.key)
    owned: set[str] = set()
    if (record is not None and record.status != ImageStatus.DELETED.value
            and ctx.store_for(record.status) is store):
        owned = set(image_files(ctx, record))
    found = [key for key in intent.objects if key not in owned and store.exists(key)]
    if not dry_run:
        for key in found:
            store.delete(key)
        ctx.pending_writes.finish(intent.id)
    return [f"{intent.store}/{key}" for key in found]
