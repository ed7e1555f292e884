"""Intents of image writes: recorded before the objects are written, removed once the row is
saved, so the objects of a write that a killed process never finished can be found."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import sessionmaker

from imagehost.catalog.models import PendingWrite


class PendingWriteCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def begin(self, key: str, store: str, objects: Sequence[str], now: datetime) -> int:
        """Record that `objects` of the image `key` are about to be written to `store`."""
        with self.engine.begin() as connection:
            return connection.execute(
                insert(PendingWrite).values(key=key, store=store, objects=list(objects),
                                            started_at=now)
                .returning(PendingWrite.id)).scalar_one()

    def finish(self, write_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(PendingWrite).where(PendingWrite.id == write_id))

    def started_before(self, cutoff: datetime, limit: int = 1000) -> list[PendingWrite]:
        with self._sessions() as session:
            return list(session.scalars(select(PendingWrite)
                                        .where(PendingWrite.started_at < cutoff)
                                        .order_by(PendingWrite.id).limit(limit)))
