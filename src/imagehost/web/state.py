"""What the routers share, built once per app and passed along explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from imagehost.catalog.images import ImageCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings
from imagehost.service.derived import DerivedContext
from imagehost.service.policy import ImagePolicy
from imagehost.storage.factory import Stores
from imagehost.web.coalesce import SingleFlight
from imagehost.web.metrics import Metrics
from imagehost.web.pool import WorkPool
from imagehost.web.record_cache import RecordCache


@dataclass(frozen=True)
class Services:
    settings: Settings
    policy: ImagePolicy
    stores: Stores
    catalog: ImageCatalog
    records: RecordCatalog
    pool: WorkPool
    metrics: Metrics
    derived: DerivedContext
    single_flight: SingleFlight
    record_cache: RecordCache


async def services(request: Request) -> Services:
    """Async, so that FastAPI calls it on the loop instead of handing it to a thread."""
    return request.app.state.services
