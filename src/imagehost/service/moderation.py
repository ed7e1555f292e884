"""The page's c2corg view: an admin publishes or throws away uploads, through the use cases of
c2corg's /publish and /delete and the one delete path."""

from __future__ import annotations

from datetime import UTC, datetime

from imagehost.catalog.models import ImageStatus
from imagehost.errors import NotFound
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_image, delete_keys
from imagehost.service.naming import check_original_key
from imagehost.service.publishing import publish_image


def publish_upload(ctx: ServiceContext, caller: Caller, key: str) -> None:
    """c2corg's /publish of `key`, for a caller with the admin scope."""
    caller.require("admin")
    publish_image(ctx, key)


def discard_upload(ctx: ServiceContext, caller: Caller, key: str,
                   now: datetime | None = None) -> None:
    """Remove `key` everywhere: an unpublished upload through the one delete path (c2corg's
    /delete leaves those to expiry), a published one as c2corg's /delete does."""
    caller.require("admin")
    check_original_key(key)
    now = now or datetime.now(UTC)
    record = ctx.records.by_file(key)
    if record is not None and record.status == ImageStatus.INCOMING.value:
        delete_image(ctx, record, now)
    elif record is not None and record.status == ImageStatus.ACTIVE.value:
        delete_keys(ctx, [key], now)
    else:
        raise NotFound(f"Unknown image {key!r}.")
