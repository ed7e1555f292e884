"""The bulk jobs as the page shows them: recent runs with their state and progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imagehost.catalog.jobs import JobCounts
from imagehost.catalog.models import JobRecord
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext

RECENT_JOBS = 20


def recent_jobs(ctx: ServiceContext, caller: Caller,
                limit: int = RECENT_JOBS) -> list[dict[str, Any]]:
    """The latest runs, newest first, each with its item counts."""
    caller.require("read")
    return [job_view(job, ctx.jobs.counts(job.id)) for job in ctx.jobs.recent(limit)]


def job_view(job: JobRecord, counts: JobCounts) -> dict[str, Any]:
    """`progress` is the finished share of the items, or None while the listing is still
    being recorded (the total is not known yet)."""
    progress = None
    if job.listed:
        progress = counts.finished / counts.total if counts.total else 1.0
    return {
        "id": job.id, "kind": job.kind, "state": job.state, "listed": job.listed,
        "params": {k: v for k, v in (job.params or {}).items() if v not in (None, False, [])},
        "started": _iso(job.started_at), "finished": _iso(job.finished_at),
        "counts": {"pending": counts.pending, "done": counts.done, "skipped": counts.skipped,
                   "failed": counts.failed, "total": counts.total},
        "progress": progress,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
