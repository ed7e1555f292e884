"""The image records API: /images with free-form data, filters and bulk operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

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
from imagehost.values import InvalidValue, parse_datetime, parse_json
from imagehost.web.auth import CallerDep, WriterDep
from imagehost.web.schemas import (
    DeletedRecord,
    DeleteResult,
    PatchResult,
    Record,
    RecordId,
    RecordList,
    error_responses,
)
from imagehost.web.state import ContextDep

router = APIRouter(prefix="/images", tags=["records"])
Param = Annotated[str | None, Query()]
FROM = Annotated[str | None, Query(alias="from", description="Upload time lower bound.")]
_IMAGE_FIELDS = ("image", "file")
_META_FIELDS = ("json", "data")  # the storage microservice reads json first
_FORM_RESERVED = {*_IMAGE_FIELDS, *_META_FIELDS, "path", "time", "_id"}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary",
                  "description": "The image (the field may also be called file)."},
        "data": {"type": "string", "description": "JSON object for data (or field json); "
                                                  "without it, plain fields become data."},
        "path": {"type": "string", "description": "Store under this path, e.g. "
                                                  "plots/site-4/cam1.jpg (or text field file)."},
        "time": {"type": "string", "format": "date-time"}}}}}}}
PUT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object",
                                    "description": "Replaces the record's data."}},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": UPLOAD_BODY["requestBody"]["content"]["multipart/form-data"]}}}
PATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/merge-patch+json": {"schema": {"type": "object"}},
    "application/json": {"schema": {"type": "object"}}}}}


@router.get("", response_model=RecordList, response_model_exclude_unset=True,
            responses=error_responses(400, 401, 403, 503),
            description="List records matching the filters.\n\n" + FILTER_HELP)
async def list_images(request: Request, ctx: ContextDep, caller: CallerDep,
                      skip: Param = None, limit: Param = None, sort: Param = None,
                      cursor: Param = None, select: Param = None, status: Param = None,
                      time_from: FROM = None, to: Param = None, file: Param = None,
                      regex: Param = None, ids: Param = None,
                      archive: Annotated[str | None, Query(
                          description="zip: answer a zip of the matching images, derived by "
                                      "the derivation parameters (w, h, fit, format, ...) "
                                      "and named by canonical derivation name.")] = None,
                      ) -> Any:
    params = request.query_params.multi_items()
    if archive is None:
        return await ctx.pool.run(list_records, ctx, params, caller)
    spool = await ctx.pool.run(archive_images, ctx, params, caller,
                               request.headers.get("accept", ""))
    return StreamingResponse(_chunks(spool), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="imagehost-images.zip"'})


aliases = APIRouter(tags=["records"])
"""The storage microservice's spellings of the same routes."""


@router.get("/fields", response_model=list[str], responses=error_responses(400, 401, 403),
            description="The data keys in use among matching records.")
@aliases.get("/fields", response_model=list[str], responses=error_responses(400, 401, 403),
             description="Alias of /images/fields.")
async def data_fields(request: Request, ctx: ContextDep, caller: CallerDep) -> list[str]:
    return await ctx.pool.run(data_keys, ctx, request.query_params.multi_items(), caller)


@router.get("/fields/{name}", response_model=list[Any],
            responses=error_responses(400, 401, 403),
            description="The distinct values of data.<name> (dotted for nesting) among "
                        "matching records, in sort order.")
@aliases.get("/fields/{name}", response_model=list[Any],
             responses=error_responses(400, 401, 403),
             description="Alias of /images/fields/{name}.")
async def data_field_values(name: str, request: Request, ctx: ContextDep,
                            caller: CallerDep) -> list[Any]:
    return await ctx.pool.run(data_values, ctx, name, request.query_params.multi_items(),
                              caller)


@router.post("", status_code=201, response_model=Record, openapi_extra=UPLOAD_BODY,
             responses=error_responses(400, 401, 403, 409, 413, 429, 503))
async def create_image(request: Request, ctx: ContextDep, _: WriterDep) -> dict[str, Any]:
    """Upload an image with its data (processed, limited and given variants like /upload)
    and publish it; an existing path is replaced, keeping its id."""
    upload = await _form_upload(request)
    upload.pop("filename")
    stored = await ctx.pool.run(lambda: store_record(ctx, **upload))
    return record_view(stored.record)


@router.get("/{record_id}", response_model=Record, responses=error_responses(400, 401, 404))
async def get_image(record_id: RecordId, ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    return record_view(await ctx.pool.run(readable_record, ctx, record_id, caller))


@router.patch("/{record_id}", response_model=Record, openapi_extra=PATCH_BODY,
              responses=error_responses(400, 401, 403, 404))
async def patch_image(record_id: RecordId, request: Request, ctx: ContextDep,
                      _: WriterDep) -> dict[str, Any]:
    """Merge a JSON merge patch (RFC 7396) into data: null removes a key."""
    patch = await _json_body(request)
    return record_view(await ctx.pool.run(patch_data, ctx, record_id, patch))


@router.put("/{ref:path}", response_model=Record, openapi_extra=PUT_BODY,
            responses={201: {"model": Record, "description": "Created at that path."},
                       **error_responses(400, 401, 403, 404, 409, 413, 429, 503)})
async def put_image(ref: str, request: Request, ctx: ContextDep, _: WriterDep) -> Response:
    """With a JSON body, replace the data of the record `ref` (an id or a path). With an
    image (raw body or multipart), store it at the path `ref`, replacing what is there."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        data = await _json_body(request)
        return JSONResponse(record_view(await ctx.pool.run(replace_data, ctx, ref, data)))
    return await store_at_path(ref, request, ctx, _)


@router.post("/{ref:path}", response_model=Record, openapi_extra=PUT_BODY,
             responses={201: {"model": Record, "description": "Created at that path."},
                        **error_responses(400, 401, 403, 409, 413, 429, 503)})
async def store_at_path(ref: str, request: Request, ctx: ContextDep, _: WriterDep) -> Response:
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
               responses=error_responses(400, 401, 403, 404, 503))
async def delete_image(record_id: RecordId, ctx: ContextDep, _: WriterDep) -> DeletedRecord:
    """Remove the image's files, variants and cached derivatives; the record stays as a
    tombstone (status deleted)."""
    await ctx.pool.run(delete_record, ctx, record_id)
    return DeletedRecord(id=record_id, mongo_id=record_id)


@router.patch("", response_model=PatchResult, openapi_extra=PATCH_BODY,
              responses=error_responses(400, 401, 403),
              description="Merge a JSON merge patch into the data of every matching record. "
                          "An empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def patch_images(request: Request, ctx: ContextDep, _: WriterDep,
                       all: Param = None, status: Param = None) -> PatchResult:
    params = request.query_params.multi_items()
    patch = await _json_body(request)
    modified = await ctx.pool.run(patch_many, ctx, params, patch)
    return PatchResult(modified=modified, modifiedCount=modified)


@router.delete("", response_model=DeleteResult, responses=error_responses(400, 401, 403, 503),
               description="Delete every matching image (files, variants, derivatives). An "
                           "empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def delete_images(request: Request, ctx: ContextDep, _: WriterDep,
                        all: Param = None, status: Param = None) -> DeleteResult:
    deleted = await ctx.pool.run(delete_many, ctx, request.query_params.multi_items())
    return DeleteResult(deleted=deleted, deletedCount=deleted)


async def _form_upload(request: Request) -> dict[str, Any]:
    """image or file (an upload), json or data (JSON object) or plain fields, path, time:
    the keyword arguments of store_record, and the uploaded file's name."""
    form = await request.form(max_files=2, max_fields=200)
    image = next((form[name] for name in _IMAGE_FIELDS
                  if isinstance(form.get(name), UploadFile)), None)
    if image is None:
        raise BadRequest("Missing the image: send it in the multipart field 'image'.")
    meta = next((form[name] for name in _META_FIELDS if isinstance(form.get(name), str)), None)
    if meta is not None:
        data = data_field(meta)
    else:
        data = {name: value for name, value in form.multi_items()
                if isinstance(value, str) and name not in _FORM_RESERVED}
    path = form.get("path") if isinstance(form.get("path"), str) else None
    if path is None and isinstance(form.get("file"), str):
        path = form.get("file")
    upload: dict[str, Any] = {"data": await image.read(), "metadata": data,
                              "path": path or None, "filename": image.filename}
    raw_time = form.get("time")
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
