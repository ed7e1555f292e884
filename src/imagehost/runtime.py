"""The composition root: every store, catalog, cache, pool and signer is built here from
Settings, once per process. `serve` (in each worker), the CLI commands, the job runner and the
Celery worker all take their collaborators from `open_context`."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from imagehost import tracing
from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.derived_objects import DerivedObjectCatalog
from imagehost.catalog.jobs import JobCatalog
from imagehost.catalog.pending_writes import PendingWriteCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings, env_name
from imagehost.errors import CatalogUnavailable, ConfigError, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.imaging.render import configure_libvips
from imagehost.service.coalesce import SingleFlight
from imagehost.service.context import ServiceContext
from imagehost.service.derived_cache import DerivedCache, DiskTier, MemoryTier
from imagehost.service.expiry import sweep_interrupted_writes
from imagehost.service.plan_cache import PlanCache
from imagehost.service.policy import ImagePolicy
from imagehost.service.pool import WorkPool
from imagehost.service.rate_limits import RateLimits
from imagehost.service.record_cache import RecordCache
from imagehost.storage.base import Store
from imagehost.storage.factory import Stores, build_stores

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)


def build_context(settings: Settings) -> ServiceContext:
    """Everything the use cases need, connected; the catalog schema brought up to date."""
    configure_libvips(settings.vips_concurrency)
    check_folders(settings)
    tracer = tracing.configure(settings)
    engine = connect_catalog(settings)
    stores = build_stores_for(settings)
    records, pending_writes, jobs = (RecordCatalog(engine), PendingWriteCatalog(engine),
                                     JobCatalog(engine))
    pool_kind = WorkPool
    if tracer is not None:
        stores = traced_stores(stores, tracer)
        records = tracing.traced(records, "catalog.records", tracer)
        pending_writes = tracing.traced(pending_writes, "catalog.pending_writes", tracer)
        jobs = tracing.traced(jobs, "catalog.jobs", tracer)
        pool_kind = tracing.ContextPool
    ctx = ServiceContext(
        settings=settings, policy=ImagePolicy.from_settings(settings), stores=stores,
        records=records, pending_writes=pending_writes,
        jobs=jobs, cache=build_derived_cache(settings, stores, engine),
        record_cache=RecordCache(settings.record_cache_seconds), plans=PlanCache(),
        pool=pool_kind(settings.render_threads, settings.render_queue),
        single_flight=SingleFlight(), rate_limits=RateLimits.from_settings(settings))
    sweep_at_start(ctx)
    return ctx


def connect_catalog(settings: Settings) -> Engine:
    """The catalog's engine, its schema up to date; ConfigError (one line naming
    DATABASE_URL, the password masked) when the URL is malformed or the database cannot be
    reached or refuses the login."""
    url = settings.database_url
    examples = "sqlite:///var/imagehost.db, postgresql://user:password@host/db"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DATABASE_URL={url!r}: not a database URL; examples: "
                          f"{examples}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL={shown}: the catalog runs on SQLite or PostgreSQL; "
                          f"examples: {examples}")
    try:
        engine = create_catalog_engine(url)
        migrate(engine)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"DATABASE_URL={shown}: {exc}; use a sqlite:/// or postgresql:// "
                          "URL") from None
    except (DBAPIError, CatalogUnavailable) as exc:
        if isinstance(exc, CatalogUnavailable):
            reason = exc.reason
        else:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise ConfigError(f"DATABASE_URL={shown}: cannot use the catalog database "
                          f"({reason}); start the database, or correct DATABASE_URL") from None
    return engine


def check_folders(settings: Settings) -> None:
    """Every local folder imagehost writes to exists (made if needed) and is writable;
    ConfigError naming the setting otherwise."""
    folders = {"temp_folder": settings.temp_folder}
    if settings.storage_backend == "local":
        folders |= {"incoming_folder": settings.incoming_folder,
                    "active_folder": settings.active_folder,
                    "cache_folder": settings.cache_folder}
    if settings.disk_cache_bytes:
        folders["disk_cache_folder"] = settings.disk_cache_folder
    for name, folder in folders.items():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK | os.X_OK)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
        else:
            if writable:
                continue
            reason = "not writable"
        raise ConfigError(f"{env_name(name)}={str(folder)!r}: cannot create or write this "
                          f"folder ({reason}); make it writable by this user, or point "
                          f"{env_name(name)} elsewhere")


def close_context(ctx: ServiceContext) -> None:
    ctx.pool.shutdown()
    ctx.cache.close()
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


def traced_stores(stores: Stores, tracer: Tracer) -> Stores:
    """Each store with a span `store.<method>` around every call of the Store protocol."""
    methods = [name for name in vars(Store) if not name.startswith("_")]
    proxies: dict[int, Store] = {}  # a store that plays two roles stays one object
    for name, store in stores.named().items():
        if id(store) not in proxies:
            proxies[id(store)] = tracing.traced(store, "store", tracer, methods=methods,
                                                attributes={"imagehost.store": name},
                                                key_argument=True)
    return dataclasses.replace(stores, **{name: proxies[id(store)]
                                          for name, store in stores.named().items()})


def build_derived_cache(settings: Settings, stores: Stores, engine: Engine) -> DerivedCache:
    memory = MemoryTier(settings.memory_cache_bytes) if settings.memory_cache_bytes else None
    disk = (DiskTier(settings.disk_cache_folder, settings.disk_cache_bytes)
            if settings.disk_cache_bytes else None)
    return DerivedCache(stores.cache, memory, disk, objects=DerivedObjectCatalog(engine),
                        max_bytes=settings.cache_store_max_bytes,
                        max_age=settings.cache_store_max_age)


def sweep_at_start(ctx: ServiceContext) -> None:
    """What writes killed with a previous process left: local temporary files and the
    objects of unfinished image writes (cheap; multipart uploads wait for expire)."""
    sweep_interrupted_writes(ctx, local_only=True)


def _set_temp_url_keys(stores: Stores) -> None:
    from imagehost.storage.swift import SwiftStore

    for store in stores.named().values():
        assert isinstance(store, SwiftStore)
        try:
            store.ensure_temp_url_key()
        except StoreUnavailable as exc:
            log.warning("cannot set the TempURL key yet: %s", exc.message)
