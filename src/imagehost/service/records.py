"""Image records: an image plus free-form `data`, stored under a generated or chosen path."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from imagehost.catalog.filters import RecordFilter
from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.catalog.records import RecordCatalog
from imagehost.errors import BadRequest, Conflict, NotFound
from imagehost.imaging.formats import ImageFormat
from imagehost.service.derived_cache import DerivedCache
from imagehost.service.merge_patch import merge_patch
from imagehost.service.naming import new_image_key
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import process_upload
from imagehost.service.uploads import delete_all, store_all
from imagehost.storage.base import Store
from imagehost.storage.factory import Stores
from imagehost.storage.keys import validate_key

_EXTENSIONS = {ImageFormat.JPEG: ("jpg", "jpeg"), ImageFormat.PNG: ("png",),
               ImageFormat.GIF: ("gif",), ImageFormat.WEBP: ("webp",),
               ImageFormat.SVG: ("svg",)}
MAX_DATA_BYTES = 256 * 1024


@dataclass(frozen=True)
class RecordContext:
    """The collaborators every record use case needs."""

    policy: ImagePolicy
    stores: Stores
    records: RecordCatalog
    cache: DerivedCache


@dataclass(frozen=True)
class StoredRecord:
    record: ImageRecord
    created: bool


def store_record(data: bytes, ctx: RecordContext, *, path: str | None = None,
                 metadata: dict[str, Any] | None = None, time: datetime | None = None,
                 record_id: int | None = None, status: ImageStatus = ImageStatus.ACTIVE,
                 now: datetime | None = None) -> StoredRecord:
    """Process an image like /upload and store it with its variants under `path` (or a new
    key). An existing record at `path` is replaced: new bytes, data and time, same id."""
    check_data(metadata or {})
    processed = process_upload(data, ctx.policy)
    now = now or datetime.now(UTC)
    fmt = processed.info.format
    key = check_record_path(path, fmt) if path else new_image_key(fmt, now.timestamp())
    existing = ctx.records.by_file(key)
    _check_id(existing, record_id, key, ctx.records)
    _check_variant_clash(key, ctx)
    store = store_for(status, ctx.stores)
    objects = [*processed.variant_objects(key), (key, processed.original, fmt.content_type)]
    store_all(store, objects)
    if existing is not None:
        _remove_files(existing, ctx, keep_store=store)
    record = existing or ImageRecord(key=key, id=record_id)
    record.status = status.value
    record.format = fmt.value
    record.width, record.height = processed.info.width, processed.info.height
    record.bytes, record.sha256 = len(processed.original), processed.sha256
    record.variants = [k for k, _, _ in objects[:-1]]
    record.data = metadata or {}
    record.created_at = _utc(time or now)
    record.published_at = now if status is ImageStatus.ACTIVE else None
    record.deleted_at = None
    try:
        saved = ctx.records.save(record)
    except Exception:
        if existing is None:
            delete_all(store, [k for k, _, _ in objects])
        raise
    return StoredRecord(saved, existing is None)


def check_record_path(path: str, fmt: ImageFormat) -> str:
    key = validate_key(path)
    extension = posixpath.splitext(key)[1].lower().lstrip(".")
    if extension not in _EXTENSIONS[fmt]:
        raise BadRequest(f"The path {key!r} must end in "
                         f"{' or '.join('.' + e for e in _EXTENSIONS[fmt])}: the content is "
                         f"{fmt.value}.")
    return key


def check_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("data must be a JSON object.")
    _check_strings(data)
    if len(json.dumps(data)) > MAX_DATA_BYTES:
        raise BadRequest(f"data is larger than {MAX_DATA_BYTES} bytes of JSON.")
    return data


def _check_strings(value: Any) -> None:
    """Every database must store what it is given: no NUL (PostgreSQL's JSONB refuses it) and
    no lone surrogate (not UTF-8) in keys or values."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_string(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)
    elif isinstance(value, str):
        _check_string(value)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise BadRequest("data strings may not contain NUL (\\u0000).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("data strings must be valid Unicode (no lone surrogates).") from None


def get_record(record_id: int, ctx: RecordContext) -> ImageRecord:
    record = ctx.records.get(record_id)
    if record is None or record.status == ImageStatus.DELETED.value:
        raise NotFound(f"Image {record_id} not found.")
    return record


def replace_data(record_id: int, data: Any, ctx: RecordContext) -> ImageRecord:
    record = get_record(record_id, ctx)
    record.data = check_data(data)
    return ctx.records.save(record)


def patch_data(record_id: int, patch: Any, ctx: RecordContext) -> ImageRecord:
    record = get_record(record_id, ctx)
    if not isinstance(patch, dict):
        raise BadRequest("A merge patch of data must be a JSON object.")
    record.data = check_data(merge_patch(record.data, patch))
    return ctx.records.save(record)


def patch_many(record_filter: RecordFilter, patch: Any, ctx: RecordContext) -> int:
    if not isinstance(patch, dict):
        raise BadRequest("A merge patch of data must be a JSON object.")
    return ctx.records.update_data(_live(record_filter),
                                   lambda data: check_data(merge_patch(data, patch)))


def delete_record(record_id: int, ctx: RecordContext, now: datetime | None = None) -> None:
    record = get_record(record_id, ctx)
    _remove_files(record, ctx)
    record.status = ImageStatus.DELETED.value
    record.deleted_at = now or datetime.now(UTC)
    ctx.records.save(record)


def delete_many(record_filter: RecordFilter, ctx: RecordContext) -> int:
    deleted = 0
    for record in list(ctx.records.iterate(_live(record_filter))):
        if record.status == ImageStatus.DELETED.value:
            continue
        delete_record(record.id, ctx)
        deleted += 1
    return deleted


def read_original(record: ImageRecord, ctx: RecordContext) -> bytes:
    return store_for(ImageStatus(record.status), ctx.stores).get(record.key)


def store_for(status: ImageStatus, stores: Stores) -> Store:
    return stores.incoming if status is ImageStatus.INCOMING else stores.active


def record_view(record: ImageRecord, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The API shape of a record, optionally projected to `select`."""
    view: dict[str, Any] = {
        "id": record.id, "file": record.key, "time": _iso(record.created_at),
        "data": record.data, "status": record.status, "format": record.format,
        "width": record.width, "height": record.height, "bytes": record.bytes,
        "sha256": record.sha256, "variants": record.variants,
        "published": _iso(record.published_at),
    }
    if not select:
        return view
    projected: dict[str, Any] = {}
    for name in select:
        if name.startswith("data."):
            value: Any = record.data
            for segment in name.removeprefix("data.").split("."):
                value = value.get(segment) if isinstance(value, dict) else None
            projected.setdefault("data", {})[name.removeprefix("data.")] = value
        else:
            projected[name] = view[name]
    return projected


def _live(record_filter: RecordFilter) -> RecordFilter:
    """Bulk operations never touch tombstones unless asked for them by status."""
    if record_filter.statuses is not None:
        return record_filter
    return replace(record_filter, statuses=(ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value))


def _remove_files(record: ImageRecord, ctx: RecordContext, keep_store: Store | None = None) -> None:
    store = store_for(ImageStatus(record.status), ctx.stores)
    stale = [record.key, *record.variants]
    if store is keep_store:
        fresh = set(ctx.policy.variant_keys(record.key)) | {record.key}
        stale = [k for k in stale if k not in fresh]
    delete_all(store, stale)
    ctx.cache.purge(record.id)


def _check_id(existing: ImageRecord | None, record_id: int | None, key: str,
              records: RecordCatalog) -> None:
    if record_id is None:
        return
    if existing is not None and existing.id != record_id:
        raise Conflict(f"{key!r} already belongs to image {existing.id}, not {record_id}.")
    holder = records.get(record_id)
    if existing is None and holder is not None:
        raise Conflict(f"Image {record_id} already exists with the file {holder.key!r}.")


def _check_variant_clash(key: str, ctx: RecordContext) -> None:
    """A path must not be another image's variant, nor have variants that are images."""
    for variant in ctx.policy.variant_keys(key):
        if ctx.records.by_file(variant) is not None:
            raise Conflict(f"The variant {variant!r} of {key!r} is an image of its own.")
    stem, _ = posixpath.splitext(key)
    for spec in ctx.policy.specs:
        if stem.endswith(spec.suffix) and len(stem) > len(spec.suffix):
            base = stem[: -len(spec.suffix)]
            for extensions in _EXTENSIONS.values():
                for extension in extensions:
                    owner = ctx.records.by_file(f"{base}.{extension}")
                    if owner is not None and key in owner.variants:
                        raise Conflict(f"{key!r} is a variant of image {owner.id}.")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

