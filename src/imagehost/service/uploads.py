"""c2corg's /upload: check, render, store original and variants in incoming, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from imagehost.catalog.models import ImageStatus
from imagehost.service.context import ServiceContext
from imagehost.service.naming import new_image_key
from imagehost.service.processing import ProcessedImage, process_upload
from imagehost.service.storing import store_image


@dataclass(frozen=True)
class UploadResult:
    key: str
    variant_keys: list[str]
    processed: ProcessedImage


def upload_image(ctx: ServiceContext, data: bytes, now: datetime | None = None) -> UploadResult:
    processed = process_upload(data, ctx.policy)
    now = now or datetime.now(UTC)
    key = new_image_key(processed.info.format, now.timestamp())
    stored = store_image(ctx, key, processed, ImageStatus.INCOMING, now=now)
    return UploadResult(key, list(stored.record.variants), processed)
