"""The image records API: /images with free-form data, filters and bulk operations."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from imagehost.catalog.filters import (
    FILTER_HELP,
    MAX_ID,
    RecordFilter,
    RecordQuery,
    encode_cursor,
    parse_path,
    parse_query,
)
from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest, LimitExceeded, NotFound
from imagehost.imaging.derivation import DERIVATION_PARAMETERS
from imagehost.service.records import (
    RecordContext,
    delete_many,
    delete_record,
    get_record,
    patch_data,
    patch_many,
    record_view,
    replace_data,
    store_record,
)
from imagehost.web.auth import Caller, CallerDep, writer
from imagehost.web.derived import archive_response
from imagehost.web.schemas import (
    DeletedRecord,
    DeleteResult,
    PatchResult,
    Record,
    RecordId,
    RecordList,
    error_responses,
)
from imagehost.web.state import Services, services

router = APIRouter(prefix="/images", tags=["records"])
ServicesDep = Annotated[Services, Depends(services)]
WriterDep = Annotated[Caller, Depends(writer)]
Param = Annotated[str | None, Query()]
FROM = Annotated[str | None, Query(alias="from", description="Upload time lower bound.")]
_IMAGE_FIELDS = ("image", "file")
_META_FIELDS = ("data", "json")
_FORM_RESERVED = {*_IMAGE_FIELDS, *_META_FIELDS, "path", "time"}
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


def context(svc: Services) -> RecordContext:
    return svc.derived.records


def visible_query(request: Request, caller: Caller, *,
                  extra_reserved: tuple[str, ...] = ()) -> RecordQuery:
    """Parse the filters; anonymous callers see active images only."""
    query = parse_query(request.query_params.multi_items(), extra_reserved)
    statuses = query.filter.statuses
    if caller.anonymous:
        if statuses not in (None, (ImageStatus.ACTIVE.value,)):
            caller.require("read")
        statuses = (ImageStatus.ACTIVE.value,)
    elif statuses is None:
        statuses = (ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value)
    else:
        caller.require("read")
    return replace(query, filter=replace(query.filter, statuses=statuses))


@router.get("", response_model=RecordList, response_model_exclude_unset=True,
            responses=error_responses(400, 401, 403, 503),
            description="List records matching the filters.\n\n" + FILTER_HELP)
async def list_images(request: Request, svc: ServicesDep, caller: CallerDep,
                      skip: Param = None, limit: Param = None, sort: Param = None,
                      cursor: Param = None, select: Param = None, status: Param = None,
                      time_from: FROM = None, to: Param = None, file: Param = None,
                      regex: Param = None, ids: Param = None,
                      archive: Annotated[str | None, Query(
                          description="zip: answer a zip of the matching images, derived by "
                                      "the derivation parameters (w, h, fit, format, ...) "
                                      "and named by canonical derivation name.")] = None,
                      ) -> Any:
    if archive is not None:
        return await _archive(request, svc, caller, archive)
    query = visible_query(request, caller)
    page = await svc.pool.run(svc.records.page, query)
    return {"total": page.total, "skip": query.skip, "limit": query.limit,
            "items": [record_view(r, query.select) for r in page.records],
            "next_cursor": encode_cursor(page.next_cursor) if page.next_cursor else None}


async def _archive(request: Request, svc: Services, caller: Caller, kind: str) -> Any:
    if kind != "zip":
        raise BadRequest("Parameter 'archive': the only archive is zip.")
    reserved = (*DERIVATION_PARAMETERS, "archive", "sig", "expires")
    query = visible_query(request, caller, extra_reserved=reserved)
    count = await svc.pool.run(lambda: svc.records.page(replace(query, limit=1, skip=0)).total)
    if count > svc.settings.archive_max_images:
        raise LimitExceeded(f"{count} images match; an archive holds at most "
                            f"{svc.settings.archive_max_images} (archive_max_images).")
    records = await svc.pool.run(lambda: list(svc.records.iterate(query.filter)))
    params = [(k, v) for k, v in request.query_params.multi_items()
              if k in DERIVATION_PARAMETERS]
    return await archive_response(request, svc, records, params)


@router.get("/fields", response_model=list[str], responses=error_responses(400, 401, 403),
            description="The data keys in use among matching records.")
async def data_fields(request: Request, svc: ServicesDep, caller: CallerDep) -> list[str]:
    query = visible_query(request, caller)
    return await svc.pool.run(svc.records.data_keys, query.filter)


@router.get("/fields/{name}", response_model=list[Any],
            responses=error_responses(400, 401, 403),
            description="The distinct values of data.<name> (dotted for nesting) among "
                        "matching records, in sort order.")
async def data_field_values(name: str, request: Request, svc: ServicesDep,
                            caller: CallerDep) -> list[Any]:
    path = parse_path(name.removeprefix("data."), "name")
    query = visible_query(request, caller)
    return await svc.pool.run(svc.records.data_values, path, query.filter)


@router.post("", status_code=201, response_model=Record, openapi_extra=UPLOAD_BODY,
             responses=error_responses(400, 401, 403, 409, 413, 503))
async def create_image(request: Request, svc: ServicesDep, _: WriterDep) -> dict[str, Any]:
    """Upload an image with its data (processed, limited and given variants like /upload)
    and publish it; an existing path is replaced, keeping its id."""
    upload = await _form_upload(request)
    stored = await svc.pool.run(_store_form, svc, upload)
    return record_view(stored.record)


@router.get("/{record_id}", response_model=Record, responses=error_responses(400, 401, 404))
async def get_image(record_id: RecordId, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    record = await svc.pool.run(get_record, record_id, context(svc))
    if record.status != ImageStatus.ACTIVE.value:
        caller.require("read")
    return record_view(record)


@router.patch("/{record_id}", response_model=Record, openapi_extra=PATCH_BODY,
              responses=error_responses(400, 401, 403, 404))
async def patch_image(record_id: RecordId, request: Request, svc: ServicesDep,
                      _: WriterDep) -> dict[str, Any]:
    """Merge a JSON merge patch (RFC 7396) into data: null removes a key."""
    patch = await _json_body(request)
    return record_view(await svc.pool.run(patch_data, record_id, patch, context(svc)))


@router.put("/{ref:path}", response_model=Record, openapi_extra=PUT_BODY,
            responses={201: {"model": Record, "description": "Created at that path."},
                       **error_responses(400, 401, 403, 404, 409, 413, 503)})
async def put_image(ref: str, request: Request, svc: ServicesDep,
                    _: WriterDep) -> Response:
    """With a JSON body, replace the data of the record `ref` (an id or a path). With an
    image (raw body or multipart), store it at the path `ref`, replacing what is there."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        data = await _json_body(request)
        record = await svc.pool.run(_replace_by_ref, svc, ref, data)
        return JSONResponse(record_view(record))
    if ref.isdigit():
        raise BadRequest("An image goes to a path with an extension, not to an id.")
    if content_type == "multipart/form-data":
        upload = await _form_upload(request)
        upload["path"] = ref
    else:
        upload = {"image": await request.body(), "path": ref, "data": {}}
    stored = await svc.pool.run(_store_form, svc, upload)
    return JSONResponse(record_view(stored.record), status_code=201 if stored.created else 200)


@router.delete("/{record_id}", response_model=DeletedRecord,
               responses=error_responses(400, 401, 403, 404, 503))
async def delete_image(record_id: RecordId, svc: ServicesDep, _: WriterDep) -> DeletedRecord:
    """Remove the image's files, variants and cached derivatives; the record stays as a
    tombstone (status deleted)."""
    await svc.pool.run(delete_record, record_id, context(svc))
    return DeletedRecord(id=record_id)


@router.patch("", response_model=PatchResult, openapi_extra=PATCH_BODY,
              responses=error_responses(400, 401, 403),
              description="Merge a JSON merge patch into the data of every matching record. "
                          "An empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def patch_images(request: Request, svc: ServicesDep, caller: WriterDep,
                       all: Param = None, status: Param = None) -> PatchResult:
    record_filter = _bulk_filter(request, caller)
    patch = await _json_body(request)
    modified = await svc.pool.run(patch_many, record_filter, patch, context(svc))
    return PatchResult(modified=modified)


@router.delete("", response_model=DeleteResult, responses=error_responses(400, 401, 403, 503),
               description="Delete every matching image (files, variants, derivatives). An "
                           "empty filter is refused unless all=true.\n\n" + FILTER_HELP)
async def delete_images(request: Request, svc: ServicesDep, caller: WriterDep,
                        all: Param = None, status: Param = None) -> DeleteResult:
    record_filter = _bulk_filter(request, caller)
    deleted = await svc.pool.run(delete_many, record_filter, context(svc))
    return DeleteResult(deleted=deleted)


def _bulk_filter(request: Request, caller: Caller) -> RecordFilter:
    query = parse_query(request.query_params.multi_items())
    if query.filter.empty and not query.all:
        raise BadRequest("Refusing a bulk operation on every image: give a filter, or all=true.")
    return query.filter


def _replace_by_ref(svc: Services, ref: str, data: Any) -> Any:
    ctx = context(svc)
    if ref.isdigit() and not 1 <= int(ref) <= MAX_ID:
        raise NotFound(f"Image {ref} not found.")
    record = svc.records.get(int(ref)) if ref.isdigit() else svc.records.by_file(ref)
    if record is None or record.status == ImageStatus.DELETED.value:
        raise NotFound(f"Image {ref} not found.")
    return replace_data(record.id, data, ctx)


def _store_form(svc: Services, upload: dict[str, Any]) -> Any:
    return store_record(upload["image"], context(svc), path=upload.get("path"),
                        metadata=upload["data"], time=upload.get("time"))


async def _form_upload(request: Request) -> dict[str, Any]:
    """image or file (an upload), data or json (JSON object) or plain fields, path, time."""
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
    upload: dict[str, Any] = {"image": await image.read(), "data": data, "path": path or None}
    raw_time = form.get("time")
    if isinstance(raw_time, str) and raw_time:
        try:
            upload["time"] = datetime.fromisoformat(raw_time.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"time {raw_time!r} is not an ISO 8601 date or time.") from None
    return upload


def data_field(raw: str) -> dict[str, Any]:
    """A form field holding the data as a JSON object."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise BadRequest("The data field is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BadRequest("The data field must be a JSON object.")
    return value


async def _json_body(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None

