"""Job kinds by name (to resume a job, or to run its items on a Celery worker)."""

from __future__ import annotations

from imagehost.jobs.kinds import JobKind


def kind_named(name: str) -> JobKind:
    from imagehost.jobs.migrate import MigrateJob
    from imagehost.jobs.reindex import ReindexJob
    from imagehost.jobs.resize import ResizeJob
    from imagehost.jobs.strip import StripJob
    from imagehost.jobs.transfer import TransferJob

    kinds: dict[str, type] = {"migrate": MigrateJob, "resize": ResizeJob,
                              "transfer": TransferJob, "reindex": ReindexJob,
                              "strip": StripJob}
    if name not in kinds:
        raise ValueError(f"unknown job kind {name!r}")
    return kinds[name]()
