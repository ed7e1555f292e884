"""The derived objects of the cache store, with their sizes, last use and total, so that every
instance sharing the store keeps one size bound (least recently used first).

Every change takes the one row of `derived_usage` first (a row lock on PostgreSQL, the write
lock on SQLite), so the total stays the sum of the sizes whatever instances run at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update

from imagehost.catalog.models import DerivedObject, DerivedUsage

_USAGE = DerivedUsage.id == 1
_BATCH = 200


@dataclass(frozen=True)
class DerivedEntry:
    key: str
    bytes: int
    last_used: datetime


class DerivedObjectCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def use(self, key: str, record_id: int, size: int, now: datetime) -> int:
        """Record that `key` (`size` bytes) was stored or read now; returns the total."""
        return self.use_many([(key, record_id, size)], now)

    def use_many(self, objects: Sequence[tuple[str, int, int]], now: datetime) -> int:
        """`use` for several (key, record id, size) in one transaction; returns the total."""
        latest = {key: (record_id, size) for key, record_id, size in objects}
        with self.engine.begin() as connection:
            _lock(connection)
            rows = connection.execute(select(DerivedObject.key, DerivedObject.bytes)
                                      .where(DerivedObject.key.in_(list(latest))))
            old = {key: size for key, size in rows}
            added = [{"key": key, "record_id": record_id, "bytes": size, "last_used": now}
                     for key, (record_id, size) in latest.items() if key not in old]
            if added:
                connection.execute(insert(DerivedObject), added)
            for key in old:
                connection.execute(update(DerivedObject).where(DerivedObject.key == key)
                                   .values(bytes=latest[key][1], last_used=now))
            return _add(connection, sum(size for _, size in latest.values()) - sum(old.values()))

    def total(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(DerivedUsage.bytes).where(_USAGE)).scalar() or 0

    def least_recent(self, at_least: int) -> list[DerivedEntry]:
        """The least recently used objects, oldest first, adding up to `at_least` bytes (or
        all of them)."""
        found: list[DerivedEntry] = []
        covered = 0
        statement = (select(DerivedObject.key, DerivedObject.bytes, DerivedObject.last_used)
                     .order_by(DerivedObject.last_used, DerivedObject.key).limit(_BATCH))
        with self.engine.connect() as connection:
            while covered < at_least:
                after = found[-1] if found else None
                page = statement if after is None else statement.where(or_(
                    DerivedObject.last_used > after.last_used,
                    and_(DerivedObject.last_used == after.last_used,
                         DerivedObject.key > after.key)))
                rows = [DerivedEntry(*row) for row in connection.execute(page)]
                for entry in rows:
                    if covered >= at_least:
                        break
                    found.append(entry)
                    covered += entry.bytes
                if len(rows) < _BATCH:
                    break
        return found

    def unused_since(self, cutoff: datetime, limit: int = 1000) -> list[DerivedEntry]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(DerivedObject.key, DerivedObject.bytes,
                                             DerivedObject.last_used)
                                      .where(DerivedObject.last_used < cutoff)
                                      .order_by(DerivedObject.last_used).limit(limit))
            return [DerivedEntry(*row) for row in rows]

    def forget(self, entries: Iterable[DerivedEntry]) -> int:
        """Remove the rows of evicted objects, each only if it was not used again since it
        was chosen (an object stored again by another instance keeps its row); returns the
        bytes removed."""
        with self.engine.begin() as connection:
            _lock(connection)
            removed = 0
            for entry in entries:
                removed += sum(connection.execute(
                    delete(DerivedObject).where(and_(DerivedObject.key == entry.key,
                                                     DerivedObject.last_used == entry.last_used))
                    .returning(DerivedObject.bytes)).scalars())
            _add(connection, -removed)
            return removed

    def forget_keys(self, keys: Iterable[str]) -> int:
        with self.engine.begin() as connection:
            _lock(connection)
            removed = sum(connection.execute(
                delete(DerivedObject).where(DerivedObject.key.in_(list(keys)))
                .returning(DerivedObject.bytes)).scalars())
            _add(connection, -removed)
            return removed

    def forget_record(self, record_id: int) -> int:
        """Remove the rows of every derived object of the record; returns the bytes."""
        with self.engine.begin() as connection:
            _lock(connection)
            removed = sum(connection.execute(
                delete(DerivedObject).where(DerivedObject.record_id == record_id)
                .returning(DerivedObject.bytes)).scalars())
            _add(connection, -removed)
            return removed


def _lock(connection: Connection) -> None:
    connection.execute(update(DerivedUsage).where(_USAGE).values(bytes=DerivedUsage.bytes))


def _add(connection: Connection, delta: int) -> int:
    return connection.execute(update(DerivedUsage).where(_USAGE)
                              .values(bytes=DerivedUsage.bytes + delta)
                              .returning(DerivedUsage.bytes)).scalar_one()
