"""Upload: check, render, store original and variants in incoming, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from imagehost.catalog.images import ImageCatalog, NewImage
from imagehost.catalog.models import ImageStatus
from imagehost.service.naming import new_image_key
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import ProcessedImage, process_upload
from imagehost.storage.base import Store


@dataclass(frozen=True)
class UploadResult:
    key: str
    variant_keys: list[str]
    processed: ProcessedImage


def upload_image(data: bytes, *, policy: ImagePolicy, incoming: Store,
                 catalog: ImageCatalog, now: datetime | None = None) -> UploadResult:
    processed = process_upload(data, policy)
    now = now or datetime.now(UTC)
    key = new_image_key(processed.info.format, now.timestamp())
    objects = [*processed.variant_objects(key),
               (key, processed.original, processed.info.format.content_type)]
    store_all(incoming, objects)
    try:
        catalog.add(_new_record(key, processed, [k for k, _, _ in objects[:-1]], now),
                    ImageStatus.INCOMING)
    except Exception:
        delete_all(incoming, [k for k, _, _ in objects])
        raise
    return UploadResult(key, [k for k, _, _ in objects[:-1]], processed)


def store_all(store: Store, objects: list[tuple[str, bytes, str]]) -> None:
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
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            continue


def _new_record(key: str, processed: ProcessedImage, variant_keys: list[str],
                now: datetime) -> NewImage:
    info = processed.info
    return NewImage(key, info.format.value, info.width, info.height, len(processed.original),
                    processed.sha256, variant_keys, now)
