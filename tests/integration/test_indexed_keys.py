"""INDEXED_KEYS on both databases: `imagehost index` creates, lists and drops the indexes of
data keys (idempotently; on PostgreSQL with the columns a trigger keeps), the filters' query
plans use them, the typed filter semantics are the same with them, and migrations keep them
and the per-status counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, text
from typer.testing import CliRunner

from imagehost.catalog import data_indexes, key_columns
from imagehost.catalog.data_indexes import DataIndexes, index_definitions
from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.filters import parse_query
from imagehost.catalog.key_names import KeyColumns
from imagehost.catalog.models import ImageRecord
from imagehost.catalog.records import HeldIndexes, RecordCatalog
from imagehost.catalog.status_counts import ensure_count_triggers
from imagehost.cli import app
from imagehost.config import load_settings
from imagehost.web.app import create_app
from tests.api.test_records_filters import (
    COMPARISONS,
    EQUALS,
    MEMBERSHIP,
    DataSet,
    environ,
    post_records,
)
from tests.kit.environ import local_settings
from tests.kit.servers import FreshPostgresDatabase

LIVE = ("status", "incoming,active")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def index_names(engine: Engine) -> set[str]:
    """Every index on images, as the database lists them."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'images'"))
        else:
            rows = connection.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images'"))
        return {name for (name,) in rows}


def names_of(key: str, engine: Engine) -> set[str]:
    return {name for name, _ in index_definitions(key, engine.dialect.name)}


def table_columns(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'images'")).scalars())


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = create_catalog_engine(catalog_url)
    migrate(engine)
    yield engine
    engine.dispose()


def fill(engine: Engine, count: int = 3000, start: int = 0) -> None:
    """Records with a string key (100 values), a number key, a nested key, and a few values
    of the other JSON types under the same keys."""
    rows = []
    for i in range(start, start + count):
        data: dict[str, Any] = {"site": f"site-{i % 100}", "temp": (i % 500) / 10,
                                "plot": {"zone": f"z{i % 10}"}}
        if i % 97 == 0:
            data["site"], data["temp"] = i, f"t{i}"
        rows.append({"key": f"k/{i}.jpg", "status": "active", "format": "jpeg", "width": 1,
                     "height": 1, "bytes": 1, "sha256": "0" * 64, "variants": [], "data": data,
                     "created_at": T0 + timedelta(minutes=i)})
    with engine.begin() as connection:
        connection.execute(insert(ImageRecord.__table__), rows)


def plans(engine: Engine, pairs: list[tuple[str, str]]) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN (PostgreSQL) of each statement page() sends
    about images: the count, the page, for the records GET /images lists. On PostgreSQL, for
    all statuses and with bitmap scans only: a table this small is cheaper to scan whole or
    in status order, so the plan shows which indexes the compiled SQL can use rather than
    which win (bench/records.py shows the plans chosen at 1 000 000 records)."""
    from sqlalchemy import event

    catalog = RecordCatalog(engine)
    sent: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    live = [LIVE] if engine.dialect.name == "sqlite" or not pairs else []
    try:
        catalog.page(parse_query([*pairs, *live]))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    explained = []
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_indexscan = off")
            prefix = "EXPLAIN "
        else:
            prefix = "EXPLAIN QUERY PLAN "
        for statement, parameters in sent:
            if "FROM images" in statement:
                rows = connection.exec_driver_sql(prefix + statement, parameters).all()
                explained.append("\n".join(str(row[-1]) for row in rows))
    return explained


def uses(plan: str, names: set[str]) -> bool:
    return any(re.search(rf"\b{name}\b", plan) for name in names)


# ---------------------------------------------------------------------------- the command


def test_the_command_creates_lists_and_drops_the_indexes(catalog_url: str,
                                                          tmp_path: Path) -> None:
    env = local_settings(tmp_path) | {"DATABASE_URL": catalog_url,
                                      "INDEXED_KEYS": "site,data.plot.zone"}
    runner = CliRunner()
    engine = create_catalog_engine(catalog_url)
    try:
        migrate(engine)
        fill(engine, 50)
        first = runner.invoke(app, ["index", "--apply"], env=env)
        assert first.exit_code == 0, first.output
        assert "2 keys: 2 indexes created" in first.output or \
            "2 keys: 4 indexes created" in first.output, first.output
        if engine.dialect.name == "postgresql":  # the rows before: one progress line
            assert "columns of site, plot.zone: 50/50 ids filled" in first.output, \
                first.output
        wanted = names_of("site", engine) | names_of("plot.zone", engine)
        assert wanted <= index_names(engine)

        again = runner.invoke(app, ["index", "--apply"], env=env)
        assert again.exit_code == 0, again.output
        assert "0 indexes created" in again.output, again.output
        assert "already there" in again.output
        listed = runner.invoke(app, ["index"], env=env | {"INDEXED_KEYS": "site,temp"})
        assert listed.exit_code == 0, listed.output
        assert "data.temp: missing" in listed.output
        assert "not in INDEXED_KEYS" in listed.output  # plot.zone

        dropped = runner.invoke(app, ["index", "--drop", "plot.zone"], env=env)
        assert dropped.exit_code == 0, dropped.output
        assert not names_of("plot.zone", engine) & index_names(engine)
        assert names_of("site", engine) <= index_names(engine)
        if engine.dialect.name == "postgresql":  # the key's columns go with its indexes
            zone, site = KeyColumns.of("plot.zone"), KeyColumns.of("site")
            assert not {zone.number, zone.string} & table_columns(engine)
            assert {site.number, site.string} <= table_columns(engine)
        twice = runner.invoke(app, ["index", "--drop", "plot.zone"], env=env)
        assert "no index on plot.zone" in twice.output
        bad = runner.invoke(app, ["index", "--drop", "a b"], env=env)
        assert bad.exit_code == 2
    finally:
        engine.dispose()


def test_an_invalid_postgresql_index_is_rebuilt(postgres_url: str) -> None:
    """What a killed CREATE INDEX CONCURRENTLY leaves (an invalid index of that name) does
    not pass for the index."""
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine)
        name = sorted(names_of("temp", engine))[0]
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE INDEX {name} ON images (id)")
            connection.exec_driver_sql(
                "UPDATE pg_index SET indisvalid = false "
                f"WHERE indexrelid = '{name}'::regclass")
        indexes = DataIndexes(engine)
        assert [i.valid for i in indexes.listing() if i.name == name] == [False]

        built = indexes.create(["temp"], lambda _: None)

        assert all(b.seconds is not None for b in built)
        assert [i for i in indexes.listing() if not i.valid] == []
        assert {i.key for i in indexes.listing()} == {"temp"}
    finally:
        engine.dispose()


def test_an_expression_index_of_the_earlier_kind_is_rebuilt_on_the_columns(
        postgres_url: str) -> None:
    """Before the columns, PostgreSQL's index of a key was an expression on data, under the
    same name: it is listed as not valid (queries do not count on it) and rebuilt."""
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine)
        fill(engine, 20)
        names = KeyColumns.of("temp")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE INDEX {names.number_index} ON images "
                """((jsonb_path_query_first(data, 'strict $."temp"'::jsonpath) #>> '{}'))""")
        indexes = DataIndexes(engine)
        assert [(i.key, i.valid) for i in indexes.listing()] == [("temp", False)]

        built = indexes.create(["temp"], lambda _: None)

        assert [b.name for b in built if b.seconds is not None] == [names.number_index,
                                                                     names.string_index]
        assert [(i.key, i.valid) for i in indexes.listing()] == [("temp", True)] * 2
        assert RecordCatalog(engine).held.names() == {names.number_index, names.string_index}
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- PostgreSQL columns


def test_postgresql_keeps_a_keys_columns_and_counts_from_their_index(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows written before the command are filled in batches, with progress; rows inserted
    or given new data after are kept by the trigger; comparisons read the columns and give
    what the JSON gives; the count is answered from the index alone."""
    monkeypatch.setattr(key_columns, "FILL_BATCH", 100)
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine)
        fill(engine, 300)
        heard: list[tuple[str, int, int]] = []
        DataIndexes(engine).create(["temp", "site"], lambda _: None,
                                   lambda *progress: heard.append(progress))
        fill(engine, 50, start=300)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                """UPDATE images SET data = '{"temp": 99.5, "site": "zz"}' WHERE id = 1""")
            connection.exec_driver_sql("UPDATE images SET status = 'deleted' WHERE id = 2")

        assert heard == [("temp, site", 100, 300), ("temp, site", 200, 300),
                         ("temp, site", 300, 300)]
        assert key_columns.fill(engine, ["temp", "site"], lambda *_: None) == 0  # all right
        temp, site = KeyColumns.of("temp"), KeyColumns.of("site")
        with engine.connect() as connection:
            assert connection.execute(text(
                f"SELECT {temp.number}, {site.string} FROM images WHERE id = 1")).one() == \
                (Decimal("99.5"), "zz")
        catalog = RecordCatalog(engine)
        assert catalog.held.names() == names_of("temp", engine) | names_of("site", engine)
        for pairs in ([("data.temp__gt", "39")], [("data.temp__lte", "0.5")],
                      [("data.temp__gte", "12.25")], [("data.site__lt", "site-50")],
                      [("data.site__gt", "site-7"), LIVE], [("data.temp__gt", "t500")]):
            query = parse_query([*pairs, ("limit", "1000")])
            held, read = catalog.page(query), catalog._page(query, frozenset())
            assert held.total == read.total == len(read.records) > 0, pairs
            assert [r.id for r in held.records] == [r.id for r in read.records], pairs
        count = _statements(engine, catalog, [("data.temp__gt", "39"), LIVE])[0]
        with engine.connect() as connection:
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_bitmapscan = off")
            plan = "\n".join(connection.exec_driver_sql("EXPLAIN " + count[0], count[1])
                             .scalars())
        assert f"Index Only Scan using {temp.number_index}" in plan, plan
    finally:
        engine.dispose()


def test_a_catalog_still_answers_after_the_columns_it_knew_were_dropped(
        postgres_url: str) -> None:
    """Workers read which keys have columns every few seconds: one that learned of a key
    before `--drop` removed its columns reads the names again and answers."""
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine)
        fill(engine, 200)
        catalog = RecordCatalog(engine)
        query = parse_query([("data.temp__gt", "10")])
        without = catalog.page(query)  # no index yet: read from the JSON
        DataIndexes(engine).create(["temp"], lambda _: None)
        catalog.held.forget()
        with_columns = catalog.page(query)
        assert KeyColumns.of("temp").number_index in catalog.held.names()

        DataIndexes(engine).drop("temp")
        after = catalog.page(query)

        assert KeyColumns.of("temp").number not in table_columns(engine)
        assert catalog.held.names() == frozenset()
        expected = sum(1 for i in range(200) if i % 97 and i / 10 > 10)  # fill()'s data
        assert without.total == with_columns.total == after.total == expected
    finally:
        engine.dispose()


def test_workers_learn_of_a_new_index_when_their_list_is_older_than_its_lifetime(
        postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        migrate(engine)
        fresh, kept = HeldIndexes(engine, seconds=0), HeldIndexes(engine, seconds=3600)
        assert fresh.names() == kept.names() == frozenset()

        DataIndexes(engine).create(["temp"], lambda _: None)

        assert fresh.names() == names_of("temp", engine)
        assert kept.names() == frozenset()  # read less than an hour ago
        kept.forget()
        assert kept.names() == names_of("temp", engine)
    finally:
        engine.dispose()


def _statements(engine: Engine, catalog: RecordCatalog,
                pairs: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    """What page() sends about images: the count, then the page."""
    from sqlalchemy import event

    sent: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM images" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        catalog.page(parse_query(pairs))
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return sent


# ---------------------------------------------------------------------------- plans

PLANNED = [
    # (query, the index that serves it on SQLite, on PostgreSQL)
    ([("data.site", "site-7")], "site", "ix_images_data"),  # PostgreSQL: the GIN index
    ([("data.site__in", "site-7,site-8")], "site", "ix_images_data"),
    ([("data.temp__gt", "45")], "temp", "_num"),
    ([("data.temp__lte", "0.5")], "temp", "_num"),
    ([("data.site__lt", "site-15")], "site", "_str"),
    ([("data.plot.zone", "z3")], "plot.zone", "ix_images_data"),
    ([("data.plot.zone__gte", "z8")], "plot.zone", "_str"),
]


def test_filters_on_indexed_keys_use_the_indexes(engine: Engine) -> None:
    fill(engine)
    DataIndexes(engine).create(["site", "temp", "plot.zone"], lambda _: None)

    for pairs, key, pg_index in PLANNED:
        if engine.dialect.name == "postgresql":
            expected = {n for n in names_of(key, engine) if n.endswith(pg_index)} \
                or {pg_index}
        else:
            expected = names_of(key, engine)
        explained = plans(engine, pairs)
        assert len(explained) == 2  # the count, the page
        for plan in explained:
            assert uses(plan, expected), (pairs, plan)


def test_the_default_listing_pages_from_the_status_time_index(engine: Engine) -> None:
    fill(engine, 500)
    first = RecordCatalog(engine).page(parse_query([LIVE, ("limit", "10")]))
    after = RecordCatalog(engine).page(parse_query(
        [LIVE, ("limit", "10"), ("cursor", _token(first.next_cursor))]))

    assert first.total == after.total == 500  # read from the counts per status
    assert [r.key for r in first.records + after.records] == [f"k/{i}.jpg" for i in range(20)]
    if engine.dialect.name == "sqlite":
        [plan] = plans(engine, [("limit", "10")])  # the total is read from image_counts
        assert uses(plan, {"ix_images_status_created_at"}) and "SCAN images" not in plan, plan


def _token(cursor: list[Any] | None) -> str:
    from imagehost.catalog.filters import encode_cursor

    assert cursor is not None
    return encode_cursor(cursor)


# ---------------------------------------------------------------------------- semantics


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def indexed_dataset(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSet]:
    """test_records_filters' records, with every key they filter on indexed; PostgreSQL
    with sequential scans off, so that its plans take the indexes even on 15 rows."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('indexed-sqlite') / 'catalog.db'}"
        yield from _dataset(url, tmp_path_factory)
        return
    with FreshPostgresDatabase(request.getfixturevalue("postgres_server_url")) as url:
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        admin = create_catalog_engine(url)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET enable_seqscan = off')
        admin.dispose()
        yield from _dataset(url, tmp_path_factory)


def _dataset(url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSet]:
    keys = "n,s,b,big,nested.x,nested.y.z"
    settings = load_settings(environ(tmp_path_factory.mktemp("indexed-stores"), url)
                             | {"INDEXED_KEYS": keys})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ids = post_records(client)
        engine = create_catalog_engine(url)
        built = DataIndexes(engine).create(settings.indexed_keys, lambda _: None)
        assert len(built) == (12 if engine.dialect.name == "postgresql" else 6)
        engine.dispose()
        held = client.app.state.ctx.records.held  # type: ignore[attr-defined]
        held.forget()  # comparisons read the columns from the first query on
        assert len(held.names()) == (12 if url.startswith("postgresql") else 0)
        yield DataSet(client, ids)


@pytest.mark.parametrize(("name", "value", "expected"), EQUALS + COMPARISONS + MEMBERSHIP)
def test_typed_semantics_are_the_same_with_the_indexes(indexed_dataset: DataSet, name: str,
                                                       value: str, expected: str) -> None:
    assert indexed_dataset.answer([(name, value)]) == expected


# ---------------------------------------------------------------------------- migrations


def test_counts_per_status_follow_every_write(engine: Engine) -> None:
    catalog = RecordCatalog(engine)
    fill(engine, 50)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE images SET status = 'incoming' WHERE id IN (1, 2, 3)")
        connection.exec_driver_sql("UPDATE images SET status = 'deleted' WHERE id = 4")
        connection.exec_driver_sql("UPDATE images SET data = '{}' WHERE id = 5")
    catalog.delete([6, 7, 1])

    counted = _counted(engine)
    assert counted == {"active": 44, "incoming": 2, "deleted": 1}
    assert catalog.count_by_status() == counted
    assert catalog.page(parse_query([LIVE])).total == 46
    assert catalog.page(parse_query([])).total == 47


def test_a_migration_rebuilding_images_keeps_the_counts_and_the_indexes(
        tmp_path: Path) -> None:
    """SQLite batch migrations copy `images` to a new table: the triggers and expression
    indexes of the old one go with it, and come back after the migration run (env.py)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    migrate(engine)
    fill(engine, 20)
    DataIndexes(engine).create(["site"], lambda _: None)
    with engine.begin() as connection:
        before = data_indexes.listing(connection)
        operations = Operations(MigrationContext.configure(connection))
        with operations.batch_alter_table("images", recreate="always"):
            pass
        ensure_count_triggers(connection)
        data_indexes.restore(connection, before)
    fill(engine, 5, start=20)

    assert names_of("site", engine) <= index_names(engine)
    assert RecordCatalog(engine).count_by_status() == _counted(engine) == {"active": 25}
    engine.dispose()


def _counted(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return dict(connection.execute(text(  # type: ignore[arg-type]
            "SELECT status, count(*) FROM images GROUP BY status")).all())


def test_sqlite_statistics_are_gathered_at_start_once_there_are_records(
        tmp_path: Path) -> None:
    """Without statistics SQLite reads a range on a data key through the status index."""
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    migrate(engine)
    fill(engine, data_indexes.STATISTICS_FROM - 1)
    migrate(engine)
    assert _statistics(engine) == []

    fill(engine, 1, start=data_indexes.STATISTICS_FROM)
    migrate(engine)  # the next start

    assert ("images", "ix_images_status_created_at") in _statistics(engine)
    engine.dispose()


def _statistics(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        if connection.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
            return []
        return [(t, i) for t, i in connection.exec_driver_sql(
            "SELECT tbl, idx FROM sqlite_stat1")]
