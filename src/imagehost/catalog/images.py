"""Queries on image records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import sessionmaker

from imagehost.catalog.models import ImageRecord, ImageStatus


@dataclass(frozen=True)
class NewImage:
    key: str
    format: str
    width: int
    height: int
    bytes: int
    sha256: str
    variants: Sequence[str]
    created_at: datetime
    data: dict[str, Any] | None = None


class ImageCatalog:
    """Reads and writes of image records; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def add(self, image: NewImage, status: ImageStatus = ImageStatus.INCOMING,
            published_at: datetime | None = None) -> ImageRecord:
        with self._sessions.begin() as session:
            record = session.scalar(select(ImageRecord).where(ImageRecord.key == image.key))
            if record is None:
                record = ImageRecord(key=image.key, data=image.data or {})
                session.add(record)
            record.status = status.value
            record.format = image.format
            record.width, record.height = image.width, image.height
            record.bytes, record.sha256 = image.bytes, image.sha256
            record.variants = list(image.variants)
            record.created_at = image.created_at
            record.published_at = published_at
            record.deleted_at = None
            return record

    def get(self, key: str) -> ImageRecord | None:
        with self._sessions() as session:
            return session.scalar(select(ImageRecord).where(ImageRecord.key == key))

    def set_status(self, key: str, status: ImageStatus, when: datetime) -> bool:
        """Mark `key` incoming/active/deleted; False if there is no record."""
        with self._sessions.begin() as session:
            record = session.scalar(select(ImageRecord).where(ImageRecord.key == key))
            if record is None:
                return False
            record.status = status.value
            if status is ImageStatus.ACTIVE and record.published_at is None:
                record.published_at = when
            if status is ImageStatus.DELETED:
                record.deleted_at = when
            return True

    def remove_incoming(self, keys: Iterable[str]) -> int:
        """Delete the records of `keys` that are still incoming (never a published one)."""
        keys = list(keys)
        if not keys:
            return 0
        with self._sessions.begin() as session:
            result = session.execute(delete(ImageRecord).where(
                ImageRecord.key.in_(keys), ImageRecord.status == ImageStatus.INCOMING.value))
            return result.rowcount or 0

    def incoming_before(self, cutoff: datetime) -> list[str]:
        with self._sessions() as session:
            rows = session.scalars(select(ImageRecord.key).where(
                ImageRecord.status == ImageStatus.INCOMING.value,
                ImageRecord.created_at < cutoff))
            return list(rows)

    def count_by_status(self) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(text("SELECT status, count(*) FROM images GROUP BY status"))
            return {status: count for status, count in rows}

    def check(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

