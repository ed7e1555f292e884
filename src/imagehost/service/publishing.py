"""Publish: incoming -> active. Every step is safe to repeat, so a retry after a failure at any
point completes the same publish and loses nothing: copy variants, copy the original, delete
from incoming, then mark the record active."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from imagehost.catalog.images import ImageCatalog, NewImage
from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest, NotFound
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import apply_edit
from imagehost.imaging.variants import Crop
from imagehost.service.naming import check_original_key
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import process_original
from imagehost.service.uploads import store_all
from imagehost.storage.base import Store


def publish_image(key: str, *, crop: Crop | None = None, policy: ImagePolicy, incoming: Store,
                  active: Store, catalog: ImageCatalog, now: datetime | None = None) -> None:
    check_original_key(key)
    now = now or datetime.now(UTC)
    in_incoming = incoming.exists(key)
    if not in_incoming and not active.exists(key):
        raise NotFound(f"Unknown image {key!r}.")
    source = incoming if in_incoming else active
    variant_keys = policy.variant_keys(key)
    if crop is not None:
        _store_cropped_variants(key, source.get(key), crop, policy, active)
    else:
        copied = [v for v in variant_keys if _copy_if_present(v, incoming, active)]
        missing = [v for v in variant_keys if not active.exists(v)]
        if missing:
            _regenerate_variants(key, _original(key, incoming, active, copied), missing,
                                 policy, active)
    if in_incoming and not _copy_if_present(key, incoming, active) and not active.exists(key):
        _rollback(active, variant_keys)
        raise NotFound(f"Unknown image {key!r} (it expired while being published).")
    for k in [*variant_keys, key]:
        incoming.delete(k)
    if not catalog.set_status(key, ImageStatus.ACTIVE, now):
        record_stored_image(key, active.get(key), policy, catalog, ImageStatus.ACTIVE, now)


def record_stored_image(key: str, data: bytes, policy: ImagePolicy, catalog: ImageCatalog,
                        status: ImageStatus, now: datetime) -> None:
    """Catalog an image whose bytes are stored but which has no record yet."""
    info = probe_image(data, sniff_format(data), policy.limits)
    catalog.add(NewImage(key, info.format.value, info.width, info.height, len(data),
                         hashlib.sha256(data).hexdigest(), policy.variant_keys(key), now),
                status, published_at=now if status is ImageStatus.ACTIVE else None)


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


def _store_cropped_variants(key: str, original: bytes, crop: Crop, policy: ImagePolicy,
                            active: Store) -> None:
    fmt = sniff_format(original)
    if fmt is ImageFormat.SVG:
        raise BadRequest("crop is not supported for SVG images.")
    cropped = apply_edit(original, probe_image(original, fmt, policy.limits), crop=crop)
    store_all(active, process_original(cropped, policy).variant_objects(key))


def _regenerate_variants(key: str, original: bytes, missing: list[str], policy: ImagePolicy,
                         active: Store) -> None:
    objects = process_original(original, policy).variant_objects(key)
    store_all(active, [obj for obj in objects if obj[0] in missing])
