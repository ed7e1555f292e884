"""GET /images/{id}/image: the original, a stored variant, metadata, a temporary URL, or any
derived size and format, cached in three tiers and rendered once per concurrent burst."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.errors import BadRequest, NotFound
from imagehost.imaging.derivation import (
    Derivation,
    negotiates,
    parse_derivation,
    resolve,
)
from imagehost.imaging.formats import CONTENT_TYPES, ImageFormat
from imagehost.service.derived import (
    DerivedImage,
    archive_derived,
    derive_image,
    image_metadata,
    stored_variant,
    temporary_url,
)
from imagehost.service.derived_cache import cache_key
from imagehost.service.records import get_record, read_original
from imagehost.service.url_signing import verify
from imagehost.web.auth import CallerDep
from imagehost.web.schemas import RecordId, error_responses
from imagehost.web.state import Services, services

router = APIRouter(tags=["derived images"])
ServicesDep = Annotated[Services, Depends(services)]
_UNSIGNED = {"variant", "preset"}
_NOT_DERIVED = {"variant", "meta", "url"}
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}},
                      "application/json": {"schema": {"type": "object"}}},
          "description": "The image bytes; JSON for meta=true and url=true."},
    304: {"description": "Not modified (If-None-Match)."},
    **error_responses(400, 401, 403, 404, 413, 503)}
_QUERY = ("w", "h", "xsize", "ysize", "fit", "enlarge", "gravity", "thumbnail", "format", "kind",
          "quality", "meta", "url", "variant", "preset", "sig", "expires")
# Documented here and read from request.query_params: declared Query parameters cost a
# validation step each on every request, and parse_derivation checks them all anyway.
IMAGE_PARAMETERS = {"parameters": [{"name": name, "in": "query", "required": False,
                                    "schema": {"type": "string"}} for name in _QUERY]}


@dataclass(frozen=True)
class DerivedPlan:
    """What a derived request resolves to before any image work."""
    derivation: Derivation
    key: str
    headers: dict[str, str]


@router.get("/images/{record_id}/image", response_class=Response, responses=IMAGE_RESPONSES,
            openapi_extra=IMAGE_PARAMETERS)
@router.head("/images/{record_id}/image", include_in_schema=False)
async def image(record_id: RecordId, request: Request, svc: ServicesDep,
                caller: CallerDep) -> Response:
    """Without parameters: the original. With `variant`: a stored eager variant. With `w`, `h`
    (alias xsize, ysize), `fit` (inside, cover, fill, pad), `enlarge`, `gravity` (compass
    point, attention, focal = data.focal {x, y}, or fx,fy), `thumbnail`, `format` (alias
    kind: jpeg, png, webp, avif, gif, auto), `quality`: a derived image. `meta=true`: JSON
    metadata of the original. `url=true`: JSON {url, expires} of the derived object in the
    cache store. With URL_SIGNING_KEY set, all but variant and preset requests need `sig`."""
    record = svc.record_cache.get(record_id)
    if record is None:
        generation = svc.record_cache.generation
        record = await svc.pool.run(get_record, record_id, svc.derived.records)
        svc.record_cache.put(record, read_at=generation)
    if record.status != ImageStatus.ACTIVE.value:
        caller.require("read")
    params = checked_params(svc, record_id, request.query_params.multi_items())
    names = {k for k, _ in params}
    if not names:
        return await _original(record, request, svc)
    if "variant" in names:
        return await _variant(record, dict(params)["variant"], names, request, svc)
    if _flag(params, "meta"):
        return JSONResponse(await svc.pool.run(image_metadata, record, svc.derived))
    plan = derived_plan(svc, record, params, request.headers.get("accept", ""))
    if _flag(params, "url"):
        return JSONResponse(await svc.pool.run(temporary_url, record, plan.derivation,
                                               svc.derived))
    return await _derived(record, plan, request, svc)


def checked_params(svc: Services, record_id: int,
                   params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The signature checked (when URL_SIGNING_KEY is set), then dropped; a preset expanded."""
    if svc.settings.url_signing_key and any(k not in _UNSIGNED for k, _ in params):
        verify(svc.settings.url_signing_key, f"/images/{record_id}/image", params)
    return _expand_preset(svc, [(k, v) for k, v in params if k not in ("sig", "expires")])


def derived_plan(svc: Services, record: ImageRecord, params: list[tuple[str, str]],
                 accept: str) -> DerivedPlan:
    """The resolved derivation, its cache key, and the response headers (ETag is the key)."""
    settings = svc.settings
    parsed = parse_derivation(params, max_side=settings.derived_max_side,
                              thumbnail_size=settings.thumbnail_size,
                              thumbnail_enhancements=settings.thumbnail_enhancements)
    derivation = resolve(parsed, ImageFormat(record.format),
                         accept if negotiates(parsed) else "",
                         quality=settings.derived_quality, focal=_focal(record))
    key = cache_key(record.id, record.sha256, derivation.canonical_name())
    headers = {"ETag": DerivedImage(b"", "", key, "").etag,
               "Cache-Control": _cache_control(record, settings.derived_cache_control)}
    if negotiates(parsed):
        headers["Vary"] = "Accept"
    return DerivedPlan(derivation, key, headers)


def served_from_memory(svc: Services, record: ImageRecord, params: list[tuple[str, str]],
                       accept: str, if_none_match: str) -> Response | None:
    """The answer for a derived request that needs no image work (a memory hit, or a 304);
    None when it does, or when it is not a plain derived request."""
    params = checked_params(svc, record.id, params)
    if not params or not _NOT_DERIVED.isdisjoint(k for k, _ in params):
        return None
    return _answer_without_work(svc, derived_plan(svc, record, params, accept), if_none_match)


def _answer_without_work(svc: Services, plan: DerivedPlan,
                         if_none_match: str) -> Response | None:
    """A 304, or the bytes from the memory tier; None when the image must be fetched."""
    if etag_matches(if_none_match, plan.headers["ETag"]):
        return Response(status_code=304, headers=plan.headers)
    memory = svc.derived.cache.memory
    data = memory.get(plan.key) if memory is not None else None
    if data is None:
        return None
    svc.metrics.derived.labels("memory").inc()
    return Response(data, media_type=plan.derivation.content_type,
                    headers={**plan.headers, "X-Imagehost-Source": "memory"})


def _cache_control(record: ImageRecord, public: str) -> str:
    """Only published images may sit in shared caches."""
    return public if record.status == ImageStatus.ACTIVE.value else "private, no-store"


async def _original(record: ImageRecord, request: Request, svc: Services) -> Response:
    etag = f'"{record.sha256}"'
    headers = {"ETag": etag, "Cache-Control": _cache_control(record, svc.settings.cache_control)}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    data = await svc.pool.run(read_original, record, svc.derived.records)
    return Response(data, media_type=CONTENT_TYPES[ImageFormat(record.format)], headers=headers)


async def _variant(record: ImageRecord, suffix: str, names: set[str], request: Request,
                   svc: Services) -> Response:
    if names - {"variant"}:
        raise BadRequest("variant takes no other parameters.")
    etag = f'"{record.sha256[:16]}-{suffix}"'
    headers = {"ETag": etag,
               "Cache-Control": _cache_control(record, svc.settings.derived_cache_control)}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    data, content_type = await svc.pool.run(stored_variant, record, suffix, svc.derived.records)
    svc.metrics.derived.labels("variant").inc()
    return Response(data, media_type=content_type, headers=headers)


async def _derived(record: ImageRecord, plan: DerivedPlan, request: Request,
                   svc: Services) -> Response:
    answer = _answer_without_work(svc, plan, request.headers.get("if-none-match", ""))
    if answer is not None:
        return answer
    leader = not svc.single_flight.pending(plan.key)
    derived: DerivedImage = await svc.single_flight.run(
        plan.key, lambda: svc.pool.run(derive_image, record, plan.derivation, svc.derived))
    origin = derived.source.split(" ", 1)[0] if leader else "coalesced"
    svc.metrics.derived.labels(origin).inc()
    return Response(derived.data, media_type=derived.content_type,
                    headers={**plan.headers, "X-Imagehost-Source": origin})


def _expand_preset(svc: Services, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    presets = [v for k, v in params if k == "preset"]
    if not presets:
        return params
    if len(params) != 1:
        raise BadRequest("preset takes no other parameters.")
    query = svc.settings.derived_presets.get(presets[0])
    if query is None:
        raise NotFound(f"No preset {presets[0]!r}; configured: "
                       f"{', '.join(svc.settings.derived_presets) or 'none'}.")
    return parse_qsl(query)


def _focal(record: ImageRecord) -> tuple[float, float] | None:
    focal = record.data.get("focal") if isinstance(record.data, dict) else None
    try:
        if isinstance(focal, dict):
            x, y = float(focal["x"]), float(focal["y"])
        elif isinstance(focal, list | tuple) and len(focal) == 2:
            x, y = float(focal[0]), float(focal[1])
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return (x, y) if 0 <= x <= 1 and 0 <= y <= 1 else None


def _flag(params: list[tuple[str, str]], name: str) -> bool:
    values = [v.lower() for k, v in params if k == name]
    return bool(values) and values[-1] in ("true", "1", "yes")


def _matches(request: Request, etag: str) -> bool:
    return etag_matches(request.headers.get("if-none-match", ""), etag)


def etag_matches(if_none_match: str, etag: str) -> bool:
    return (etag in {p.strip().removeprefix("W/") for p in if_none_match.split(",")}
            or if_none_match == "*")



async def archive_response(request: Request, svc: Services, records: list[ImageRecord],
                           params: list[tuple[str, str]]) -> StreamingResponse:
    """GET /images?...&archive=zip: the matching images, derived by the same parameters."""
    if svc.settings.url_signing_key and params:
        verify(svc.settings.url_signing_key, "/images", request.query_params.multi_items())
    derivation = None
    if params:
        derivation = parse_derivation(params, max_side=svc.settings.derived_max_side,
                                      thumbnail_size=svc.settings.thumbnail_size,
                                      thumbnail_enhancements=svc.settings.thumbnail_enhancements)
    spool = await svc.pool.run(_archive, svc, records, derivation, request)

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(1024 * 1024):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="imagehost-images.zip"'})


def _archive(svc: Services, records: list[ImageRecord], derivation: Derivation | None,
             request: Request) -> IO[bytes]:
    accept = request.headers.get("accept", "") if derivation and negotiates(derivation) else ""

    def per_record(record: ImageRecord) -> Derivation:
        assert derivation is not None
        return resolve(derivation, ImageFormat(record.format), accept,
                       quality=svc.settings.derived_quality, focal=_focal(record))

    return archive_derived(records, per_record if derivation is not None else None,
                           svc.derived, max_bytes=svc.settings.archive_max_bytes)
