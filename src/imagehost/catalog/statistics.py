"""Aggregates over the image rows for the overview: totals by status, uploads per day. Each is
one grouped query, so their cost does not grow with what the page shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, Engine, cast, func, select

from imagehost.catalog.models import ImageRecord


@dataclass(frozen=True)
class StatusTotal:
    status: str
    images: int
    bytes: int


def totals_by_status(engine: Engine) -> list[StatusTotal]:
    """How many images, and how many bytes of originals, each status holds."""
    statement = (select(ImageRecord.status, func.count(),
                        func.coalesce(func.sum(ImageRecord.bytes), 0))
                 .group_by(ImageRecord.status).order_by(ImageRecord.status))
    with engine.connect() as connection:
        return [StatusTotal(status, int(images), int(size))
                for status, images, size in connection.execute(statement)]


def uploads_per_day(engine: Engine, since: datetime) -> dict[date, int]:
    """Rows created per UTC day from `since` on (days without uploads are absent)."""
    if engine.dialect.name == "postgresql":
        day = cast(func.timezone("UTC", ImageRecord.created_at), Date)
    else:  # SQLite keeps UTC text, 'YYYY-MM-DD HH:MM:SS...'
        day = func.date(ImageRecord.created_at)
    statement = (select(day, func.count()).where(ImageRecord.created_at >= since)
                 .group_by(day))
    with engine.connect() as connection:
        return {_as_date(value): int(count) for value, count in connection.execute(statement)}


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
