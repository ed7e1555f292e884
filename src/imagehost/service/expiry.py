"""Expire: remove incoming images that were never published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_image


@dataclass(frozen=True)
class ExpiryReport:
    objects: list[str]
    records: int


def expire_incoming(ctx: ServiceContext, *, older_than: float, now: datetime | None = None,
                    dry_run: bool = False) -> ExpiryReport:
    """Delete incoming images older than `older_than` seconds through the delete path, and
    old incoming objects that no stale row owns.

    Rows are found in the catalog and objects by listing the store, so orphans of either kind
    (a file without a row, a row whose files are gone) are cleaned up too."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=older_than)
    incoming = ctx.stores.incoming
    stale = ctx.records.incoming_before(cutoff)
    listed = {o.key for o in incoming.list() if o.last_modified < cutoff}
    owned = {k for record in stale for k in [record.key, *ctx.policy.variant_keys(record.key)]}
    objects = sorted(listed | {k for k in owned if k not in listed and incoming.exists(k)})
    if dry_run:
        return ExpiryReport(objects, len(stale))
    removed = sum(delete_image(ctx, record, now, expired=True) for record in stale)
    for key in sorted(listed - owned):
        incoming.delete(key)
    return ExpiryReport(objects, removed)
