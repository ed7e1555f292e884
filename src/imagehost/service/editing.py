"""Recrop and rotate: derive a new published image from an active one."""

from __future__ import annotations

from datetime import UTC, datetime

from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest
from imagehost.imaging.formats import ImageFormat, format_of_path, sniff_format
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import apply_edit
from imagehost.imaging.variants import Crop, VariantConfigError, parse_crop_geometry
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_keys
from imagehost.service.naming import check_original_key, new_image_key
from imagehost.service.processing import ProcessedImage, process_original
from imagehost.service.storing import store_image

ROTATIONS = (90, -90, 180)


def recrop_image(ctx: ServiceContext, key: str, *, crop: str | None,
                 now: datetime | None = None) -> str:
    """A new key holding the uncropped original, with variants made from the cropped copy
    (`crop` is WxH+X+Y). The old key is kept (c2corg semantics)."""
    check_original_key(key)
    geometry = parse_crop(crop)
    original = ctx.stores.active.get(key)
    fmt = sniff_format(original)
    source = original
    if geometry is not None:
        if fmt is ImageFormat.SVG:
            raise BadRequest("crop is not supported for SVG images.")
        source = apply_edit(original, probe_image(original, fmt, ctx.policy.limits),
                            crop=geometry)
    cropped = process_original(source, ctx.policy)
    info = probe_image(original, fmt, ctx.policy.limits)
    return _store_new_active(ctx, ProcessedImage(original, info, cropped.rendered), now)


def rotate_image(ctx: ServiceContext, key: str, rotation: str,
                 now: datetime | None = None) -> str:
    """A new key holding the original and variants rotated by `rotation` degrees (90, -90,
    180); the old image is deleted."""
    check_original_key(key)
    if format_of_path(key) is ImageFormat.SVG:
        raise BadRequest("SVG images cannot be rotated.")
    angle = parse_rotation(rotation)
    original = ctx.stores.active.get(key)
    fmt = sniff_format(original)
    if fmt is ImageFormat.SVG:
        raise BadRequest("SVG images cannot be rotated.")
    rotated = apply_edit(original, probe_image(original, fmt, ctx.policy.limits),
                         rotation=angle)
    now = now or datetime.now(UTC)
    new_key = _store_new_active(ctx, process_original(rotated, ctx.policy), now)
    delete_keys(ctx, [key], now)
    return new_key


def parse_crop(value: str | None) -> Crop | None:
    """A `crop` field: WxH+X+Y from the top-left corner; empty means none."""
    if not value:
        return None
    try:
        return parse_crop_geometry(value)
    except VariantConfigError as exc:
        raise BadRequest(f"Invalid crop: {exc}.") from None


def parse_rotation(value: str) -> int:
    try:
        rotation = int(value)
    except ValueError:
        rotation = 0
    if rotation not in ROTATIONS:
        raise BadRequest(f"rotation must be one of {', '.join(map(str, ROTATIONS))}.")
    return rotation


def _store_new_active(ctx: ServiceContext, processed: ProcessedImage,
                      now: datetime | None) -> str:
    now = now or datetime.now(UTC)
    key = new_image_key(processed.info.format, now.timestamp())
    store_image(ctx, key, processed, ImageStatus.ACTIVE, now=now)
    return key
