"""The one write path: a processed image becomes stored objects plus its catalog row.

Every upload route (c2corg, records, import), recrop and rotate, and the migrate job store
images through `store_image`; publish and reindex catalog bytes already stored through
`catalog_stored_image`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.imaging.formats import sniff_format
from imagehost.imaging.probe import ImageInfo, probe_image
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import remove_replaced_files
from imagehost.service.processing import ProcessedImage, StoredObject
from imagehost.storage.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredImage:
    record: ImageRecord
    created: bool
    """False when the image replaced one at the same key (which keeps its id)."""


def store_image(ctx: ServiceContext, key: str, processed: ProcessedImage, status: ImageStatus,
                *, now: datetime, data: dict | None = None, created_at: datetime | None = None,
                record_id: int | None = None) -> StoredImage:
    """Write the variants and the ladder, then the original, then the row. An image already
    at `key` is replaced: same id, its data kept unless `data` is given, its stale files and
    derived images removed. If the row cannot be written, the new objects are removed again.

    The intent of the write is recorded first and dropped once the row is saved: if the
    process dies in between, the sweep of interrupted writes removes the objects no row
    owns (a failed write keeps its intent too, in case its own clean-up failed)."""
    existing = ctx.records.by_file(key)
    replaced = _as_stored(existing) if existing is not None else None
    store = ctx.store_for(status)
    objects = processed.objects(key)
    written = [k for k, _, _ in objects]
    intent = ctx.pending_writes.begin(key, store.name, written, datetime.now(UTC))
    store_all(store, objects)
    record = existing or ImageRecord(key=key, id=record_id, data={})
    if data is not None:
        record.data = data
    _describe(record, processed.info, processed.sha256, len(processed.original),
              [k for k, _, _ in processed.variant_objects(key)], status, created_at or now, now,
              ladder=[k for k, _, _ in processed.ladder_objects(key)],
              color=processed.rendered.color)
    try:
        saved = ctx.records.save(record)
    except Exception:
        if existing is None:
            delete_all(store, written)
        raise
    _finish(ctx, intent)
    if replaced is not None:
        remove_replaced_files(ctx, replaced, store, set(written))
    ctx.record_cache.forget(saved.id)
    return StoredImage(saved, existing is None)


def _as_stored(record: ImageRecord) -> ImageRecord:
    """What a replaced image's files are named from (status, size, variants, ladder), before
    its row object takes the new image's facts."""
    return ImageRecord(id=record.id, key=record.key, status=record.status, width=record.width,
                       height=record.height, variants=list(record.variants or ()),
                       ladder=list(record.ladder or ()))


def _finish(ctx: ServiceContext, intent: int) -> None:
    """The row is saved: the image is whole whatever happens to its intent now (one left
    behind is found owned by the sweep and dropped)."""
    try:
        ctx.pending_writes.finish(intent)
    except Exception:
        log.warning("could not drop the intent of a finished write", exc_info=True)


def catalog_stored_image(ctx: ServiceContext, key: str, data: bytes, status: ImageStatus,
                         now: datetime) -> ImageRecord:
    """The row of an image whose bytes are already stored (a publish that finds no row, or
    reindex)."""
    info = probe_image(data, sniff_format(data), ctx.policy.limits)
    record = ctx.records.by_file(key) or ImageRecord(key=key, data={})
    _describe(record, info, hashlib.sha256(data).hexdigest(), len(data),
              ctx.policy.variant_keys(key), status, now, now)
    saved = ctx.records.save(record)
    ctx.record_cache.forget(saved.id)
    return saved


def set_image_status(ctx: ServiceContext, key: str, status: ImageStatus,
                     now: datetime) -> ImageRecord | None:
    """Mark the image `key` incoming, active or deleted (its files stay where they are);
    None if it has no row."""
    record = ctx.records.set_status(key, status, now)
    if record is not None:
        ctx.record_cache.forget(record.id)
    return record


def store_all(store: Store, objects: list[StoredObject]) -> None:
    """Put every object, or none: on failure the ones already written are removed."""
    written: list[str] = []
    try:
        for key, data, content_type in objects:
            store.put(key, data, content_type)
            written.append(key)
    except Exception:
        delete_all(store, written)
        raise


def delete_all(store: Store, keys: list[str]) -> None:
    """Delete what can be deleted (cleaning up after a failure, which must not hide it)."""
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            continue


def _describe(record: ImageRecord, info: ImageInfo, sha256: str, size: int,
              variants: list[str], status: ImageStatus, created_at: datetime,
              now: datetime, *, ladder: list[str] | None = None,
              color: str | None = None) -> None:
    """The row's facts; `ladder` None keeps the steps it records and `color` None the colour
    it has (bytes already stored, not decoded)."""
    record.status = status.value
    record.format = info.format.value
    record.width, record.height = info.width, info.height
    record.bytes, record.sha256 = size, sha256
    record.variants = list(variants)
    if ladder is not None or record.ladder is None:
        record.ladder = list(ladder or ())
    if color is not None:
        record.color = color
    record.created_at = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None \
        else created_at.astimezone(UTC)
    record.published_at = now if status is ImageStatus.ACTIVE else None
    record.deleted_at = None
