"""The FastAPI app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import imagehost
from imagehost.config import Settings, load_settings
from imagehost.errors import Overloaded
from imagehost.memory import tune_malloc
from imagehost.runtime import build_context, close_context
from imagehost.service.context import ServiceContext
from imagehost.service.expiry import expire_incoming
from imagehost.web import admin, archive, c2corg, derived, files, records, state, ui
from imagehost.web.docs import API_DESCRIPTION, API_TAGS, install_docs
from imagehost.web.errors import install_error_handlers
from imagehost.web.fast_path import DerivedFastPath
from imagehost.web.metrics import Metrics
from imagehost.web.middleware import (
    BodyLimitMiddleware,
    CorsMiddleware,
    ErrorMiddleware,
    ForwardedMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
    UploadRateLimitMiddleware,
)

log = logging.getLogger(__name__)
FORM_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings) -> FastAPI:
    ctx = build_context(settings)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_incoming(ctx))
        try:
            yield
        finally:
            sweeper.cancel()
            metrics.close()
            close_context(ctx)

    app = FastAPI(title="imagehost", version=imagehost.__version__, lifespan=lifespan,
                  description=API_DESCRIPTION, openapi_tags=API_TAGS,
                  openapi_url=f"{settings.prefix}/openapi.json", docs_url=None, redoc_url=None)
    install_docs(app, settings.prefix)
    state.install(app, ctx, metrics)
    app.openapi = lambda: openapi_without_422(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for router in (c2corg.router, admin.router, files.router, derived.router,
                   records.router, records.aliases, archive.router, ui.router):
        app.include_router(router, prefix=settings.prefix)
    app.add_middleware(DerivedFastPath, ctx=ctx, metrics=metrics)
    if ctx.rate_limits.uploads.enabled:
        app.add_middleware(UploadRateLimitMiddleware, ctx=ctx)
    app.add_middleware(BodyLimitMiddleware,
                       max_bytes=settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
                       by_path_suffix={"/import": settings.import_max_bytes + FORM_OVERHEAD_BYTES})
    app.add_middleware(MetricsMiddleware, metrics=metrics, access_log=settings.access_log)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(CorsMiddleware, origins=settings.allowed_origins)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ForwardedMiddleware, trusted_hosts=list(settings.forwarded_allow_ips))
    return app


def openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """Validation errors answer 400 (web/errors.py), so FastAPI's generated 422 is dropped."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app_from_environment() -> FastAPI:
    """uvicorn's factory entry point (`--workers` > 1 re-imports the app in each process)."""
    tune_malloc()
    return create_app(load_settings())


async def _sweep_incoming(ctx: ServiceContext) -> None:
    interval = ctx.settings.expire_interval
    if not interval:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            report = await ctx.pool.run(expire_incoming, ctx,
                                        older_than=ctx.settings.expire_after)
            if report.objects:
                log.info("expired %d incoming objects", len(report.objects))
        except Overloaded:
            continue
        except Exception:
            log.exception("incoming sweep failed")
