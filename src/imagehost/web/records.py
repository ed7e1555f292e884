"""The image records API: /images with free-form data, filters and bulk operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from imagehost.catalog.models import MAX_ID
from imagehost.errors import BadRequest
from imagehost.service.image_archive import archive_images
from imagehost.service.records import (
    FILTER_HELP,
    data_keys,
    data_values,
    delete_many,
    delete_record,
    list_records,
    patch_data,
    patch_many,
    readable_record,
    record_view,
    replace_data,
    store_record,
    upload_path,
)
from imagehost.service.vocabulary import (
    ARCHIVE_KINDS,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_REGEX_LENGTH,
    ORDERS,
    STATUSES,
    SYSTEM_FIELDS,
)
from imagehost.values import InvalidValue, parse_datetime, parse_json
from imagehost.web.auth import CallerDep, WriterDep
from imagehost.web.docs import body_example, comma_list, flag, one_of, parameter
from imagehost.web.schemas import (
    RECORD_EXAMPLE,
    DataKey,
    DeletedRecord,
    DeleteResult,
    PatchResult,
    Record,
    RecordId,
    RecordList,
    RecordRef,
    error_responses,
)
from imagehost.web.state import ContextDep
from imagehost.web.upload_form import read_upload_form

router = APIRouter(prefix="/images", tags=["records"])
TEXT = {"type": "string"}
# The filter language (catalog/filters.py), documented here and read by the service from
# request.query_params, with the data.<key> conditions no parameter list can name.
FILTER_PARAMETERS = [
    parameter("status", "Statuses, a comma list.", comma_list(one_of(STATUSES)), ["active"]),
    parameter("from", "Upload time lower bound, inclusive: an ISO 8601 date or time (UTC "
                      "unless it has a zone).", TEXT, "2024-05-01"),
    parameter("to", "Upload time upper bound, inclusive, like from.", TEXT,
              "2024-12-31T23:59:59Z"),
    parameter("file", "Key prefix.", TEXT, "plots/site-4/"),
    parameter("regex", "RE2 pattern searched in the key.",
              {"type": "string", "maxLength": MAX_REGEX_LENGTH}, r"cam[0-9]+\.jpg$"),
    parameter("ids", f"Record ids, a comma list (at most {MAX_LIMIT}).",
              comma_list({"type": "integer", "minimum": 1, "maximum": MAX_ID}), [4, 5, 6]),
    parameter("filter", "A JSON object of conditions on data.<key> paths: a value, or "
                        "{\"$op\": value} with $eq, $ne, $gt, $gte, $lt, $lte, $in, $exists. "
                        "Plain conditions need no parameter list: data.<key>=value, "
                        "data.<key>__<op>=value (see the operation's description).", TEXT,
              '{"data.site": {"$gte": 4}}'),
]
PAGE_PARAMETERS = [
    parameter("skip", "Records to skip.", {"type": "integer", "minimum": 0}, 0),
    parameter("limit", "Records per page.",
              {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
              20),
    parameter("sort", f"Sort keys, a comma list of {', '.join(SYSTEM_FIELDS)} or "
                      "data.<key>, each with - for descending (at most 4; default time,id).",
              comma_list(TEXT), ["time"]),
    parameter("order", "The direction of a one-key sort without a sign.", one_of(ORDERS),
              "desc"),
    parameter("cursor", "next_cursor of the previous page (instead of skip).", TEXT),
    parameter("select", "Fields to answer, a comma list of record fields or data.<key>.",
              comma_list(TEXT), ["file", "data"]),
]
ALL = flag("all", "Allow a bulk operation without any filter.")
ARCHIVE = parameter("archive", "zip: answer a zip of the matching images, each derived by the "
                               "parameters of /images/{record_id}/image (w, h, fit, format, "
                               "...) and named by its canonical derivation name.",
                    one_of(ARCHIVE_KINDS))
DATA_EXAMPLE = RECORD_EXAMPLE["data"]
_IMAGE_FIELDS = ("image", "file")
_META_FIELDS = ("json", "data")  # the storage microservice reads json first
_FORM_RESERVED = {*_IMAGE_FIELDS, *_META_FIELDS, "path", "time", "_id"}
UPLOAD_FIELDS = {
    "image": {"type": "string", "format": "binary",
              "description": "The image (the field may also be called file)."},
    "data": {"type": "string", "description": "JSON object for data (or field json); without "
                                              "it, plain fields become data.",
             "example": '{"site": 4, "camera": "cam1"}'},
    "path": {"type": "string", "description": "Store under this path (or text field file); "
                                              "default: a new key.",
             "example": RECORD_EXAMPLE["file"]},
    "time": {"type": "string", "format": "date-time",
             "description": "The upload time to record (default: now).",
             "example": RECORD_EXAMPLE["time"]}}
UPLOAD_FORM = {"schema": {"type": "object", "required": ["image"], "properties": UPLOAD_FIELDS},
               "example": body_example(UPLOAD_FIELDS)}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": UPLOAD_FORM}}}
PUT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object",
                                    "description": "Replaces the record's data."},
                         "example": DATA_EXAMPLE},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": UPLOAD_FORM}}}
MERGE_PATCH = {"schema": {"type": "object", "description": "A JSON merge patch (RFC 7396) of "
                                                          "data: null removes a key."},
               "example": {"camera": None, "checked": True}}
PATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/merge-patch+json": MERGE_PATCH, "application/json": MERGE_PATCH}}}


@router.get("", response_model=RecordList, response_model_exclude_unset=True,
            responses={200: {"content": {"application/zip": {"schema": {
                "type": "string", "format": "binary"}}},
                "description": "The page of records; with archive=zip, the zip."},
                **error_responses(400, 401, 403, 413, 503)},
            openapi_extra={"parameters": [*PAGE_PARAMETERS, *FILTER_PARAMETERS, ARCHIVE]},
            summary="List records",
            description="List records matching the filters.\n\n" + FILTER_HELP)
async def list_images(request: Request, ctx: ContextDep, caller: CallerDep) -> Any:
    archive = request.query_params.get("archive")
    params = request.query_params.multi_items()
    if archive is None:
        return await ctx.pool.run(list_records, ctx, params, caller)
    spool = await ctx.pool.run(archive_images, ctx, params, caller,
                               request.headers.get("accept", ""))
    return StreamingResponse(_chunks(spool), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="imagehost-images.zip"'})


aliases = APIRouter(tags=["records"])
"""The storage microservice's spellings of the same routes."""


FIELDS_ANSWER = {200: {"description": "The keys.", "content": {"application/json": {
    "example": sorted(DATA_EXAMPLE)}}}, **error_responses(400, 401, 403)}
VALUES_ANSWER = {200: {"description": "The values.", "content": {"application/json": {
    "example": ["cam1", "cam2"]}}}, **error_responses(400, 401, 403)}
FILTERS = {"parameters": FILTER_PARAMETERS}


@router.get("/fields", response_model=list[str], responses=FIELDS_ANSWER, openapi_extra=FILTERS,
            summary="Data keys", description="The data keys in use among matching records.")
@aliases.get("/fields", response_model=list[str], responses=FIELDS_ANSWER,
             openapi_extra=FILTERS, summary="Data keys (alias)",
             description="Alias of /images/fields.")
async def data_fields(request: Request, ctx: ContextDep, caller: CallerDep) -> list[str]:
    return await ctx.pool.run(data_keys, ctx, request.query_params.multi_items(), caller)


@router.get("/fields/{name}", response_model=list[Any], responses=VALUES_ANSWER,
            openapi_extra=FILTERS, summary="Data values",
            description="The distinct values of data.<name> (dotted for nesting) among "
                        "matching records, in sort order.")
@aliases.get("/fields/{name}", response_model=list[Any], responses=VALUES_ANSWER,
             openapi_extra=FILTERS, summary="Data values (alias)",
             description="Alias of /images/fields/{name}.")
async def data_field_values(name: DataKey, request: Request, ctx: ContextDep,
                            caller: CallerDep) -> list[Any]:
    return await ctx.pool.run(data_values, ctx, name, request.query_params.multi_items(),
                              caller)


@router.post("", status_code=201, response_model=Record, openapi_extra=UPLOAD_BODY,
             responses=error_responses(400, 401, 403, 409, 413, 429, 503),
             summary="Upload an image with data")
async def create_image(request: Request, ctx: ContextDep, _: WriterDep) -> dict[str, Any]:
    """Upload an image with its data (processed, limited and given variants like /upload)
    and publish it; an existing path is replaced, keeping its id."""
    upload = await _form_upload(request)
    upload.pop("filename")
    stored = await ctx.pool.run(lambda: store_record(ctx, **upload))
    return record_view(stored.record)


@router.get("/{record_id}", response_model=Record, responses=error_responses(400, 401, 404),
            summary="Get a record")
async def get_image(record_id: RecordId, ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    """The record: its file, time, data, status, size and variants."""
    return record_view(await ctx.pool.run(readable_record, ctx, record_id, caller))


@router.patch("/{record_id}", response_model=Record, openapi_extra=PATCH_BODY,
              responses=error_responses(400, 401, 403, 404), summary="Patch a record's data")
async def patch_image(record_id: RecordId, request: Request, ctx: ContextDep,
                      _: WriterDep) -> dict[str, Any]:
    """Merge a JSON merge patch (RFC 7396) into data: null removes a key."""
    patch = await _json_body(request)
    return record_view(await ctx.pool.run(patch_data, ctx, record_id, patch))


@router.put("/{ref:path}", response_model=Record, openapi_extra=PUT_BODY,
            responses={201: {"model": Record, "description": "Created at that path."},
                       **error_responses(400, 401, 403, 404, 409, 413, 429, 503)},
            summary="Replace data, or store an image at a path")
async def put_image(ref: RecordRef, request: Request, ctx: ContextDep, _: WriterDep) -> Response:
    """With a JSON body, replace the data of the record `ref` (an id or a path). With an
    image (raw body or multipart), store it at the path `ref`, replacing what is there."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        data = await _json_body(request)
        return JSONResponse(record_view(await ctx.pool.run(replace_data, ctx, ref, data)))
    return await store_at_path(ref, request, ctx, _)


@router.post("/{ref:path}", response_model=Record, openapi_extra=PUT_BODY,
             responses={201: {"model": Record, "description": "Created at that path."},
                        **error_responses(400, 401, 403, 409, 413, 429, 503)},
             summary="Store an image at a path")
async def store_at_path(ref: RecordRef, request: Request, ctx: ContextDep,
                        _: WriterDep) -> Response:
    """Store the image (raw body or multipart) at the path `ref`, replacing what is there
    (the image repository's upload; PUT does the same)."""
    if ref.isdigit():
        raise BadRequest("An image goes to a path with an extension, not to an id.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    filename = None
    if content_type == "multipart/form-data":
        upload = await _form_upload(request)
        filename = upload.pop("filename")
    else:
        upload = {"data": await request.body(), "metadata": {}}
    upload["path"] = upload_path(ref, filename)
    stored = await ctx.pool.run(lambda: store_record(ctx, **upload))
    return JSONResponse(record_view(stored.record), status_code=201 if stored.created else 200)


@router.delete("/{record_id}", response_model=DeletedRecord,
               responses=error_responses(400, 401, 403, 404, 503), summary="Delete an image")
async def delete_image(record_id: RecordId, ctx: ContextDep, _: WriterDep) -> DeletedRecord:
    """Remove the image's files, variants and cached derivatives; the record stays as a
    tombstone (status deleted)."""
    await ctx.pool.run(delete_record, ctx, record_id)
    return DeletedRecord(id=record_id, mongo_id=record_id)


@router.patch("", response_model=PatchResult,
              openapi_extra={**PATCH_BODY, "parameters": [*FILTER_PARAMETERS, ALL]},
              responses=error_responses(400, 401, 403), summary="Patch the data of many",
              description="Merge a JSON merge patch into the data of every matching record. "
                          "An empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def patch_images(request: Request, ctx: ContextDep, _: WriterDep) -> PatchResult:
    params = request.query_params.multi_items()
    patch = await _json_body(request)
    modified = await ctx.pool.run(patch_many, ctx, params, patch)
    return PatchResult(modified=modified, modifiedCount=modified)


@router.delete("", response_model=DeleteResult, responses=error_responses(400, 401, 403, 503),
               openapi_extra={"parameters": [*FILTER_PARAMETERS, ALL]},
               summary="Delete many",
               description="Delete every matching image (files, variants, derivatives). An "
                           "empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def delete_images(request: Request, ctx: ContextDep, _: WriterDep) -> DeleteResult:
    deleted = await ctx.pool.run(delete_many, ctx, request.query_params.multi_items())
    return DeleteResult(deleted=deleted, deletedCount=deleted)


async def _form_upload(request: Request) -> dict[str, Any]:
    """image or file (an upload), json or data (JSON object) or plain fields, path, time:
    the keyword arguments of store_record, and the uploaded file's name."""
    form = await read_upload_form(request, max_files=2, max_fields=200)
    image = next((file for name in _IMAGE_FIELDS if (file := form.file(name))), None)
    if image is None:
        raise BadRequest("Missing the image: send it in the multipart field 'image'.")
    meta = next((text for name in _META_FIELDS if (text := form.text(name)) is not None), None)
    if meta is not None:
        data = data_field(meta)
    else:
        data = {name: value for name, value in form.multi_items()
                if isinstance(value, str) and name not in _FORM_RESERVED}
    path = form.text("path")
    if path is None:
        path = form.text("file")
    upload: dict[str, Any] = {"data": image.data, "metadata": data,
                              "path": path or None, "filename": image.filename}
    raw_time = form.text("time")
    if isinstance(raw_time, str) and raw_time:
        try:
            upload["time"] = parse_datetime(raw_time)
        except InvalidValue as exc:
            raise BadRequest(f"Field 'time': {exc}.") from None
    return upload


def data_field(raw: str) -> dict[str, Any]:
    """A form field holding the data as a JSON object."""
    try:
        value = parse_json(raw)
    except InvalidValue as exc:
        raise BadRequest(f"The data field is {exc}.") from None
    if not isinstance(value, dict):
        raise BadRequest("The data field must be a JSON object.")
    return value


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return parse_json(body)
    except InvalidValue as exc:
        raise BadRequest(f"The body is {exc}.") from None


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(1024 * 1024):
            yield chunk
