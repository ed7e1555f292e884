"""GET /images/{id}/image: parses the request, calls serve_derived, shapes the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from imagehost.service.derived import ImageAnswer, ImageRequest, serve_derived
from imagehost.web.auth import CallerDep, rate_client
from imagehost.web.metrics import Metrics
from imagehost.web.schemas import RecordId, error_responses
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(tags=["derived images"])
IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}},
                      "application/json": {"schema": {"type": "object"}}},
          "description": "The image bytes; JSON for meta=true and url=true."},
    304: {"description": "Not modified (If-None-Match)."},
    **error_responses(400, 401, 403, 404, 413, 429, 503)}
_QUERY = ("w", "h", "xsize", "ysize", "fit", "enlarge", "gravity", "thumbnail", "format", "kind",
          "quality", "meta", "url", "variant", "preset", "sig", "expires")
# Documented here and read from request.query_params: declared Query parameters cost a
# validation step each on every request, and the service checks them all anyway.
IMAGE_PARAMETERS = {"parameters": [{"name": name, "in": "query", "required": False,
                                    "schema": {"type": "string"}} for name in _QUERY]}


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
        f"{request.url.scheme}://{request.url.netloc}"))
    assert answer is not None
    return image_response(answer, metrics)


def image_response(answer: ImageAnswer, metrics: Metrics) -> Response:
    if answer.source is not None:
        metrics.derived.labels(answer.source).inc()
    if answer.json is not None:
        return JSONResponse(answer.json, headers=dict(answer.headers))
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                    headers=dict(answer.headers))
