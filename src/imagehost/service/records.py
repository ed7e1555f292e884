"""Image records: an image plus free-form `data`, stored under a generated or chosen path,
listed and changed through the filter language."""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from imagehost.catalog.filters import (
    FILTER_HELP,
    RecordFilter,
    RecordQuery,
    encode_cursor,
    parse_path,
    parse_query,
)
from imagehost.catalog.models import MAX_ID, ImageRecord, ImageStatus
from imagehost.errors import BadRequest, Conflict, NotFound
from imagehost.imaging.formats import FORMATS, ImageFormat
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_image
from imagehost.service.merge_patch import merge_patch
from imagehost.service.naming import new_image_key
from imagehost.service.processing import process_upload
from imagehost.service.storing import StoredImage, store_image
from imagehost.storage.keys import validate_key
from imagehost.values import MAX_JSON_DEPTH

__all__ = ["FILTER_HELP"]
MAX_DATA_BYTES = 256 * 1024
Params = Iterable[tuple[str, str]]


def store_record(ctx: ServiceContext, data: bytes, *, path: str | None = None,
                 metadata: dict[str, Any] | None = None, time: datetime | None = None,
                 record_id: int | None = None, status: ImageStatus = ImageStatus.ACTIVE,
                 now: datetime | None = None) -> StoredImage:
    """Process an image like /upload and store it with its variants under `path` (or a new
    key). An existing record at `path` is replaced: new bytes, data and time, same id."""
    check_data(metadata or {})
    processed = process_upload(data, ctx.policy)
    now = now or datetime.now(UTC)
    fmt = processed.info.format
    key = check_record_path(path, fmt) if path else new_image_key(fmt, now.timestamp())
    _check_id(ctx, ctx.records.by_file(key), record_id, key)
    _check_variant_clash(ctx, key)
    return store_image(ctx, key, processed, status, now=now, data=metadata or {},
                       created_at=time or now, record_id=record_id)


def upload_path(ref: str, filename: str | None) -> str:
    """The path an upload to /images/<ref> goes to: `ref`, or, as the image repository does,
    `ref` + the uploaded file's name when `ref` ends in `/`, or + its extension when `ref`
    has none."""
    name = posixpath.basename(filename or "")
    if ref.endswith("/") and name:
        return ref + name
    if not posixpath.splitext(ref)[1] and posixpath.splitext(name)[1]:
        return ref + posixpath.splitext(name)[1].lower()
    return ref


def check_record_path(path: str, fmt: ImageFormat) -> str:
    key = validate_key(path)
    extension = posixpath.splitext(key)[1].lower().lstrip(".")
    allowed = FORMATS[fmt].extensions
    if extension not in allowed:
        raise BadRequest(f"The path {key!r} must end in "
                         f"{' or '.join('.' + e for e in allowed)}: the content is "
                         f"{fmt.value}.")
    return key


def check_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("data must be a JSON object.")
    _check_values(data)
    if len(json.dumps(data)) > MAX_DATA_BYTES:
        raise BadRequest(f"data is larger than {MAX_DATA_BYTES} bytes of JSON.")
    return data


def get_record(ctx: ServiceContext, record_id: int) -> ImageRecord:
    record = ctx.records.get(record_id) if 1 <= record_id <= MAX_ID else None
    if record is None or record.status == ImageStatus.DELETED.value:
        raise NotFound(f"Image {record_id} not found.")
    return record


def readable_record(ctx: ServiceContext, record_id: int, caller: Caller) -> ImageRecord:
    """A record the caller may read (Caller.require_records). A caller who may read no
    record learns nothing, not even which ids exist."""
    caller.require_records(published_only=True)
    record = get_record(ctx, record_id)
    caller.require_records(published_only=record.status == ImageStatus.ACTIVE.value)
    return record


def find_record(ctx: ServiceContext, ref: str) -> ImageRecord:
    """A live record by id (digits) or by path."""
    if ref.isdigit():
        return get_record(ctx, int(ref))
    record = ctx.records.by_file(ref)
    if record is None or record.status == ImageStatus.DELETED.value:
        raise NotFound(f"Image {ref} not found.")
    return record


def replace_data(ctx: ServiceContext, ref: str, data: Any) -> ImageRecord:
    record = find_record(ctx, ref)
    record.data = check_data(data)
    return _save(ctx, record)


def patch_data(ctx: ServiceContext, record_id: int, patch: Any) -> ImageRecord:
    record = get_record(ctx, record_id)
    patch = data_patch(patch)
    record.data = check_data(merge_patch(record.data, patch))
    return _save(ctx, record)


def patch_many(ctx: ServiceContext, params: Params, patch: Any) -> int:
    record_filter = bulk_filter(params)
    patch = data_patch(patch)
    try:
        return ctx.records.update_data(_live(record_filter),
                                       lambda data: check_data(merge_patch(data, patch)))
    finally:
        ctx.record_cache.forget()


def data_patch(body: Any) -> dict[str, Any]:
    """A JSON merge patch of data (RFC 7396); the storage microservice's `$unset` object
    (keys to remove) is read as null values."""
    if not isinstance(body, dict):
        raise BadRequest("A merge patch of data must be a JSON object.")
    unset = body.get("$unset")
    if unset is None:
        return body
    if not isinstance(unset, dict):
        raise BadRequest("$unset must be an object of the keys to remove.")
    return {**{k: v for k, v in body.items() if k != "$unset"}, **dict.fromkeys(unset)}


def delete_record(ctx: ServiceContext, record_id: int, now: datetime | None = None) -> None:
    delete_image(ctx, get_record(ctx, record_id), now or datetime.now(UTC))


def delete_many(ctx: ServiceContext, params: Params, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    deleted = 0
    for record in list(ctx.records.iterate(_live(bulk_filter(params)))):
        if record.status != ImageStatus.DELETED.value:
            delete_image(ctx, record, now)
            deleted += 1
    return deleted


def bulk_filter(params: Params) -> RecordFilter:
    """The filter of a bulk operation; an empty one only with all=true."""
    query = parse_query(params)
    if query.filter.empty and not query.all:
        raise BadRequest("Refusing a bulk operation on every image: give a filter, or all=true.")
    return query.filter


def visible_query(params: Params, caller: Caller, *,
                  extra_reserved: tuple[str, ...] = ()) -> RecordQuery:
    """Parse the filters, for a caller who may read records (Caller.require_records): by
    default of incoming and active images; without the read scope, of active ones only."""
    query = parse_query(params, extra_reserved)
    statuses = query.filter.statuses
    published = (ImageStatus.ACTIVE.value,)
    caller.require_records(published_only=statuses in (None, published))
    if not caller.can("read"):
        statuses = published
    elif statuses is None:
        statuses = (ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value)
    return replace(query, filter=replace(query.filter, statuses=statuses))


def list_records(ctx: ServiceContext, params: Params, caller: Caller) -> dict[str, Any]:
    query = visible_query(params, caller)
    page = ctx.records.page(query)
    return {"total": page.total, "skip": query.skip, "limit": query.limit,
            "items": [record_view(r, query.select) for r in page.records],
            "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor else None}


def data_keys(ctx: ServiceContext, params: Params, caller: Caller) -> list[str]:
    return ctx.records.data_keys(visible_query(params, caller).filter)


def data_values(ctx: ServiceContext, name: str, params: Params, caller: Caller) -> list[Any]:
    path = parse_path(name.removeprefix("data."), "name")
    return ctx.records.data_values(path, visible_query(params, caller).filter)


def read_original(ctx: ServiceContext, record: ImageRecord) -> bytes:
    return ctx.store_for(record.status).get(record.key)


def record_view(record: ImageRecord, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The API shape of a record, optionally projected to `select`."""
    view: dict[str, Any] = {
        "id": record.id, "_id": record.id, "file": record.key, "time": _iso(record.created_at),
        "data": record.data, "status": record.status, "format": record.format,
        "width": record.width, "height": record.height, "bytes": record.bytes,
        "sha256": record.sha256, "variants": record.variants, "color": record.color,
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
    if "id" in projected:
        projected["_id"] = projected["id"]
    return projected


def _save(ctx: ServiceContext, record: ImageRecord) -> ImageRecord:
    saved = ctx.records.save(record)
    ctx.record_cache.forget(saved.id)
    return saved


def _live(record_filter: RecordFilter) -> RecordFilter:
    """Bulk operations never touch tombstones unless asked for them by status."""
    if record_filter.statuses is not None:
        return record_filter
    return replace(record_filter, statuses=(ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value))


def _check_values(data: dict[str, Any]) -> None:
    """Every database must store what it is given, and read it back as JSON: no NUL
    (PostgreSQL's JSONB refuses it) and no lone surrogate (not UTF-8) in keys or values, no
    NaN or infinity, and nesting at most MAX_JSON_DEPTH deep (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(f"data is nested deeper than {MAX_JSON_DEPTH} levels.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_string(key)
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            _check_string(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(f"data numbers must be finite, not {value}.")


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise BadRequest("data strings may not contain NUL (\\u0000).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("data strings must be valid Unicode (no lone surrogates).") from None


def _check_id(ctx: ServiceContext, existing: ImageRecord | None, record_id: int | None,
              key: str) -> None:
    if record_id is None:
        return
    if existing is not None and existing.id != record_id:
        raise Conflict(f"{key!r} already belongs to image {existing.id}, not {record_id}.")
    holder = ctx.records.get(record_id)
    if existing is None and holder is not None:
        raise Conflict(f"Image {record_id} already exists with the file {holder.key!r}.")


def _check_variant_clash(ctx: ServiceContext, key: str) -> None:
    """A path must not be another image's variant, nor have variants that are images."""
    for variant in ctx.policy.variant_keys(key):
        if ctx.records.by_file(variant) is not None:
            raise Conflict(f"The variant {variant!r} of {key!r} is an image of its own.")
    stem, _ = posixpath.splitext(key)
    for spec in ctx.policy.specs:
        if stem.endswith(spec.suffix) and len(stem) > len(spec.suffix):
            base = stem[: -len(spec.suffix)]
            for fmt_spec in FORMATS.values():
                for extension in fmt_spec.extensions:
                    owner = ctx.records.by_file(f"{base}.{extension}")
                    if owner is not None and key in owner.variants:
                        raise Conflict(f"{key!r} is a variant of image {owner.id}.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
