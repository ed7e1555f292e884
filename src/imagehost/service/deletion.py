"""The one delete path: an image goes from everywhere at once: its original, variants and
ladder from the store that holds them, every derived image from every cache tier (memory,
disk, cache store), and its row becomes a tombstone (or, for an upload that expired
unpublished, goes).

c2corg's /delete, /rotate (the old key), records DELETE (one and bulk), expiry, and a
re-upload over an existing path all come here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.errors import ImagehostError
from imagehost.service.context import ServiceContext
from imagehost.service.ladder import possible_ladder_keys
from imagehost.service.naming import check_original_key
from imagehost.storage.base import Store

log = logging.getLogger(__name__)


def delete_image(ctx: ServiceContext, record: ImageRecord, now: datetime, *,
                 expired: bool = False) -> bool:
    """Remove every byte of the image. Its row stays as a tombstone (status deleted), or with
    `expired`, goes, but only if it is still incoming (a publish may have just won). Returns
    whether the row changed."""
    store = ctx.store_for(record.status)
    for key in image_files(ctx, record):
        store.delete(key)
    purge_derived(ctx, record.id)
    if expired:
        changed = ctx.records.remove_incoming([record.key]) > 0
    else:
        changed = ctx.records.set_status(record.key, ImageStatus.DELETED, now) is not None
    ctx.record_cache.forget(record.id)
    return changed


def delete_keys(ctx: ServiceContext, keys: Iterable[str], now: datetime) -> list[str]:
    """c2corg's /delete: each published key everywhere. Unpublished uploads are left to
    expiry, and a key without a published row only loses its files in active. Per-key
    failures are logged, not raised. Returns the keys processed."""
    done: list[str] = []
    for key in keys:
        try:
            check_original_key(key)
            record = ctx.records.by_file(key)
            if record is not None and record.status == ImageStatus.ACTIVE.value:
                delete_image(ctx, record, now)
            else:
                for k in [*ctx.policy.variant_keys(key),
                          *possible_ladder_keys(key, ctx.policy.ladder_sides), key]:
                    ctx.stores.active.delete(k)
            done.append(key)
        except ImagehostError as exc:
            log.warning("delete %r skipped: %s", key, exc.message)
        except Exception:
            log.exception("delete %r failed", key)
    return done


def remove_replaced_files(ctx: ServiceContext, replaced: ImageRecord, store: Store,
                          written: set[str]) -> None:
    """After an image was stored over `replaced`: its files that the new image did not
    overwrite, and all its derived images."""
    old_store = ctx.store_for(replaced.status)
    for key in image_files(ctx, replaced):
        if old_store is not store or key not in written:
            old_store.delete(key)
    purge_derived(ctx, replaced.id)


def purge_derived(ctx: ServiceContext, record_id: int) -> int:
    """Every derived image of the record, from every tier; returns how many the cache store
    held."""
    return ctx.cache.purge(record_id)


def image_files(ctx: ServiceContext, record: ImageRecord) -> list[str]:
    """The variants and the ladder (recorded, and those the configuration names now), then
    the original."""
    files = dict.fromkeys([
        *record.variants, *ctx.policy.variant_keys(record.key), *(record.ladder or ()),
        *possible_ladder_keys(record.key, ctx.policy.ladder_sides, (record.width, record.height))])
    files.pop(record.key, None)
    return [*files, record.key]
