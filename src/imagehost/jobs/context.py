"""What every job needs, built from Settings without the web layer."""

from __future__ import annotations

from dataclasses import dataclass, replace

from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.images import ImageCatalog
from imagehost.catalog.jobs import JobCatalog
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings
from imagehost.imaging.render import configure_libvips
from imagehost.service.policy import ImagePolicy
from imagehost.storage.factory import Stores, build_stores


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    policy: ImagePolicy
    """The upload policy without auto-orientation: jobs keep stored originals as they are."""
    stores: Stores
    catalog: ImageCatalog
    records: RecordCatalog
    jobs: JobCatalog


def build_job_context(settings: Settings) -> JobContext:
    configure_libvips(settings.vips_concurrency)
    engine = create_catalog_engine(settings.database_url)
    migrate(engine)
    policy = replace(ImagePolicy.from_settings(settings), auto_orient=False)
    return JobContext(settings, policy, build_stores(settings), ImageCatalog(engine),
                      RecordCatalog(engine), JobCatalog(engine))
