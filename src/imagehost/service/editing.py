"""Recrop and rotate: derive a new published image from an active one."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from imagehost.catalog.images import ImageCatalog, NewImage
from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import apply_edit
from imagehost.imaging.variants import Crop
from imagehost.service.deletion import delete_images
from imagehost.service.naming import check_original_key, new_image_key
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import ProcessedImage, process_original
from imagehost.service.uploads import store_all
from imagehost.storage.base import Store

ROTATIONS = (90, -90, 180)


def recrop_image(key: str, *, crop: Crop | None, policy: ImagePolicy, active: Store,
                 catalog: ImageCatalog, now: datetime | None = None) -> str:
    """A new key holding the uncropped original, with variants made from the cropped copy.
    The old key is kept (c2corg semantics)."""
    check_original_key(key)
    original = active.get(key)
    fmt = sniff_format(original)
    source = original
    if crop is not None:
        if fmt is ImageFormat.SVG:
            raise BadRequest("crop is not supported for SVG images.")
        source = apply_edit(original, probe_image(original, fmt, policy.limits), crop=crop)
    processed = process_original(source, policy)
    return _store_new_active(original, processed, policy, active, catalog, now)


def rotate_image(key: str, rotation: int, *, policy: ImagePolicy, active: Store,
                 catalog: ImageCatalog, now: datetime | None = None) -> str:
    """A new key holding the rotated original and variants; the old files are deleted."""
    check_original_key(key)
    if rotation not in ROTATIONS:
        raise BadRequest(f"rotation must be one of {', '.join(map(str, ROTATIONS))}.")
    original = active.get(key)
    fmt = sniff_format(original)
    if fmt is ImageFormat.SVG:
        raise BadRequest("SVG images cannot be rotated.")
    rotated = apply_edit(original, probe_image(original, fmt, policy.limits), rotation=rotation)
    new_key = _store_new_active(rotated, process_original(rotated, policy), policy, active,
                                catalog, now)
    delete_images([key], policy=policy, active=active, catalog=catalog, now=now)
    return new_key


def _store_new_active(original: bytes, processed: ProcessedImage, policy: ImagePolicy,
                      active: Store, catalog: ImageCatalog, now: datetime | None) -> str:
    now = now or datetime.now(UTC)
    fmt = sniff_format(original)
    key = new_image_key(fmt, now.timestamp())
    variants = processed.variant_objects(key)
    store_all(active, [*variants, (key, original, fmt.content_type)])
    info = probe_image(original, fmt, policy.limits)
    catalog.add(NewImage(key, fmt.value, info.width, info.height, len(original),
                         hashlib.sha256(original).hexdigest(), [k for k, _, _ in variants], now),
                ImageStatus.ACTIVE, published_at=now)
    return key

