"""Job kinds by name (to resume a job, or to run its items on a Celery worker)."""

from __future__ import annotations

from imagehost.jobs.kinds import JobKind


def kind_named(name: str) -> JobKind:
    from imagehost.jobs.migrate import Migrate
    from imagehost.jobs.reindex import Reindex
    from imagehost.jobs.resize import Resize
    from imagehost.jobs.transfer import Transfer

    kinds: dict[str, type] = {"migrate": Migrate, "resize": Resize, "transfer": Transfer,
                              "reindex": Reindex}
    if name not in kinds:
        raise ValueError(f"unknown job kind {name!r}")
    return kinds[name]()
