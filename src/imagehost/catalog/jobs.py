"""Job runs and their items: what a resumable bulk job has listed, done, skipped or failed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker

from imagehost.catalog.models import ItemState, JobItem, JobRecord, JobState


@dataclass(frozen=True)
class JobCounts:
    pending: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.done + self.skipped + self.failed

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


class JobCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def create(self, kind: str, params: dict[str, Any]) -> JobRecord:
        with self._sessions.begin() as session:
            job = JobRecord(kind=kind, params=params, state=JobState.RUNNING.value,
                            listed=False, started_at=datetime.now(UTC))
            session.add(job)
            session.flush()
            return job

    def delete(self, job_id: int) -> None:
        """Forget a run and its items."""
        with self._sessions.begin() as session:
            session.execute(delete(JobItem).where(JobItem.job_id == job_id))
            session.execute(delete(JobRecord).where(JobRecord.id == job_id))

    def get(self, job_id: int) -> JobRecord | None:
        with self._sessions() as session:
            return session.get(JobRecord, job_id)

    def recent(self, limit: int = 20) -> list[JobRecord]:
        with self._sessions() as session:
            return list(session.scalars(select(JobRecord).order_by(JobRecord.id.desc())
                                        .limit(limit)))

    def set_state(self, job_id: int, state: JobState, *, listed: bool | None = None) -> None:
        values: dict[str, Any] = {"state": state.value}
        if listed is not None:
            values["listed"] = listed
        if state in (JobState.DONE, JobState.FAILED):
            values["finished_at"] = datetime.now(UTC)
        elif state is JobState.RUNNING:
            values["finished_at"] = None
        with self._sessions.begin() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job_id).values(**values))

    def add_items(self, job_id: int, keys: Iterable[str]) -> None:
        """Record listed keys as pending; keys already recorded keep their state."""
        now = datetime.now(UTC)
        rows = [{"job_id": job_id, "key": key, "state": ItemState.PENDING.value,
                 "attempts": 0, "updated_at": now} for key in keys]
        if not rows:
            return
        if self.engine.dialect.name == "postgresql":
            statement: Any = pg_insert(JobItem).on_conflict_do_nothing(
                constraint="uq_job_items_job_key")
        elif self.engine.dialect.name == "sqlite":
            statement = sqlite_insert(JobItem).on_conflict_do_nothing()
        else:
            statement = insert(JobItem)
        with self.engine.begin() as connection:
            connection.execute(statement, rows)

    def pending(self, job_id: int, after: int = 0, limit: int = 500) -> list[tuple[int, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(JobItem.id, JobItem.key)
                .where(JobItem.job_id == job_id, JobItem.state == ItemState.PENDING.value,
                       JobItem.id > after).order_by(JobItem.id).limit(limit))
            return [(row[0], row[1]) for row in rows]

    def items(self, item_ids: Sequence[int]) -> list[tuple[int, str, str]]:
        with self._sessions() as session:
            rows = session.execute(select(JobItem.id, JobItem.key, JobItem.state)
                                   .where(JobItem.id.in_(item_ids)).order_by(JobItem.id))
            return [(row[0], row[1], row[2]) for row in rows]

    def finish_item(self, item_id: int, state: ItemState, error: str | None = None) -> None:
        with self._sessions.begin() as session:
            session.execute(update(JobItem).where(JobItem.id == item_id).values(
                state=state.value, error=error, attempts=JobItem.attempts + 1,
                updated_at=datetime.now(UTC)))

    def retry_failed(self, job_id: int) -> int:
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobItem).where(JobItem.job_id == job_id,
                                      JobItem.state == ItemState.FAILED.value)
                .values(state=ItemState.PENDING.value, error=None))
            return result.rowcount or 0

    def counts(self, job_id: int) -> JobCounts:
        with self._sessions() as session:
            rows = session.execute(select(JobItem.state, func.count())
                                   .where(JobItem.job_id == job_id).group_by(JobItem.state))
            found = {state: count for state, count in rows}
        return JobCounts(**{s.value: found.get(s.value, 0) for s in ItemState})

    def failures(self, job_id: int, limit: int = 50) -> list[tuple[str, str]]:
        with self._sessions() as session:
            rows = session.execute(
                select(JobItem.key, JobItem.error)
                .where(JobItem.job_id == job_id, JobItem.state == ItemState.FAILED.value)
                .order_by(JobItem.id).limit(limit))
            return [(row[0], row[1] or "") for row in rows]

    def last_update(self, job_id: int) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(select(func.max(JobItem.updated_at))
                                  .where(JobItem.job_id == job_id))
