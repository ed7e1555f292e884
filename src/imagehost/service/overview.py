"""The overview on the page's jobs-and-health view: what each store holds, uploads per day over
the last days, and how often derived images were answered from cache."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from imagehost.catalog.models import ImageStatus
from imagehost.catalog.statistics import totals_by_status, uploads_per_day
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext

CHART_DAYS = 30
HIT_SOURCES = ("memory", "disk", "store", "coalesced")
"""Derived answers that needed no render (coalesced: waited for a render another request
ran); `rendered` is the miss. Stored variants are not derived and count as neither."""
_STORE_OF = {ImageStatus.INCOMING.value: "incoming", ImageStatus.ACTIVE.value: "active"}


def catalog_overview(ctx: ServiceContext, caller: Caller,
                     derived_answers: Mapping[str, float],
                     today: date | None = None) -> dict[str, Any]:
    """Counts and bytes per status (and the store that holds them), uploads per UTC day for
    the last CHART_DAYS days (oldest first, every day present), and the derived cache hit
    ratio of `derived_answers` (answers by source, from the metrics)."""
    caller.require("read")
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=CHART_DAYS - 1)
    engine = ctx.records.engine
    per_day = uploads_per_day(engine, datetime.combine(first, time(), UTC))
    return {
        "statuses": [{"status": t.status, "store": _STORE_OF.get(t.status),
                      "images": t.images, "bytes": t.bytes} for t in totals_by_status(engine)],
        "uploads_per_day": [{"day": day.isoformat(), "images": per_day.get(day, 0)}
                            for day in (first + timedelta(days=n) for n in range(CHART_DAYS))],
        "derived": cache_ratio(derived_answers),
    }


def cache_ratio(derived_answers: Mapping[str, float]) -> dict[str, Any]:
    hits = int(sum(derived_answers.get(source, 0) for source in HIT_SOURCES))
    misses = int(derived_answers.get("rendered", 0))
    return {"hits": hits, "misses": misses,
            "ratio": hits / (hits + misses) if hits + misses else None,
            "by_source": {name: int(count) for name, count in sorted(derived_answers.items())}}
