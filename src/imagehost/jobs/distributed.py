"""Jobs on Celery: the coordinator queues batches of pending item ids; workers on any number of
machines process them against the shared catalog and stores.

Tasks are acknowledged late and rejected when a worker dies, so the broker hands a killed
worker's batch to another; items already finished are skipped by their recorded state, and
every item is idempotent, so nothing is lost or done twice in effect."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery

from imagehost.catalog.jobs import JobCounts
from imagehost.catalog.models import ItemState, JobRecord, JobState
from imagehost.jobs.progress import JobProgress
from imagehost.jobs.runner import finish, interrupted
from imagehost.service.context import ServiceContext

log = logging.getLogger("imagehost.jobs")
TASK = "imagehost.process_batch"
BATCH = 10
VISIBILITY_TIMEOUT = 300
STALL_SECONDS = 10.0


def celery_app(broker: str) -> Celery:
    app = Celery("imagehost", broker=broker)
    # A dead worker's unacknowledged batch returns to the queue after the visibility timeout.
    app.conf.update(broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
                    task_acks_late=True, task_reject_on_worker_lost=True,
                    worker_prefetch_multiplier=1, task_serializer="json",
                    accept_content=["json"], broker_connection_retry_on_startup=True,
                    task_default_queue="imagehost-jobs", worker_hijack_root_logger=False)
    app.task(name=TASK, bind=False)(_process_batch)
    return app


def run_distributed(job: JobRecord, ctx: ServiceContext, *, broker: str,
                    progress: JobProgress, poll: float = 0.5,
                    stall_seconds: float = STALL_SECONDS) -> JobCounts:
    ctx.jobs.set_state(job.id, JobState.RUNNING)
    app = celery_app(broker)
    try:
        queued = _queue_pending(app, job.id, ctx)
        log.info("job %d: %d items queued on %s", job.id, queued, broker)
        counts = ctx.jobs.counts(job.id)
        last_change, last_finished = time.monotonic(), counts.finished
        while counts.pending:
            time.sleep(poll)
            counts = ctx.jobs.counts(job.id)
            progress.set_total(counts.total, counts.finished, counts.failed)
            if counts.finished != last_finished:
                last_change, last_finished = time.monotonic(), counts.finished
            elif time.monotonic() - last_change > stall_seconds:
                # a worker died holding batches: queue what is left again (items that are no
                # longer pending when a duplicate arrives are skipped by the worker)
                log.warning("job %d: no progress for %.0f s, queueing %d pending items again",
                            job.id, stall_seconds, _queue_pending(app, job.id, ctx))
                last_change = time.monotonic()
    except BaseException:
        interrupted(job.id, ctx)
        raise
    finally:
        app.close()
    return finish(job.id, ctx)


def _queue_pending(app: Celery, job_id: int, ctx: ServiceContext) -> int:
    queued = 0
    after = 0
    while batch := ctx.jobs.pending(job_id, after, 500):
        for start in range(0, len(batch), BATCH):
            app.send_task(TASK, args=[job_id, [i for i, _ in batch[start:start + BATCH]]])
            queued += min(BATCH, len(batch) - start)
        after = batch[-1][0]
    return queued


_worker_context: dict[str, ServiceContext] = {}
_worker_lock = threading.Lock()


def _context() -> ServiceContext:
    """One context per worker process, built from its environment (IMAGEHOST_CONFIG etc.)."""
    from imagehost.config import load_settings
    from imagehost.runtime import build_context

    with _worker_lock:
        if "ctx" not in _worker_context:
            _worker_context["ctx"] = build_context(load_settings(os.environ))
        return _worker_context["ctx"]


def _process_batch(job_id: int, item_ids: list[int]) -> dict[str, Any]:
    from imagehost.jobs.registry import kind_named
    from imagehost.jobs.runner import process_item

    ctx = _context()
    job = ctx.jobs.get(job_id)
    if job is None:
        return {"job": job_id, "missing": True}
    kind = kind_named(job.kind)
    done = 0
    for item_id, key, state in ctx.jobs.items(item_ids):
        if state == ItemState.PENDING.value:
            process_item(item_id, key, kind, job.params, ctx)
            done += 1
    return {"job": job_id, "processed": done}


def run_worker(broker: str, concurrency: int) -> None:
    app = celery_app(broker)
    app.worker_main(["worker", "--loglevel=INFO", f"--concurrency={concurrency}",
                     "--pool=threads", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "-Q", "imagehost-jobs"])
