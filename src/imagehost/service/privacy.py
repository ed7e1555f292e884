"""ORIGINAL_METADATA applied to originals already stored (`imagehost strip-originals`).

Uploads are stripped on their way in (processing.process_upload); this brings older originals
to the same state. An original is rewritten in its store, then its row gets the new size and
SHA-256, which moves its derived images to new cache keys: the old ones are purged. The
variants do not change (they never carried metadata). Each step can be repeated: an original
already stripped whose row still has the old digest (a run stopped between the two writes) gets
its row fixed on the next run, and one whose row agrees is left alone.
"""

from __future__ import annotations

import hashlib

from imagehost.catalog.models import ImageStatus
from imagehost.errors import UnsupportedFormat
from imagehost.imaging.formats import sniff_format
from imagehost.imaging.privacy import strip_metadata
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import purge_derived


def strip_stored_original(ctx: ServiceContext, key: str, *, status: ImageStatus | None = None,
                          dry_run: bool = False) -> bool:
    """Strip the original `key` in the store of `status` (default: the one its row names) as
    ORIGINAL_METADATA says. Returns whether anything changed (or, with `dry_run`, would)."""
    record = ctx.records.by_file(key)
    live = record is not None and record.status != ImageStatus.DELETED.value
    if status is None:
        if record is None or not live:
            return False
        status = ImageStatus(record.status)
    store = ctx.store_for(status)
    data = store.get(key)
    try:
        fmt = sniff_format(data)
    except UnsupportedFormat:
        return False
    stripped = strip_metadata(data, fmt, ctx.policy.original_metadata)
    digest = hashlib.sha256(stripped).hexdigest()
    row_stale = record is not None and live and record.status == status.value and \
        (record.sha256 != digest or record.bytes != len(stripped))
    if stripped == data and not row_stale:
        return False
    if dry_run:
        return True
    if stripped != data:
        store.put(key, stripped, fmt.content_type)
    if record is not None and row_stale:
        record.bytes, record.sha256 = len(stripped), digest
        saved = ctx.records.save(record)
        purge_derived(ctx, saved.id)
        ctx.record_cache.forget(saved.id)
    return True
