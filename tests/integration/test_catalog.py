"""The catalog on both databases it supports: every test runs on SQLite and on PostgreSQL
(`catalog_url`), and must behave the same on each."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.catalog.records import RecordCatalog
from imagehost.config import Settings
from imagehost.service.context import ServiceContext
from imagehost.service.processing import process_upload
from imagehost.service.storing import store_image
from tests import imagegen

T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))


@pytest.fixture
def settings(make_settings: Callable[..., Settings], catalog_url: str) -> Settings:
    """The conftest `ctx` fixture, on the database of this run (SQLite or PostgreSQL)."""
    return make_settings(DATABASE_URL=catalog_url)


@pytest.fixture
def catalog(ctx: ServiceContext) -> RecordCatalog:
    return ctx.records


@pytest.fixture
def engine(catalog: RecordCatalog) -> Engine:
    return catalog.engine


def image_record(key: str, status: ImageStatus = ImageStatus.INCOMING,
                 created_at: datetime = T0, **overrides: Any) -> ImageRecord:
    base = key.rsplit(".", 1)[0]
    values: dict[str, Any] = {
        "key": key, "status": status.value, "format": "jpeg", "width": 900, "height": 600,
        "bytes": 12345, "sha256": "ab" * 32,
        "variants": [f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"],
        "created_at": created_at, "data": {}}
    return ImageRecord(**(values | overrides))


def add(catalog: RecordCatalog, key: str, status: ImageStatus = ImageStatus.INCOMING,
        **overrides: Any) -> ImageRecord:
    """A new row, saved directly (no files)."""
    return catalog.save(image_record(key, status, **overrides))


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
        add(RecordCatalog(engine), "1_1.jpg")
        migrate(engine)  # and again on a database holding data
        assert RecordCatalog(engine).count_by_status() == {"incoming": 1}
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
            add(RecordCatalog(engine), f"1_{index}.jpg")
        assert RecordCatalog(engines[0]).count_by_status() == {"incoming": len(engines)}
    finally:
        for engine in engines:
            engine.dispose()


# ---------------------------------------------------------------------------- save / read


def test_save_then_read_returns_every_field(catalog: RecordCatalog) -> None:
    added = add(catalog, "1400000000_7.jpg")

    record = catalog.by_file("1400000000_7.jpg")
    assert record is not None
    assert record.id == added.id
    assert record.status == ImageStatus.INCOMING.value
    assert (record.format, record.width, record.height) == ("jpeg", 900, 600)
    assert (record.bytes, record.sha256) == (12345, "ab" * 32)
    assert record.variants == ["1400000000_7BI.jpg", "1400000000_7MI.jpg", "1400000000_7SI.jpg"]
    assert record.data == {}
    assert instant(record.created_at) == T0
    assert record.published_at is None and record.deleted_at is None
    assert catalog.by_file("1400000000_8.jpg") is None
    by_id = catalog.get(added.id)
    assert by_id is not None and by_id.key == "1400000000_7.jpg"


def test_save_can_record_an_active_image(catalog: RecordCatalog) -> None:
    published = T0 + timedelta(minutes=5)
    add(catalog, "1_1.png", ImageStatus.ACTIVE, format="png", published_at=published)

    record = catalog.by_file("1_1.png")
    assert record is not None
    assert (record.status, record.format, instant(record.published_at)) == (
        "active", "png", published)


def test_storing_the_same_key_twice_updates_the_one_row(ctx: ServiceContext,
                                                        engine: Engine) -> None:
    """The write path (store_image) replaces the image at a key: one row, same id."""
    first = store_image(ctx, "1_1.jpg", process_upload(imagegen.photo_jpeg(900, 600),
                                                       ctx.policy),
                        ImageStatus.INCOMING, now=T0)
    ctx.records.set_status("1_1.jpg", ImageStatus.DELETED, T0 + timedelta(hours=1))
    replacement = imagegen.photo_jpeg(120, 80)

    second = store_image(ctx, "1_1.jpg", process_upload(replacement, ctx.policy),
                         ImageStatus.ACTIVE, now=T0 + timedelta(days=1))

    assert first.created and not second.created
    assert rows(engine, "1_1.jpg") == 1
    assert second.record.id == first.record.id
    record = ctx.records.by_file("1_1.jpg")
    assert record is not None
    assert (record.status, record.width, record.height, record.bytes) == (
        "active", 120, 80, len(replacement))
    assert instant(record.created_at) == T0 + timedelta(days=1)
    assert instant(record.published_at) == T0 + timedelta(days=1)
    assert record.deleted_at is None  # stored again: no longer a tombstone
    assert ctx.records.count_by_status() == {"active": 1}


def test_the_database_refuses_a_second_row_with_the_same_key(catalog: RecordCatalog,
                                                             engine: Engine) -> None:
    add(catalog, "1_1.jpg")
    duplicate = ImageRecord(key="1_1.jpg", status="incoming", format="jpeg", width=1, height=1,
                            bytes=1, sha256="0" * 64, variants=[], data={}, created_at=T0)

    with Session(engine) as session, pytest.raises(IntegrityError):
        session.add(duplicate)
        session.commit()

    assert rows(engine, "1_1.jpg") == 1


# ---------------------------------------------------------------------------- status


def test_set_status_active_sets_published_at_once(catalog: RecordCatalog) -> None:
    add(catalog, "1_1.jpg")
    first, later = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)

    marked = catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, first)
    assert marked is not None and marked.status == "active"
    retried = catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, later)  # a retried publish
    assert retried is not None and instant(retried.published_at) == first

    record = catalog.by_file("1_1.jpg")
    assert record is not None
    assert record.status == "active"
    assert instant(record.published_at) == first
    assert record.deleted_at is None


def test_set_status_deleted_sets_deleted_at_and_keeps_published_at(
        catalog: RecordCatalog) -> None:
    add(catalog, "1_1.jpg")
    published, deleted = T0 + timedelta(minutes=1), T0 + timedelta(days=3)
    catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, published)

    marked = catalog.set_status("1_1.jpg", ImageStatus.DELETED, deleted)
    assert marked is not None and marked.status == "deleted"

    record = catalog.by_file("1_1.jpg")
    assert record is not None
    assert (record.status, instant(record.published_at), instant(record.deleted_at)) == (
        "deleted", published, deleted)


def test_set_status_of_an_unknown_key_is_none_and_creates_nothing(
        catalog: RecordCatalog) -> None:
    assert catalog.set_status("1_404.jpg", ImageStatus.ACTIVE, T0) is None
    assert catalog.by_file("1_404.jpg") is None
    assert catalog.count_by_status() == {}


def test_remove_incoming_never_removes_a_published_or_deleted_record(
        catalog: RecordCatalog) -> None:
    for key in ("1_1.jpg", "1_2.jpg", "1_3.jpg", "1_4.jpg"):
        add(catalog, key)
    catalog.set_status("1_2.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    removed = catalog.remove_incoming(["1_1.jpg", "1_2.jpg", "1_3.jpg", "1_404.jpg"])

    assert removed == 1
    assert catalog.by_file("1_1.jpg") is None
    assert catalog.by_file("1_2.jpg").status == "active"  # type: ignore[union-attr]
    assert catalog.by_file("1_3.jpg").status == "deleted"  # type: ignore[union-attr]
    assert catalog.by_file("1_4.jpg") is not None  # not asked for
    assert catalog.remove_incoming([]) == 0
    assert catalog.remove_incoming(iter(["1_4.jpg"])) == 1
    assert catalog.count_by_status() == {"active": 1, "deleted": 1}


def incoming_keys(catalog: RecordCatalog, cutoff: datetime) -> list[str]:
    return sorted(record.key for record in catalog.incoming_before(cutoff))


def test_incoming_before_lists_only_older_incoming_records(catalog: RecordCatalog) -> None:
    add(catalog, "1_1.jpg", created_at=T0 - timedelta(hours=3))
    add(catalog, "1_2.jpg", created_at=T0 - timedelta(hours=3))
    add(catalog, "1_3.jpg", created_at=T0 - timedelta(hours=3))
    add(catalog, "1_4.jpg", created_at=T0 - timedelta(minutes=5))
    add(catalog, "1_5.jpg", created_at=T0)  # exactly at the cutoff: not before it
    catalog.set_status("1_2.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    assert incoming_keys(catalog, T0) == ["1_1.jpg", "1_4.jpg"]
    assert incoming_keys(catalog, T0 - timedelta(hours=2)) == ["1_1.jpg"]
    assert incoming_keys(catalog, T0 - timedelta(days=1)) == []


def test_count_by_status(catalog: RecordCatalog) -> None:
    assert catalog.count_by_status() == {}
    for index in range(6):
        add(catalog, f"1_{index}.jpg")
    for index in (0, 1, 2):
        catalog.set_status(f"1_{index}.jpg", ImageStatus.ACTIVE, T0)
    catalog.set_status("1_3.jpg", ImageStatus.DELETED, T0)

    assert catalog.count_by_status() == {"incoming": 2, "active": 3, "deleted": 1}


# ---------------------------------------------------------------------------- column types


def test_json_columns_round_trip(catalog: RecordCatalog) -> None:
    data = {"author": "Zoë Müller", "title": "Aiguille du Midi — face nord ⛰",
            "exif": {"gps": [45.8786, 6.8874, None], "iso": 200, "flash": False,
                     "lens": {"mm": 35.5, "tags": ["prime", "北"]}},
            "empty": {}, "list": []}
    variants = ["1_1BI.jpg", "1_1MI.jpg", "1_1SI.jpg", "sous-dossier/été.jpg"]
    add(catalog, "1_1.jpg", variants=variants, data=data)

    record = catalog.by_file("1_1.jpg")
    assert record is not None
    assert record.variants == variants
    assert record.data == data


def test_timezone_aware_datetimes_come_back_aware_and_equal(catalog: RecordCatalog) -> None:
    created = datetime(2024, 7, 14, 23, 30, 15, 654321, tzinfo=PARIS_SUMMER)
    published = datetime(2024, 7, 15, 1, 0, 0, tzinfo=PARIS_SUMMER)
    deleted = datetime(2024, 7, 20, 8, 0, 0, tzinfo=UTC)
    add(catalog, "1_1.jpg", created_at=created)
    catalog.set_status("1_1.jpg", ImageStatus.ACTIVE, published)
    catalog.set_status("1_1.jpg", ImageStatus.DELETED, deleted)

    record = catalog.by_file("1_1.jpg")
    assert record is not None
    for stored, expected in ((record.created_at, created), (record.published_at, published),
                             (record.deleted_at, deleted)):
        assert stored is not None and stored.tzinfo is not None, repr(stored)
        assert stored.utcoffset() is not None
        assert stored == expected


def test_incoming_before_compares_instants_across_time_zones(catalog: RecordCatalog) -> None:
    """12:00+02:00 is 10:00 UTC: before an 11:30 UTC cutoff, whatever offset it was given in."""
    add(catalog, "1_1.jpg", created_at=datetime(2024, 5, 1, 12, 0, tzinfo=PARIS_SUMMER))
    add(catalog, "1_2.jpg", created_at=datetime(2024, 5, 1, 11, 0, tzinfo=UTC))

    assert incoming_keys(catalog, datetime(2024, 5, 1, 11, 30, tzinfo=UTC)) == [
        "1_1.jpg", "1_2.jpg"]
    assert incoming_keys(catalog, datetime(2024, 5, 1, 11, 30, tzinfo=PARIS_SUMMER)) == []


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
