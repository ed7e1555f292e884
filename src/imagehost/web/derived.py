"""GET /images/{id}/image: parses the request, calls serve_derived, shapes the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from imagehost.service.derived import ImageAnswer, ImageRequest, serve_derived
from imagehost.service.vocabulary import FITS, GRAVITIES, OUTPUT_FORMAT_NAMES, SMART_GRAVITIES
from imagehost.web.auth import CallerDep, rate_client
from imagehost.web.docs import flag, one_of, parameter
from imagehost.web.metrics import Metrics
from imagehost.web.schemas import RecordId, error_responses
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(tags=["derived images"])
JSON_ANSWERS = {
    "meta": {"summary": "meta=true", "value": {
        "id": 4, "file": "plots/site-4/cam1.jpg", "width": 64, "height": 48, "format": "jpeg",
        "frames": 1, "has_alpha": False, "exif": {}, "blurhash": "LSPO-:3dOAym3KOCsVX5NtsmfkWo",
        "dominant_color": "#fab0cc"}},
    "url": {"summary": "url=true", "value": {
        "url": "http://localhost:8080/files/cache/derived/4/669556d31d1172ab/"
               "w512_inside_q82.jpg?expires=1796659594&sig=6cbf02fa537c78c977eb8e97222b5476"
               "6c03c5bc167af4fb9649ecc196bbbc91",
        "expires": "2026-12-07T16:06:34+00:00", "etag": '"669556d31d1172ab-w512_inside_q82.jpg"'}},
}
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}},
                      "application/json": {"schema": {"type": "object"},
                                           "examples": JSON_ANSWERS}},
          "description": "The image bytes; JSON for meta=true and url=true."},
    304: {"description": "Not modified (If-None-Match)."},
    **error_responses(400, 401, 403, 404, 413, 429, 503)}
SIDE = {"type": "integer", "minimum": 1}
FORMAT = one_of(OUTPUT_FORMAT_NAMES)
# One spelling per value the parser reads; `center` is read as centre.
GRAVITY = {"anyOf": [one_of((*GRAVITIES, *SMART_GRAVITIES), "centre"),
                     {"type": "string", "pattern": r"^[\s0-9._eE+-]+,[\s0-9._eE+-]+$"}]}
# Documented here and read from request.query_params: declared Query parameters cost a
# validation step each on every request, and the service checks them all anyway.
IMAGE_PARAMETERS = {"parameters": [
    parameter("w", "Width in pixels, at most DERIVED_MAX_SIDE.", SIDE, 512),
    parameter("h", "Height in pixels, at most DERIVED_MAX_SIDE.", SIDE, 384),
    parameter("xsize", "Alias of w (the image repository's name).", SIDE, 512),
    parameter("ysize", "Alias of h (the image repository's name).", SIDE, 384),
    parameter("fit", "With w and h: inside (fit in the box, keep the ratio), cover (fill the "
                     "box and crop at gravity), fill (stretch to the box), pad (fit in the box "
                     "and pad to it).", one_of(FITS, "inside"), "cover"),
    flag("enlarge", "Enlarge an image smaller than the box (default: never)."),
    parameter("gravity", f"Where cover and pad crop: a compass point "
                         f"({', '.join(GRAVITIES)}; center is centre), attention (the busiest "
                         "part), focal (the record's data.focal {x, y}), or fx,fy in 0..1.",
              GRAVITY, "centre"),
    flag("thumbnail", "A THUMBNAIL_SIZE box (unless w or h say) with "
                      "THUMBNAIL_ENHANCEMENTS applied."),
    parameter("format", "Output format; auto picks AVIF or WebP by Accept, else JPEG. Default: "
                        "the original's (JPEG for those browsers cannot show).", FORMAT, "webp"),
    parameter("kind", "Alias of format (the image repository's name).", FORMAT, "webp"),
    parameter("quality", "Encoder quality; default: DERIVED_QUALITY for the format.",
              {"type": "integer", "minimum": 1, "maximum": 100}, 80),
    flag("meta", "Answer the original's metadata as JSON (size, format, EXIF subset, "
                 "blurhash, dominant colour) instead of an image."),
    flag("url", "Answer JSON {url, expires, etag}: a temporary URL of the derived image in "
                "the cache store, rendered first if needed."),
    parameter("variant", "A stored eager variant by its suffix (VARIANTS, e.g. SI, MI, BI), "
                         "straight from the store; takes no other parameter.",
              {"type": "string"}),
    parameter("preset", "A named derivation of DERIVED_PRESETS (allowed without a "
                        "signature).", {"type": "string"}),
    parameter("sig", "With URL_SIGNING_KEY set: HMAC-SHA256 (hex) of the path and the sorted "
                     "other parameters; unsigned requests may only ask for variants and "
                     "presets.", {"type": "string"}),
    parameter("expires", "Signed URLs: Unix time after which the signature is refused.",
              {"type": "string"}),
]}


@router.get("/images/{record_id}/image", response_class=Response, responses=IMAGE_RESPONSES,
            openapi_extra=IMAGE_PARAMETERS)
@router.head("/images/{record_id}/image", include_in_schema=False)
@router.get("/images/{record_id}/file", response_class=Response, responses=IMAGE_RESPONSES,
            openapi_extra=IMAGE_PARAMETERS, summary="Image (alias)",
            description="The storage microservice's name of /images/{record_id}/image.")
async def image(record_id: RecordId, request: Request, ctx: ContextDep, metrics: MetricsDep,
                caller: CallerDep) -> Response:
    """Without parameters: the original. With `variant`: a stored eager variant. With `w`, `h`
    (alias xsize, ysize), `fit` (inside, cover, fill, pad), `enlarge`, `gravity` (compass
    point, attention, focal = data.focal {x, y}, or fx,fy), `thumbnail`, `format` (alias
    kind: jpeg, png, webp, avif, gif, auto), `quality`: a derived image. `meta=true`: JSON
    metadata of the original. `url=true`: JSON {url, expires} of the derived object in the
    cache store. With URL_SIGNING_KEY set, all but variant and preset requests need `sig`."""
    client = (rate_client(ctx.settings, request.headers.get("authorization"), request.client)
              if ctx.rate_limits.renders.enabled else "")
    answer = await serve_derived(ctx, ImageRequest(
        record_id, request.query_params.multi_items(), request.headers.get("accept", ""),
        request.headers.get("if-none-match", ""), caller, client,
        f"{request.url.scheme}://{request.url.netloc}"), write_behind=True)
    assert answer is not None
    return image_response(answer, metrics)


def image_response(answer: ImageAnswer, metrics: Metrics) -> Response:
    if answer.source is not None:
        metrics.derived.labels(answer.source).inc()
    if answer.json is not None:
        return JSONResponse(answer.json, headers=dict(answer.headers))
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                    headers=dict(answer.headers),
                    background=BackgroundTask(answer.after) if answer.after else None)
