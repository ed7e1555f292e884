"""Expire: remove incoming images that were never published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from imagehost.catalog.images import ImageCatalog
from imagehost.service.policy import ImagePolicy
from imagehost.storage.base import Store


@dataclass(frozen=True)
class ExpiryReport:
    objects: list[str]
    records: int


def expire_incoming(*, older_than: float, policy: ImagePolicy, incoming: Store,
                    catalog: ImageCatalog, now: datetime | None = None,
                    dry_run: bool = False) -> ExpiryReport:
    """Delete incoming objects older than `older_than` seconds, and their incoming records.

    Records are found in the catalog and objects by listing the store, so orphans of either
    kind (a file without a record, a record whose files are gone) are cleaned up too."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=older_than)
    stale_records = catalog.incoming_before(cutoff)
    keys = {o.key for o in incoming.list() if o.last_modified < cutoff}
    for key in stale_records:
        keys.update(k for k in [key, *policy.variant_keys(key)] if incoming.exists(k))
    objects = sorted(keys)
    if dry_run:
        return ExpiryReport(objects, len(stale_records))
    for key in objects:
        incoming.delete(key)
    removed = catalog.remove_incoming(set(stale_records) | keys)
    return ExpiryReport(objects, removed)
