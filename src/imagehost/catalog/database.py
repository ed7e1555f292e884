"""Engine creation and schema migration."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import re2
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, ExceptionContext, create_engine, event, text
from sqlalchemy.engine import make_url

from imagehost.errors import CatalogUnavailable

_ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
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
    if context.is_disconnect or isinstance(context.original_exception,
                                           psycopg.OperationalError):
        reason = str(context.original_exception).strip().splitlines()
        raise CatalogUnavailable(reason[0] if reason else "no connection") \
            from context.original_exception


def _json_dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (safe to run on every start, and from several
    processes or threads at once)."""
    config = Config(str(_ALEMBIC_INI))
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # instances starting together must not run the same migration twice
            connection.execute(text("SELECT pg_advisory_xact_lock(7243011)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


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
