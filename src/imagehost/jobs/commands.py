"""Running a job from the command line: locally or through Celery, with progress and an exit
status that says whether items failed."""

from __future__ import annotations

import logging
import os
from typing import Any

from imagehost.catalog.jobs import JobCounts
from imagehost.catalog.models import ItemState, JobRecord
from imagehost.jobs.kinds import JobKind
from imagehost.jobs.progress import JobProgress
from imagehost.jobs.runner import listed_keys, record_listing, run_local, start_job
from imagehost.service.context import ServiceContext

log = logging.getLogger("imagehost.jobs")


def default_concurrency() -> int:
    return os.cpu_count() or 2


def run_new(kind: JobKind, params: dict[str, Any], ctx: ServiceContext, *, concurrency: int,
            every: int, broker: str | None) -> tuple[JobRecord, JobCounts]:
    job = start_job(kind, params, ctx)
    log.info("%s: job %d started", kind.name, job.id)
    return job, run(job, kind, ctx, concurrency=concurrency, every=every, broker=broker)


def run(job: JobRecord, kind: JobKind, ctx: ServiceContext, *, concurrency: int, every: int,
        broker: str | None) -> JobCounts:
    with JobProgress(f"{kind.name} #{job.id}", every=every) as progress:
        if broker:
            from imagehost.jobs.distributed import run_distributed

            record_listing(job, kind, ctx, progress)
            return run_distributed(job, ctx, broker=broker, progress=progress)
        return run_local(job, kind, ctx, concurrency=concurrency, progress=progress)


def dry_run(kind: JobKind, params: dict[str, Any], ctx: ServiceContext) -> JobCounts:
    """Decide every item without writing anything (and without recording a job)."""
    kind.check(params, ctx)
    found = {state: 0 for state in ItemState}
    for key in listed_keys(kind, params, ctx):
        try:
            state = kind.process(key, params, ctx, dry_run=True)
        except Exception as exc:  # reported, like a failure in a real run
            state = ItemState.FAILED
            print(f"would fail     {key}: {type(exc).__name__}: {exc}")
        else:
            print(f"would {'skip   ' if state is ItemState.SKIPPED else 'process'}  {key}")
        found[state] += 1
    return JobCounts(pending=found[ItemState.DONE], skipped=found[ItemState.SKIPPED],
                     failed=found[ItemState.FAILED])


def summary(kind: str, counts: JobCounts) -> str:
    return (f"{kind}: items {counts.total}, done {counts.done}, skipped {counts.skipped}, "
            f"failed {counts.failed}, pending {counts.pending}")
