"""Operations routes: /health, /metrics, and the local active folder at /active."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from imagehost.errors import NotFound
from imagehost.service.health import check_health
from imagehost.storage.keys import content_type_for
from imagehost.storage.local import LocalStore
from imagehost.web.state import Services, services

router = APIRouter(tags=["operations"])
ServicesDep = Annotated[Services, Depends(services)]


@router.get("/health")
async def health(svc: ServicesDep) -> JSONResponse:
    """The state of the catalog and of each store; 503 when any check fails."""
    report = await run_in_threadpool(check_health, svc.catalog, svc.stores.named())
    report["pool"] = {"in_flight": svc.pool.in_flight, "capacity": svc.pool.capacity}
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/metrics")
async def metrics(svc: ServicesDep) -> Response:
    """Prometheus metrics."""
    svc.metrics.pool_in_flight.set(svc.pool.in_flight)
    return Response(svc.metrics.exposition(), media_type="text/plain; version=0.0.4")


@router.api_route("/active/{key:path}", methods=["GET", "HEAD"])
async def active_file(key: str, svc: ServicesDep) -> FileResponse:
    """A published object from the local active folder."""
    store = svc.stores.active
    if not isinstance(store, LocalStore):
        raise NotFound("/active serves the local store only; use the bucket's public URL.")
    path = store.path(key)
    if not path.is_file():
        raise NotFound(f"No published object {key!r}.")
    return FileResponse(path, media_type=content_type_for(key),
                        headers={"Cache-Control": svc.settings.cache_control})
