"""Publish: incoming -> active. Every step is safe to repeat, so a retry after a failure at any
point completes the same publish and loses nothing: copy variants and the ladder, copy the
original, delete from incoming, then mark the record active."""

from __future__ import annotations

from datetime import UTC, datetime

from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest, NotFound
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import apply_edit
from imagehost.imaging.variants import Crop
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import purge_derived
from imagehost.service.editing import parse_crop
from imagehost.service.ladder import possible_ladder_keys
from imagehost.service.naming import check_original_key
from imagehost.service.processing import process_original
from imagehost.service.storing import catalog_stored_image, set_image_status, store_all
from imagehost.storage.base import Store


def publish_image(ctx: ServiceContext, key: str, *, crop: str | None = None,
                  now: datetime | None = None) -> None:
    """Publish `key`; with `crop` (WxH+X+Y), its variants are made from the cropped copy and
    the original stays uncropped."""
    check_original_key(key)
    geometry = parse_crop(crop)
    now = now or datetime.now(UTC)
    incoming, active, policy = ctx.stores.incoming, ctx.stores.active, ctx.policy
    in_incoming = incoming.exists(key)
    if not in_incoming and not active.exists(key):
        raise NotFound(f"Unknown image {key!r}.")
    source = incoming if in_incoming else active
    variant_keys = policy.variant_keys(key)
    ladder = _ladder_keys(ctx, key)
    if geometry is not None:
        _store_cropped_variants(ctx, key, source.get(key), geometry)
    else:
        copied = [v for v in variant_keys if _copy_if_present(v, incoming, active)]
        missing = [v for v in variant_keys if not active.exists(v)]
        if missing:
            original = _original(key, incoming, active, copied)
            objects = process_original(original, policy).variant_objects(key)
            store_all(active, [obj for obj in objects if obj[0] in missing])
    for step in ladder:  # of the uncropped original, as derived images are
        _copy_if_present(step, incoming, active)
    if in_incoming and not _copy_if_present(key, incoming, active) and not active.exists(key):
        _rollback(active, [*variant_keys, *ladder])
        raise NotFound(f"Unknown image {key!r} (it expired while being published).")
    for k in [*variant_keys, *ladder, key]:
        incoming.delete(k)
    record = set_image_status(ctx, key, ImageStatus.ACTIVE, now)
    if record is None:
        catalog_stored_image(ctx, key, active.get(key), ImageStatus.ACTIVE, now)
    elif geometry is not None:
        purge_derived(ctx, record.id)  # they may have been rendered from the uncropped variants


def _ladder_keys(ctx: ServiceContext, key: str) -> list[str]:
    """The steps the row records; without a row, those LADDER_SIDES may have made."""
    record = ctx.records.by_file(key)
    if record is not None:
        return list(record.ladder or ())
    return possible_ladder_keys(key, ctx.policy.ladder_sides)


def _copy_if_present(key: str, incoming: Store, active: Store) -> bool:
    """Copy `key` to active if incoming still has it. Another publish (or expire) may remove
    it between our look and our copy: that is not an error."""
    try:
        incoming.copy_to(key, active)
    except NotFound:
        return False
    return True


def _original(key: str, incoming: Store, active: Store, copied: list[str]) -> bytes:
    for store in (incoming, active):
        try:
            return store.get(key)
        except NotFound:
            continue
    _rollback(active, copied)
    raise NotFound(f"Unknown image {key!r} (it expired while being published).")


def _rollback(active: Store, keys: list[str]) -> None:
    for k in keys:
        active.delete(k)


def _store_cropped_variants(ctx: ServiceContext, key: str, original: bytes, crop: Crop) -> None:
    fmt = sniff_format(original)
    if fmt is ImageFormat.SVG:
        raise BadRequest("crop is not supported for SVG images.")
    cropped = apply_edit(original, probe_image(original, fmt, ctx.policy.limits), crop=crop)
    store_all(ctx.stores.active, process_original(cropped, ctx.policy).variant_objects(key))
