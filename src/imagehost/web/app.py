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
from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.images import ImageCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings, load_settings
from imagehost.errors import Overloaded, StoreUnavailable
from imagehost.imaging.render import configure_libvips
from imagehost.service.derived import DerivedContext, DerivedOptions
from imagehost.service.derived_cache import DerivedCache, DiskTier, MemoryTier
from imagehost.service.expiry import expire_incoming
from imagehost.service.policy import ImagePolicy
from imagehost.service.records import RecordContext
from imagehost.storage.factory import Stores, build_stores
from imagehost.web import admin, archive, c2corg, derived, files, records
from imagehost.web.coalesce import SingleFlight
from imagehost.web.errors import install_error_handlers
from imagehost.web.fast_path import DerivedHitMiddleware
from imagehost.web.metrics import Metrics
from imagehost.web.middleware import (
    BodyLimitMiddleware,
    CorsMiddleware,
    ErrorMiddleware,
    MetricsMiddleware,
)
from imagehost.web.pool import WorkPool
from imagehost.web.record_cache import RecordCache
from imagehost.web.state import Services

log = logging.getLogger(__name__)
FORM_OVERHEAD_BYTES = 64 * 1024


def build_services(settings: Settings) -> Services:
    configure_libvips(settings.vips_concurrency)
    settings.temp_folder.mkdir(parents=True, exist_ok=True)
    engine = create_catalog_engine(settings.database_url)
    migrate(engine)
    stores = build_stores(settings)
    if settings.storage_backend == "swift":
        _set_temp_url_keys(stores)
    policy = ImagePolicy.from_settings(settings)
    records = RecordCatalog(engine)
    cache = build_derived_cache(settings, stores)
    derived = DerivedContext(
        RecordContext(policy, stores, records, cache), cache,
        DerivedOptions(settings.avif_effort, settings.derived_quality, settings.expose_gps,
                       settings.signed_url_lifetime))
    return Services(settings=settings, policy=policy, stores=stores,
                    catalog=ImageCatalog(engine), records=records,
                    pool=WorkPool(settings.render_threads, settings.render_queue),
                    metrics=Metrics(), derived=derived, single_flight=SingleFlight(),
                    record_cache=RecordCache(settings.record_cache_seconds))


def _set_temp_url_keys(stores: Stores) -> None:
    from imagehost.storage.swift import SwiftStore

    for store in stores.named().values():
        assert isinstance(store, SwiftStore)
        try:
            store.ensure_temp_url_key()
        except StoreUnavailable as exc:
            log.warning("cannot set the TempURL key yet: %s", exc.message)


def build_derived_cache(settings: Settings, stores: Stores) -> DerivedCache:
    memory = MemoryTier(settings.memory_cache_bytes) if settings.memory_cache_bytes else None
    disk = (DiskTier(settings.disk_cache_folder, settings.disk_cache_bytes)
            if settings.disk_cache_bytes else None)
    return DerivedCache(stores.cache, memory, disk)


def create_app(settings: Settings) -> FastAPI:
    svc = build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_sweep_incoming(svc))
        try:
            yield
        finally:
            sweeper.cancel()
            svc.pool.shutdown()
            svc.catalog.engine.dispose()

    app = FastAPI(title="imagehost", version=imagehost.__version__, lifespan=lifespan,
                  description="Image backend: upload, variants, publish, serve.")
    app.state.services = svc
    app.openapi = lambda: openapi_without_422(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for router in (c2corg.router, admin.router, files.router, derived.router,
                   records.router, archive.router):
        app.include_router(router, prefix=settings.prefix)
    app.add_middleware(DerivedHitMiddleware, svc=svc)
    app.add_middleware(BodyLimitMiddleware,
                       max_bytes=settings.max_upload_bytes + FORM_OVERHEAD_BYTES,
                       by_path_suffix={"/import": settings.import_max_bytes + FORM_OVERHEAD_BYTES})
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(CorsMiddleware, origins=settings.allowed_origins)
    return app


def openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """Validation errors answer 400 (web/errors.py), so FastAPI's generated 422 is dropped."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app_from_environment() -> FastAPI:
    """uvicorn's factory entry point (`--workers` > 1 re-imports the app in each process)."""
    return create_app(load_settings())


async def _sweep_incoming(svc: Services) -> None:
    interval = svc.settings.expire_interval
    if not interval:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            report = await svc.pool.run(
                expire_incoming, older_than=svc.settings.expire_after, policy=svc.policy,
                incoming=svc.stores.incoming, catalog=svc.catalog)
            if report.objects:
                log.info("expired %d incoming objects", len(report.objects))
        except Overloaded:
            continue
        except Exception:
            log.exception("incoming sweep failed")
