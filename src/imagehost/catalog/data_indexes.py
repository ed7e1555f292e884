"""Indexes on data keys (INDEXED_KEYS): equality, `in` and comparisons on an indexed key are
served by an index instead of reading every record's JSON.

On SQLite one expression index per key holds exactly the expressions the filter compiler
writes for it (`JsonField.key_expressions`: json_extract and json_type at the path) with
status and created_at, so that the count and the page never read the table. On PostgreSQL a
trigger keeps two columns equal to the key's number and string (key_columns.py), and one
index on each with status serves comparisons and counts them from the index alone (equality
and `in` are already served by the GIN index on data). Names are derived from the key
(key_names.py), so creating is idempotent and a key's indexes can be found again:
`ix_images_data_<hash>` (SQLite), `ix_images_data_<hash>_num` and `_str` (PostgreSQL, whose
comment holds the key).

Creating is safe while the service runs: PostgreSQL adds the columns and the trigger in one
short transaction, fills the rows written before in batches, builds CONCURRENTLY (writes go
on), one command at a time (an advisory lock), and rebuilds an index that an interrupted
build left invalid or that is of the earlier kind (an expression on `data`); SQLite builds
inside its write lock (writers wait, up to their busy timeout). Migrations keep them: a
SQLite migration that rebuilds `images` loses them with the old table, and `restore` creates
them again at the end of the run (migrations/env.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, column, text

from imagehost.catalog import key_columns
from imagehost.catalog.key_names import INDEX_PREFIX, KeyColumns, digest, key_path
from imagehost.catalog.records import JsonField, inlined_sql, sql_string

_NAME = re.compile(rf"^{INDEX_PREFIX}[0-9a-f]{{12}}(?:_num|_str)?$")
_PATH = re.compile(r'\$((?:\."[^"]*")+)')
_INDEX_LOCK = 7243012
"""PostgreSQL advisory lock held by index commands (migrations hold 7243011)."""


@dataclass(frozen=True)
class DataIndex:
    name: str
    key: str | None
    """The dotted data key it serves, read back from its definition (or PostgreSQL's
    comment on it)."""
    valid: bool = True
    """False for what an interrupted PostgreSQL build left, and for an index of the earlier
    kind (an expression on data) there: queries do not count on either."""


@dataclass(frozen=True)
class Built:
    name: str
    key: str
    seconds: float | None
    """None when the index was already there."""


Progress = Callable[[str, int, int], None]
"""(keys, ids done, ids in all) while PostgreSQL fills the columns of keys."""


def index_definitions(key: str, dialect: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) for the indexes of one dotted key."""
    if dialect == "postgresql":
        names = KeyColumns.of(key)
        return [(index, f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} "
                        f"ON images ({held}, status)")
                for index, held in ((names.number_index, names.number),
                                    (names.string_index, names.string))]
    expressions = [inlined_sql(e, dialect) for e in JsonField(
        key_path(key), dialect, column=column("data")).key_expressions()]
    held = ", ".join([*expressions, "status", "created_at"])
    name = f"{INDEX_PREFIX}{digest(key)}"
    return [(name, f"CREATE INDEX IF NOT EXISTS {name} ON images ({held})")]


class DataIndexes:
    """The indexes on data keys of one catalog database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def definitions(self, key: str) -> list[tuple[str, str]]:
        return index_definitions(key, self.dialect)

    def listing(self) -> list[DataIndex]:
        """The data-key indexes present, by name."""
        with self.engine.connect() as connection:
            return listing(connection)

    def create(self, keys: Sequence[str], report: Callable[[Built], None],
               progress: Progress | None = None) -> list[Built]:
        """Create the missing indexes of `keys` (rebuilding invalid ones), then refresh the
        planner's statistics of the table; `report` hears of each index as it is done."""
        built = []
        with self._command() as connection:
            present = {index.name: index for index in self.listing()}
            self._columns(connection, [key for key in keys if not all(
                name in present and present[name].valid
                for name, _ in index_definitions(key, self.dialect))], progress)
            for key in keys:
                for name, statement in index_definitions(key, self.dialect):
                    index = present.get(name)
                    if index is not None and index.valid:
                        done = Built(name, key, None)
                    else:
                        if index is not None:
                            connection.exec_driver_sql(
                                f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                        started = time.perf_counter()
                        connection.exec_driver_sql(statement)
                        done = Built(name, key, time.perf_counter() - started)
                    if self.dialect == "postgresql":  # the key, read back by listing()
                        connection.exec_driver_sql(
                            f"COMMENT ON INDEX {name} IS {sql_string(key)}")
                    built.append(done)
                    report(done)
            # the planner must know how selective each index is: SQLite without statistics
            # prefers the status index for a range on a data key; PostgreSQL counts from an
            # index alone only on the pages VACUUM marked all-visible (a fill, or a run it
            # interrupted, left many that are not)
            connection.exec_driver_sql("VACUUM ANALYZE images" if self.dialect == "postgresql"
                                       else "ANALYZE images")
        return built

    def _columns(self, connection: Connection, keys: Sequence[str],
                 progress: Progress | None) -> None:
        """PostgreSQL: add the columns and trigger of each key that lacks them, and fill the
        rows written before, all keys in one pass."""
        if self.dialect != "postgresql" or not keys:
            return
        for key in keys:
            if not key_columns.present(connection, key):
                key_columns.add(self.engine, key)
        label = ", ".join(keys)

        def filling(done: int, total: int) -> None:
            if progress is not None:
                progress(label, done, total)

        key_columns.fill(self.engine, keys, filling)

    def drop(self, key: str) -> list[str]:
        """Drop the indexes of one key (on PostgreSQL, its columns and trigger too);
        returns the names of the indexes that were there."""
        names = [name for name, _ in index_definitions(key, self.dialect)]
        present = {index.name for index in self.listing()}
        concurrently = " CONCURRENTLY" if self.dialect == "postgresql" else ""
        with self._command() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP INDEX{concurrently} IF EXISTS {name}")
            if self.dialect == "postgresql":
                key_columns.remove(self.engine, key)
        return [name for name in names if name in present]

    @contextmanager
    def _command(self) -> Iterator[Connection]:
        """A connection outside any transaction (CREATE INDEX CONCURRENTLY needs it), held
        by one index command at a time on PostgreSQL."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if self.dialect != "postgresql":
                yield connection
                return
            connection.execute(text("SELECT pg_advisory_lock(:lock)"), {"lock": _INDEX_LOCK})
            try:
                yield connection
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:lock)"),
                                   {"lock": _INDEX_LOCK})


def listing(connection: Connection) -> list[DataIndex]:
    """The data-key indexes present, by name."""
    if connection.dialect.name == "postgresql":
        rows = connection.execute(text(
            "SELECT c.relname, coalesce(obj_description(i.indexrelid, 'pg_class'), "
            "pg_get_indexdef(i.indexrelid)), i.indisvalid AND i.indexprs IS NULL "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'images'::regclass")).all()
    else:
        rows = [(name, sql, True) for name, sql in connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'images'"))]
    return sorted((DataIndex(name, _key_of(described or ""), bool(valid))
                   for name, described, valid in rows if _NAME.match(name)),
                  key=lambda index: index.name)


def restore(connection: Connection, before: Sequence[DataIndex]) -> None:
    """After migrations: create again on SQLite the indexes a migration that rebuilt
    `images` dropped with the old table (batch mode does not carry expression indexes).
    PostgreSQL alters tables in place and keeps them."""
    if connection.dialect.name == "postgresql":
        return
    present = {index.name for index in listing(connection)}
    for key in dict.fromkeys(index.key for index in before if index.key is not None):
        for name, statement in index_definitions(key, "sqlite"):
            if name not in present:
                connection.exec_driver_sql(statement)


STATISTICS_FROM = 1000
"""Records from which migrate() gathers SQLite's statistics if it never has."""


def ensure_statistics(connection: Connection) -> None:
    """SQLite chooses plans from statistics only once ANALYZE ran; without them it reads a
    range on a data key through the status index, and a sort on `-time` by sorting every
    live record. Gather them once the table holds records and never had any (PostgreSQL's
    autovacuum analyzes by itself; `imagehost index --apply` refreshes them on both)."""
    if connection.dialect.name != "sqlite":
        return
    analyzed = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is not None
    if analyzed and connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_stat1 WHERE tbl = 'images' LIMIT 1").first() is not None:
        return
    held = connection.exec_driver_sql(
        f"SELECT count(*) FROM (SELECT 1 FROM images LIMIT {STATISTICS_FROM})").scalar()
    if held == STATISTICS_FROM:
        connection.exec_driver_sql("ANALYZE images")


def _key_of(described: str) -> str | None:
    """The key of a PostgreSQL comment (the dotted key itself), or the path in an index's
    definition."""
    if re.fullmatch(r"[\w-]+(?:\.[\w-]+)*", described):
        return described
    found = _PATH.search(described)
    if found is None:
        return None
    return ".".join(re.findall(r'\."([^"]*)"', found.group(1)))
