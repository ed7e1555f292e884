"""The catalog on both databases it supports: every test runs on SQLite and on PostgreSQL
(`catalog_url`), and must behave the same on each."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.images import ImageCatalog, NewImage
from imagehost.catalog.models import ImageRecord, ImageStatus

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = create_catalog_engine(catalog_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def catalog(engine: Engine) -> ImageCatalog:
    return ImageCatalog(engine)


def new_image(key: str, created_at: datetime = T0, **overrides: Any) -> NewImage:
    base = key.rsplit(".", 1)[0]
    values: dict[str, Any] = {
        "key": key, "format": "jpeg", "width": 900, "height": 600, "bytes": 12345,
        "sha256": "ab" * 32, "variants": [f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"],
        "created_at": created_at, "data": None}
    return NewImage(**(values | overrides))


def instant(value: datetime | None) -> datetime | None:
    """`value` as an aware datetime, a naive one read as UTC. Only the time-zone tests below
    check that the catalog keeps datetimes aware; the other tests check the rest."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def rows(engine: Engine, key: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM images WHERE key = :key"),
                                  {"key": key}).scalar_one()


def revisions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


# ---------------------------------------------------------------------------- migrations


def test_migrations_are_idempotent(catalog_url: str) -> None:
    engine = create_catalog_engine(catalog_url)
    try:
        migrate(engine)
        migrate(engine)

        assert revisions(engine) == [head_revision()]
        assert "images" in inspect(engine).get_table_names()
        ImageCatalog(engine).add(new_image("1_1.jpg"))
        migrate(engine)  # and again on a database holding data
        assert ImageCatalog(engine).count_by_status() == {"incoming": 1}
    finally:
        engine.dispose()


def test_two_processes_migrate_the_same_database_at_once(catalog_url: str) -> None:
    """Instances starting together each migrate on start (PostgreSQL: the advisory lock)."""
    engines = [create_catalog_engine(catalog_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            barrier.wait(timeout=30)
            migrate(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a migration hung"
        assert errors == []
        assert revisions(engines[0]) == [head_revision()]
        for index, engine in enumerate(engines):
            ImageCatalog(engine).add(new_image(f"1_{index}.jpg"))
        assert ImageCatalog(engines[0]).count_by_status() == {"incoming": len(engines)}
    finally:
        for engine in engines:
            engine.dispose()


# ---------------------------------------------------------------------------- add / get


def test_add_then_get_returns_every_field(catalog: ImageCatalog) -> None:
    added = catalog.add(new_image("1400000000_7.jpg"))

    record = catalog.get("1400000000_7.jpg")
    assert record is not None
    assert record.id == added.id
    assert record.status == ImageStatus.INCOMING.value
    assert (record.format, record.width, record.height) == ("jpeg", 900, 600)
    assert (record.bytes, record.sha256) == (12345, "ab" * 32)
    assert record.variants == ["1400000000_7BI.jpg", "1400000000_7MI.jpg", "1400000000_7SI.jpg"]
    assert record.data == {}
    assert instant(record.created_at) == T0
    assert record.published_at is None and record.deleted_at is None
    assert catalog.get("1400000000_8.jpg") is None


def test_add_can_record_an_active_image(catalog: ImageCatalog) -> None:
    published = T0 + timedelta(minutes=5)
    catalog.add(new_image("1_1.png", format="png"), ImageStatus.ACTIVE, published_at=published)

    record = catalog.get("1_1.png")
    assert record is not None
    assert (record.status, record.format, instant(record.published_at)) == (
        "active", "png", published)


def test_adding_the_same_key_twice_updates_the_one_row(catalog: ImageCatalog,
                                                       engine: Engine) -> None:
    first = catalog.add(new_image("1_1.jpg"))
    catalog.set_status("1_1.jpg", ImageStatus.DELETED, T0 + timedelta(hours=1))

    second = catalog.add(new_image("1_1.jpg", width=10, height=20, bytes=99,
                                   created_at=T0 + timedelta(days=1)), ImageStatus.ACTIVE,
                         published_at=T0 + timedelta(days=1))

    assert rows(engine, "1_1.jpg") == 1
    assert second.id == first.id
    record = catalog.get("1_1.jpg")
    assert record is not None
    assert (record.status, record.width, record.height, record.bytes) == ("active", 10, 20, 99)
    assert instant(record.created_at) == T0 + timedelta(days=1)
    assert instant(record.published_at) == T0 + timedelta(days=1)
    assert record.deleted_at is None  # re-added: no longer a tombstone
    assert catalog.count_by_status() == {"active": 1}


def test_the_database_refuses_a_second_row_with_the_same_key(catalog: ImageCatalog,
                                                             engine: Engine) -> None:
    catalog.add(new_image("1_1.jpg"))
    duplicate = ImageRecord(key="1_1.jpg", status="incoming", format="jpeg", width=1, height=1,
                            bytes=1, sha256="0" * 64, variants=[], data={}, created_at=T0)

    with Session(engine) as session, pytest.raises(IntegrityError):
        session.add(duplicate)
        session.commit()

    assert rows(engine, "1_1.jpg") == 1


# ---------------------------------------------------------------------------- status


def test_set_status_active_sets_published_at_once(catalog: ImageCatalog) -> None:
    catalog.add(new_image("1_1.jpg"))
    first, later = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)

    assert catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, first) is True
    assert catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, later) is True  # a retried publish

    record = catalog.get("1_1.jpg")
    assert record is not None
    assert record.status == "active"
    assert instant(record.published_at) == first
    assert record.deleted_at is None


def test_set_status_deleted_sets_deleted_at_and_keeps_published_at(
        catalog: ImageCatalog) -> None:
    catalog.add(new_image("1_1.jpg"))
    published, deleted = T0 + timedelta(minutes=1), T0 + timedelta(days=3)
    catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, published)

    assert catalog.set_status("1_1.jpg", ImageStatus.DELETED, deleted) is True

    record = catalog.get("1_1.jpg")
    assert record is not None
    assert (record.status, instant(record.published_at), instant(record.deleted_at)) == (
        "deleted", published, deleted)


def test_set_status_of_an_unknown_key_is_false_and_creates_nothing(
        catalog: ImageCatalog) -> None:
    assert catalog.set_status("1_404.jpg", ImageStatus.ACTIVE, T0) is False
    assert catalog.get("1_404.jpg") is None
    assert catalog.count_by_status() == {}


def test_remove_incoming_never_removes_a_published_or_deleted_record(
        catalog: ImageCatalog) -> None:
    for key in ("1_1.jpg", "1_2.jpg", "1_3.jpg", "1_4.jpg"):
        catalog.add(new_image(key))
    catalog.set_status("1_2.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    removed = catalog.remove_incoming(["1_1.jpg", "1_2.jpg", "1_3.jpg", "1_404.jpg"])

    assert removed == 1
    assert catalog.get("1_1.jpg") is None
    assert catalog.get("1_2.jpg").status == "active"  # type: ignore[union-attr]
    assert catalog.get("1_3.jpg").status == "deleted"  # type: ignore[union-attr]
    assert catalog.get("1_4.jpg") is not None  # not asked for
    assert catalog.remove_incoming([]) == 0
    assert catalog.remove_incoming(iter(["1_4.jpg"])) == 1
    assert catalog.count_by_status() == {"active": 1, "deleted": 1}


def test_incoming_before_lists_only_older_incoming_records(catalog: ImageCatalog) -> None:
    catalog.add(new_image("1_1.jpg", created_at=T0 - timedelta(hours=3)))
    catalog.add(new_image("1_2.jpg", created_at=T0 - timedelta(hours=3)))
    catalog.add(new_image("1_3.jpg", created_at=T0 - timedelta(hours=3)))
    catalog.add(new_image("1_4.jpg", created_at=T0 - timedelta(minutes=5)))
    catalog.add(new_image("1_5.jpg", created_at=T0))  # exactly at the cutoff: not before it
    catalog.set_status("1_2.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    assert sorted(catalog.incoming_before(T0)) == ["1_1.jpg", "1_4.jpg"]
    assert catalog.incoming_before(T0 - timedelta(hours=2)) == ["1_1.jpg"]
    assert catalog.incoming_before(T0 - timedelta(days=1)) == []


def test_count_by_status(catalog: ImageCatalog) -> None:
    assert catalog.count_by_status() == {}
    for index in range(6):
        catalog.add(new_image(f"1_{index}.jpg"))
    for index in (0, 1, 2):
        catalog.set_status(f"1_{index}.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    assert catalog.count_by_status() == {"incoming": 2, "active": 3, "deleted": 1}


# ---------------------------------------------------------------------------- column types


def test_json_columns_round_trip(catalog: ImageCatalog) -> None:
    data = {"author": "Zoë Müller", "title": "Aiguille du Midi — face nord ⛰",
            "exif": {"gps": [45.8786, 6.8874, None], "iso": 200, "flash": False,
                     "lens": {"mm": 35.5, "tags": ["prime", "北"]}},
            "empty": {}, "list": []}
    variants = ["1_1BI.jpg", "1_1MI.jpg", "1_1SI.jpg", "sous-dossier/été.jpg"]
    catalog.add(new_image("1_1.jpg", variants=variants, data=data))

    record = catalog.get("1_1.jpg")
    assert record is not None
    assert record.variants == variants
    assert record.data == data


def test_timezone_aware_datetimes_come_back_aware_and_equal(catalog: ImageCatalog) -> None:
    created = datetime(2024, 7, 14, 23, 30, 15, 654321, tzinfo=PARIS_SUMMER)
    published = datetime(2024, 7, 15, 1, 0, 0, tzinfo=PARIS_SUMMER)
    deleted = datetime(2024, 7, 20, 8, 0, 0, tzinfo=UTC)
    catalog.add(new_image("1_1.jpg", created_at=created))
    catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, published)
    catalog.set_status("1_1.jpg", ImageStatus.DELETED, deleted)

    record = catalog.get("1_1.jpg")
    assert record is not None
    for stored, expected in ((record.created_at, created), (record.published_at, published),
                             (record.deleted_at, deleted)):
        assert stored is not None and stored.tzinfo is not None, repr(stored)
        assert stored.utcoffset() is not None
        assert stored == expected


def test_incoming_before_compares_instants_across_time_zones(catalog: ImageCatalog) -> None:
    """12:00+02:00 is 10:00 UTC: before an 11:30 UTC cutoff, whatever offset it was given in."""
    catalog.add(new_image("1_1.jpg", created_at=datetime(2024, 5, 1, 12, 0, tzinfo=PARIS_SUMMER)))
    catalog.add(new_image("1_2.jpg", created_at=datetime(2024, 5, 1, 11, 0, tzinfo=UTC)))

    assert sorted(catalog.incoming_before(datetime(2024, 5, 1, 11, 30, tzinfo=UTC))) == [
        "1_1.jpg", "1_2.jpg"]
    assert catalog.incoming_before(datetime(2024, 5, 1, 11, 30, tzinfo=PARIS_SUMMER)) == []


def head_revision() -> str:
    """The newest migration shipped with the package."""
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import imagehost.catalog.database as database

    ini = Path(database.__file__).with_name("alembic.ini")
    head = ScriptDirectory.from_config(Config(str(ini))).get_current_head()
    assert head is not None
    return head
