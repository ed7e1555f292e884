"""The composition root: every store, catalog, cache, pool and signer is built here from
Settings, once per process. `serve` (in each worker), the CLI commands, the job runner and the
Celery worker all take their collaborators from `open_context`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.jobs import JobCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings
from imagehost.errors import StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.imaging.render import configure_libvips
from imagehost.service.coalesce import SingleFlight
from imagehost.service.context import ServiceContext
from imagehost.service.derived_cache import DerivedCache, DiskTier, MemoryTier
from imagehost.service.policy import ImagePolicy
from imagehost.service.pool import WorkPool
from imagehost.service.record_cache import RecordCache
from imagehost.storage.factory import Stores, build_stores

log = logging.getLogger(__name__)


def build_context(settings: Settings) -> ServiceContext:
    """Everything the use cases need, connected; the catalog schema brought up to date."""
    configure_libvips(settings.vips_concurrency)
    settings.temp_folder.mkdir(parents=True, exist_ok=True)
    engine = create_catalog_engine(settings.database_url)
    migrate(engine)
    stores = build_stores_for(settings)
    return ServiceContext(
        settings=settings, policy=ImagePolicy.from_settings(settings), stores=stores,
        records=RecordCatalog(engine), jobs=JobCatalog(engine),
        cache=build_derived_cache(settings, stores),
        record_cache=RecordCache(settings.record_cache_seconds),
        pool=WorkPool(settings.render_threads, settings.render_queue),
        single_flight=SingleFlight())


def close_context(ctx: ServiceContext) -> None:
    ctx.pool.shutdown()
    ctx.records.engine.dispose()


@contextlib.contextmanager
def open_context(settings: Settings) -> Iterator[ServiceContext]:
    ctx = build_context(settings)
    try:
        yield ctx
    finally:
        close_context(ctx)


def build_stores_for(settings: Settings) -> Stores:
    """The incoming, active and cache stores `settings` describe (for `transfer`, those of
    another configuration too)."""
    stores = build_stores(settings, content_type_of)
    if settings.storage_backend == "swift":
        _set_temp_url_keys(stores)
    return stores


def build_derived_cache(settings: Settings, stores: Stores) -> DerivedCache:
    memory = MemoryTier(settings.memory_cache_bytes) if settings.memory_cache_bytes else None
    disk = (DiskTier(settings.disk_cache_folder, settings.disk_cache_bytes)
            if settings.disk_cache_bytes else None)
    return DerivedCache(stores.cache, memory, disk)


def _set_temp_url_keys(stores: Stores) -> None:
    from imagehost.storage.swift import SwiftStore

    for store in stores.named().values():
        assert isinstance(store, SwiftStore)
        try:
            store.ensure_temp_url_key()
        except StoreUnavailable as exc:
            log.warning("cannot set the TempURL key yet: %s", exc.message)
