"""Delete published images: originals and variants go, the record keeps a tombstone."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from imagehost.catalog.images import ImageCatalog
from imagehost.catalog.models import ImageStatus
from imagehost.errors import ImagehostError
from imagehost.service.naming import check_original_key
from imagehost.service.policy import ImagePolicy
from imagehost.storage.base import Store

log = logging.getLogger(__name__)


def delete_images(keys: Iterable[str], *, policy: ImagePolicy, active: Store,
                  catalog: ImageCatalog, now: datetime | None = None) -> list[str]:
    """Delete each key and its variants from active; per-key failures are logged, not raised.
    Returns the keys that were processed."""
    now = now or datetime.now(UTC)
    done: list[str] = []
    for key in keys:
        try:
            check_original_key(key)
            for k in [*policy.variant_keys(key), key]:
                active.delete(k)
            catalog.set_status(key, ImageStatus.DELETED, now)
            done.append(key)
        except ImagehostError as exc:
            log.warning("delete %r skipped: %s", key, exc.message)
        except Exception:
            log.exception("delete %r failed", key)
    return done
