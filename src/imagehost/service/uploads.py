"""c2corg's /upload: check, render, store original and variants in incoming, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from imagehost.catalog.models import ImageStatus
from imagehost.imaging.formats import sniff_format
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.probe import check_size, probe_image
from imagehost.imaging.render import convert_original
from imagehost.service.context import ServiceContext
from imagehost.service.naming import new_image_key
from imagehost.service.processing import ProcessedImage, process_upload
from imagehost.service.storing import store_image

CONVERTED_QUALITY = 92
"""JPEG quality of an original converted at upload (HEIC, AVIF, JPEG XL)."""


@dataclass(frozen=True)
class UploadResult:
    key: str
    variant_keys: list[str]
    processed: ProcessedImage


def upload_image(ctx: ServiceContext, data: bytes, now: datetime | None = None) -> UploadResult:
    processed = process_upload(web_original(data, ctx.policy.limits), ctx.policy)
    now = now or datetime.now(UTC)
    key = new_image_key(processed.info.format, now.timestamp())
    stored = store_image(ctx, key, processed, ImageStatus.INCOMING, now=now)
    return UploadResult(key, list(stored.record.variants), processed)


def web_original(data: bytes, limits: ImageLimits) -> bytes:
    """The original c2corg stores: as uploaded, or, for a format that not every browser shows
    (HEIC, AVIF, JPEG XL), converted to JPEG, upright, its metadata kept. c2corg's clients
    derive variant URLs from the key's extension, so the key's format is the stored one's.
    The conversion comes before process_upload, which treats the JPEG like any upload."""
    check_size(len(data), limits)
    fmt = sniff_format(data)
    if fmt.served_as is fmt:
        return data
    info = probe_image(data, fmt, limits)
    return convert_original(data, info, fmt.served_as, quality=CONVERTED_QUALITY)
