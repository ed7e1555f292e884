"""Operations routes: /health and /metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from imagehost.service.health import check_health, version_info
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(tags=["admin"])


@router.get("/health", responses={503: {"description": "A check failed."}})
async def health(ctx: ContextDep) -> JSONResponse:
    """The state of the catalog, of each store and of the work pool; 503 when a check fails."""
    report = await run_in_threadpool(check_health, ctx)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/version")
async def version() -> dict[str, object]:
    """imagehost's version, libvips', and the formats accepted and produced."""
    return version_info()


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: ContextDep, metrics: MetricsDep) -> Response:
    """Prometheus metrics."""
    metrics.pool_in_flight.set(ctx.pool.in_flight)
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")
