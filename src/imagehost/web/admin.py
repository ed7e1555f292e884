"""Operations routes: /health and /metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from imagehost.service.health import check_health
from imagehost.web.state import Services, services

router = APIRouter(tags=["operations"])
ServicesDep = Annotated[Services, Depends(services)]


@router.get("/health", responses={503: {"description": "A check failed."}})
async def health(svc: ServicesDep) -> JSONResponse:
    """The state of the catalog and of each store; 503 when any check fails."""
    report = await run_in_threadpool(check_health, svc.catalog, svc.stores.named())
    report["pool"] = {"in_flight": svc.pool.in_flight, "capacity": svc.pool.capacity}
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(svc: ServicesDep) -> Response:
    """Prometheus metrics."""
    svc.metrics.pool_in_flight.set(svc.pool.in_flight)
    return Response(svc.metrics.exposition(), media_type="text/plain; version=0.0.4")
