"""Catalog tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MAX_ID = 2**31 - 1
"""The largest record id (the id column is a 32-bit integer on every database)."""

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""JSON everywhere, JSONB (indexable, compared as values) on PostgreSQL."""


class ImageStatus(StrEnum):
    INCOMING = "incoming"
    ACTIVE = "active"
    DELETED = "deleted"


class Base(DeclarativeBase):
    pass


class ImageRecord(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(1024), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    variants: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    ladder: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    """The keys of the image's ladder steps (service/ladder.py), stored next to it."""
    color: Mapped[str | None] = mapped_column(String(7), nullable=True)
    """The image's dominant colour (#rrggbb), for a placeholder while it loads."""
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobState(StrEnum):
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    DONE = "done"
    FAILED = "failed"


class ItemState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class JobRecord(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    state: Mapped[str] = mapped_column(String(16))
    listed: Mapped[bool] = mapped_column(Boolean)
    """True once the whole listing of items has been recorded."""
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobItem(Base):
    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "key", name="uq_job_items_job_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingWrite(Base):
    """An image being written: its objects go to a store before its row is saved, so a
    process killed in between leaves objects no row owns; this intent names them."""

    __tablename__ = "pending_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(1024))
    store: Mapped[str] = mapped_column(String(16))
    objects: Mapped[list[str]] = mapped_column(JSONDocument)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DerivedObject(Base):
    """A derived image in the cache store, for its size bound (LRU across instances)."""

    __tablename__ = "derived_objects"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    record_id: Mapped[int] = mapped_column(Integer, index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    last_used: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DerivedUsage(Base):
    """One row: the bytes of every derived object, kept with them in each transaction."""

    __tablename__ = "derived_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
