"""The collaborators every use case takes, built once from Settings by imagehost.runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagehost.catalog.jobs import JobCatalog
from imagehost.catalog.models import ImageStatus
from imagehost.catalog.pending_writes import PendingWriteCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings
from imagehost.service.coalesce import SingleFlight
from imagehost.service.derived_cache import DerivedCache
from imagehost.service.plan_cache import PlanCache
from imagehost.service.policy import ImagePolicy
from imagehost.service.pool import WorkPool
from imagehost.service.rate_limits import RateLimits
from imagehost.service.record_cache import RecordCache
from imagehost.storage.base import Store
from imagehost.storage.factory import Stores

if TYPE_CHECKING:
    from imagehost.service.derived import DerivedPlan


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    policy: ImagePolicy
    stores: Stores
    records: RecordCatalog
    """Image rows: by key, by id, filtered, written."""
    pending_writes: PendingWriteCatalog
    """Intents of image writes not finished yet (their objects may have no row)."""
    jobs: JobCatalog
    cache: DerivedCache
    """Derived images in three tiers: memory, disk, cache store."""
    record_cache: RecordCache
    plans: PlanCache[DerivedPlan]
    """What derived requests resolved to, for the records in `record_cache`."""
    pool: WorkPool
    """Bounded threads for blocking work of requests (503 when full)."""
    single_flight: SingleFlight
    """Identical concurrent renders run once."""
    rate_limits: RateLimits
    """Uploads and renders per client (RATE_LIMIT_UPLOADS, RATE_LIMIT_RENDERS)."""

    def store_for(self, status: ImageStatus | str) -> Store:
        """Where an image of this status keeps its files."""
        return self.stores.incoming if status == ImageStatus.INCOMING else self.stores.active
