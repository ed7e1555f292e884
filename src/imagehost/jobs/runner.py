"""Run a job locally: stream the listing into the catalog, then process pending items in a
bounded pool. Each item's outcome is recorded as it finishes, so a killed run resumes where it
stopped without redoing done items."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from imagehost.catalog.jobs import JobCounts
from imagehost.catalog.models import ItemState, JobRecord, JobState
from imagehost.jobs.kinds import JobKind
from imagehost.jobs.progress import JobProgress
from imagehost.service.context import ServiceContext

log = logging.getLogger("imagehost.jobs")
BATCH = 500


def start_job(kind: JobKind, params: dict[str, Any], ctx: ServiceContext) -> JobRecord:
    kind.check(params, ctx)
    return ctx.jobs.create(kind.name, params)


def record_listing(job: JobRecord, kind: JobKind, ctx: ServiceContext,
                   progress: JobProgress | None = None) -> None:
    """Store every listed key as a pending item (idempotent: a resumed listing adds only
    what is missing)."""
    if job.listed:
        return
    keys = listed_keys(kind, job.params, ctx)
    listed = 0
    while batch := list(itertools.islice(keys, BATCH)):
        ctx.jobs.add_items(job.id, batch)
        listed += len(batch)
        if progress is not None:
            progress.set_total(listed, 0)
    ctx.jobs.set_state(job.id, JobState.RUNNING, listed=True)


def listed_keys(kind: JobKind, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
    """The kind's listing, cut at `limit` (-l) when given."""
    keys = kind.list_keys(params, ctx)
    limit = params.get("limit")
    return itertools.islice(keys, limit) if limit else keys


def run_local(job: JobRecord, kind: JobKind, ctx: ServiceContext, *, concurrency: int,
              progress: JobProgress) -> JobCounts:
    """List (if not done yet), then process every pending item with `concurrency` threads."""
    ctx.jobs.set_state(job.id, JobState.RUNNING)
    try:
        record_listing(job, kind, ctx, progress)
        counts = ctx.jobs.counts(job.id)
        progress.set_total(counts.total, counts.finished)
        _process_pending(job, kind, ctx, concurrency, progress)
    except BaseException:
        interrupted(job.id, ctx)
        raise
    return finish(job.id, ctx)


def interrupted(job_id: int, ctx: ServiceContext) -> None:
    """A run stopped: resumable if it listed something, else no trace of it is kept."""
    if ctx.jobs.counts(job_id).total:
        ctx.jobs.set_state(job_id, JobState.INTERRUPTED)
    else:
        ctx.jobs.delete(job_id)


def finish(job_id: int, ctx: ServiceContext) -> JobCounts:
    counts = ctx.jobs.counts(job_id)
    if counts.pending == 0:
        ctx.jobs.set_state(job_id, JobState.FAILED if counts.failed else JobState.DONE)
    return counts


def process_item(item_id: int, key: str, kind: JobKind, params: dict[str, Any],
                 ctx: ServiceContext) -> ItemState:
    """One item, recorded: its state, or failed with the error (never raises)."""
    try:
        state = kind.process(key, params, ctx)
    except Exception as exc:  # every failure is recorded with the item, and the job goes on
        log.debug("item %s failed", key, exc_info=True)
        ctx.jobs.finish_item(item_id, ItemState.FAILED, f"{type(exc).__name__}: {exc}")
        return ItemState.FAILED
    ctx.jobs.finish_item(item_id, state)
    return state


def _process_pending(job: JobRecord, kind: JobKind, ctx: ServiceContext, concurrency: int,
                     progress: JobProgress) -> None:
    after = 0
    with ThreadPoolExecutor(concurrency, thread_name_prefix=f"job-{job.id}") as pool:
        running: set[Future[ItemState]] = set()
        try:
            while True:
                batch = ctx.jobs.pending(job.id, after, BATCH)
                if not batch and not running:
                    return
                for item_id, key in batch:
                    while len(running) >= concurrency * 2:
                        running = _collect(running, progress)
                    running.add(pool.submit(process_item, item_id, key, kind, job.params, ctx))
                    after = item_id
                if not batch:
                    running = _collect(running, progress)
        except BaseException:
            for future in running:
                future.cancel()
            raise
        while running:
            running = _collect(running, progress)


def _collect(running: set[Future[ItemState]], progress: JobProgress) -> set[Future[ItemState]]:
    done, pending = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        progress.advance(failed=future.result() is ItemState.FAILED)
    return pending
