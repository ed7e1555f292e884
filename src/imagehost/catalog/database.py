"""Engine creation and schema migration."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import re2
from sqlalchemy import Connection, Engine, ExceptionContext, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from imagehost.catalog import data_indexes
from imagehost.catalog.status_counts import ensure_count_triggers
from imagehost.errors import CatalogUnavailable

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
_REVISION = re.compile(r'^revision = "([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision = "([^"]+)"', re.MULTILINE)
CONNECT_TIMEOUT = 5
"""Seconds to wait for the database server to accept a connection."""


def create_catalog_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10,
                               json_serializer=_json_dumps,
                               connect_args={"connect_timeout": CONNECT_TIMEOUT})
        event.listen(engine, "handle_error", _unavailable)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # SQLite's JSON paths compare raw text: keys must be stored as written, not \u-escaped
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           json_serializer=_json_dumps)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _unavailable(context: ExceptionContext) -> None:
    """A database that is down or drops connections is a 503 the client may retry, not a
    500: OperationalError is what the driver raises for those."""
    import psycopg  # here: a server on SQLite never loads it (9 MB of resident memory)

    if context.is_disconnect or isinstance(context.original_exception,
                                           psycopg.OperationalError):
        reason = str(context.original_exception).strip().splitlines()
        raise CatalogUnavailable(reason[0] if reason else "no connection") \
            from context.original_exception


def _json_dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (safe to run on every start, and from several
    processes or threads at once). A catalog already there is only checked, without loading
    Alembic, which would stay in the server's memory for nothing (10 MB resident)."""
    if _at_newest_revision(engine):
        with engine.begin() as connection:
            _check_current_schema(connection)
        return
    from alembic import command
    from alembic.config import Config

    config = Config(str(_ALEMBIC_INI))
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # instances starting together must not run the same migration twice
            connection.execute(text("SELECT pg_advisory_xact_lock(7243011)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _check_current_schema(connection: Connection) -> None:
    """What migrations/env.py checks at every start after the migrations, for a catalog that
    needed none (keep the two alike)."""
    if inspect(connection).has_table("images"):
        ensure_count_triggers(connection)
        data_indexes.ensure_statistics(connection)


def _at_newest_revision(engine: Engine) -> bool:
    newest = _newest_revision()
    if newest is None:
        return False
    try:
        with engine.connect() as connection:
            current = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no table yet
        return False
    return [row[0] for row in current] == [newest]


@functools.cache
def _newest_revision() -> str | None:
    """The revision of the migrations that no other revises (None unless exactly one)."""
    revisions, revised = set(), set()
    for script in (_ALEMBIC_INI.parent / "migrations" / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        revised.update(_DOWN_REVISION.findall(source))
    newest = revisions - revised
    return newest.pop() if len(newest) == 1 else None


@contextlib.contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks and runs DDL outside transactions: a lock file next to the
    database serializes migrations (flock excludes other processes and other threads alike)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    dbapi_connection.create_function("imagehost_regexp", 2, _regexp_search, deterministic=True)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re2._Regexp:
    return re2.compile(pattern)


def _regexp_search(pattern: str, value: str | None) -> int:
    """REGEXP for SQLite with RE2: linear time, so no pattern can stall the server."""
    return int(value is not None and _compiled(pattern).search(value) is not None)
