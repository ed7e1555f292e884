"""Operations routes: /health and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from imagehost.service.health import check_health, version_info
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(tags=["admin"])
HEALTH_EXAMPLE = {"status": "ok", "checks": {"catalog": "ok", "store.incoming": "ok",
                                             "store.active": "ok", "store.cache": "ok"},
                  "pool": {"in_flight": 0, "capacity": 18}}
HEALTH_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Every check passed.",
          "content": {"application/json": {"example": HEALTH_EXAMPLE}}},
    503: {"description": "A check failed.", "content": {"application/json": {"example": {
        **HEALTH_EXAMPLE, "status": "error",
        "checks": {**HEALTH_EXAMPLE["checks"],
                   "catalog": "error: OperationalError: connection refused"}}}}}}
VERSION_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "description": "The versions and formats.",
    "content": {"application/json": {"example": version_info()}}}}
METRICS_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "description": "The Prometheus text format.", "content": {"text/plain": {"example": (
        "# HELP imagehost_requests_total HTTP requests\n"
        "# TYPE imagehost_requests_total counter\n"
        'imagehost_requests_total{method="POST",route="/upload",status="200"} 12.0\n')}}}}


@router.get("/health", responses=HEALTH_ANSWERS)
async def health(ctx: ContextDep) -> JSONResponse:
    """The state of the catalog, of each store and of the work pool; 503 when a check fails."""
    report = await run_in_threadpool(check_health, ctx)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/version", responses=VERSION_ANSWER)
async def version() -> dict[str, object]:
    """imagehost's version, libvips', and the formats accepted and produced."""
    return version_info()


@router.get("/metrics", response_class=PlainTextResponse, responses=METRICS_ANSWER)
async def metrics(ctx: ContextDep, metrics: MetricsDep) -> Response:
    """Prometheus metrics."""
    metrics.pool_in_flight.set(ctx.pool.in_flight)
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")
