"""Record queries: the filter language compiled to SQL for SQLite (JSON1) and PostgreSQL (JSONB).

Both dialects give the same rows in the same order: JSON values are compared by type (a number
never equals a string), text compares bytewise (COLLATE "C" on PostgreSQL), and sorting on a
data key orders by type (null, boolean, number, string, object or array, missing), then value.
On PostgreSQL, equality is JSONB containment (`@>`), which the GIN index on `data` serves.
The keys of INDEXED_KEYS have indexes (data_indexes.py) on exactly the expressions compiled
here (SQLite), or on columns a trigger keeps equal to them, which a page's comparisons read
once their index is built (PostgreSQL), so conditions on them are found through an index on
both databases; a page's total is read from the counts per status when only statuses
filter.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    any_,
    case,
    cast,
    column,
    delete,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import DataError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from imagehost.catalog.filters import (
    DataCondition,
    FilterError,
    JsonScalar,
    RecordFilter,
    RecordQuery,
    SortKey,
)
from imagehost.catalog.key_names import KeyColumns
from imagehost.catalog.models import ImageRecord, ImageStatus, UTCDateTime
from imagehost.catalog.status_counts import COUNTS

_COLUMNS: dict[str, Any] = {
    "id": ImageRecord.id, "file": ImageRecord.key, "time": ImageRecord.created_at,
    "status": ImageRecord.status, "format": ImageRecord.format, "width": ImageRecord.width,
    "height": ImageRecord.height, "bytes": ImageRecord.bytes, "sha256": ImageRecord.sha256,
    "published": ImageRecord.published_at,
}
_TIME_FIELDS = {"time", "published"}
_TEXT_FIELDS = {"file", "status", "format", "sha256"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TYPE_RANK = {"null": 0, "boolean": 1, "number": 2, "string": 3, "object": 4, "array": 4}
_MISSING_RANK = 5


class JsonField:
    """Typed access to `data` at one path, in one SQL dialect.

    JSON paths are SQL literals, never parameters, and every constant inside an expression an
    index can hold (`key_expressions`) is too: a database serves a condition from an
    expression index only when the query holds the identical expression."""

    def __init__(self, path: Sequence[str], dialect: str, column: Any = None) -> None:
        self.path = tuple(path)
        self.dialect = dialect
        self.column = ImageRecord.data if column is None else column

    def _pg_node(self) -> Any:
        """The value at the path, or NULL; a strict jsonpath with quoted members never
        indexes arrays (as SQLite's $."a"."0" does not), so both dialects agree."""
        jsonpath = "strict $" + "".join(f'."{segment}"' for segment in self.path)
        return func.jsonb_path_query_first(
            self.column, literal_column(f"{sql_string(jsonpath)}::jsonpath"),
            literal_column("'{}'::jsonb"), true())

    def _pg_text(self) -> Any:
        return self._pg_node().op("#>>", return_type=Text)(literal_column("'{}'::text[]"))

    def _pg_typed(self, kind: str, value: Any) -> Any:
        """`value` where the node is of JSON type `kind`, else NULL."""
        return case((func.jsonb_typeof(self._pg_node()) == literal_column(sql_string(kind)),
                     value), else_=None)

    def _sqlite_path(self) -> Any:
        return literal_column(sql_string(
            "$" + "".join(f'."{segment}"' for segment in self.path)))

    def extracted(self) -> ColumnElement[Any]:
        """SQLite's json_extract at the path: the number, the string, 1 or 0 for booleans,
        the JSON text of an object or array, NULL for null or missing."""
        return func.json_extract(self.column, self._sqlite_path())

    def _sqlite_type(self) -> ColumnElement[Any]:
        return func.json_type(self.column, self._sqlite_path())

    def type_(self) -> ColumnElement[Any]:
        """'null', 'boolean', 'number', 'string', 'object', 'array', or NULL when missing."""
        if self.dialect == "postgresql":
            return func.jsonb_typeof(self._pg_node())
        raw = self._sqlite_type()
        return case((raw.in_(["integer", "real"]), "number"), (raw == "text", "string"),
                    (raw.in_(["true", "false"]), "boolean"), else_=raw)

    def number(self) -> ColumnElement[Any]:
        """The number (NULL for any other type on PostgreSQL; SQLite's json_extract)."""
        if self.dialect == "postgresql":
            return self._pg_typed("number", cast(self._pg_text(), Numeric))
        return self.extracted()

    def string(self) -> ColumnElement[Any]:
        """PostgreSQL: the string, compared bytewise; NULL for any other type."""
        return self._pg_typed("string", self._pg_text()).collate("C")

    def text(self) -> ColumnElement[Any]:
        """The string value, or 'true'/'false' for booleans."""
        if self.dialect == "postgresql":
            return self._pg_text().collate("C")
        raw = self._sqlite_type()
        return case((raw == "text", self.extracted()),
                    (raw.in_(["true", "false"]), raw), else_=None)

    def key_expressions(self) -> list[ColumnElement[Any]]:
        """What an expression index on this key holds, one index per item on PostgreSQL
        (numbers; strings), one index of all items on SQLite (with status and created_at,
        so that counts and pages never read the table)."""
        if self.dialect == "postgresql":
            return [self.number(), self.string()]
        return [self.extracted(), self._sqlite_type()]

    def json_text(self) -> ColumnElement[Any]:
        """The value as JSON text (any type)."""
        if self.dialect == "postgresql":
            return cast(self._pg_node(), Text)
        return cast(self.column.op("->")(self._sqlite_path()), Text)

    def contains(self, value: JsonScalar) -> ColumnElement[bool]:
        return self.column.op("@>")(cast(literal(self._document(value)), JSONB))

    def contains_any(self, values: Sequence[JsonScalar]) -> ColumnElement[bool]:
        """`data @> ANY(array)`: one expression (and one parameter) for a whole `in` list,
        with the same typed semantics as `contains`; a bitmap scan of the GIN index serves it."""
        documents = [self._document(value) for value in values]
        return self.column.op("@>")(any_(cast(literal(documents, ARRAY(Text)), ARRAY(JSONB))))

    def is_in(self, values: Sequence[JsonScalar]) -> ColumnElement[bool]:
        """Membership by JSON type (SQLite): one `IN (...)` per type, never one test per value;
        null and booleans are told by json_type alone."""
        kind = self._sqlite_type()
        value = self.extracted()
        words = ["null" if v is None else "true" if v else "false"
                 for v in values if v is None or isinstance(v, bool)]
        numbers = [_number(v, self) for v in values
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        strings = [v for v in values if isinstance(v, str)]
        alternatives = []
        if words:
            alternatives.append(kind.in_(words))
        if numbers:
            alternatives.append(and_(kind.in_(["integer", "real"]), value.in_(numbers)))
        if strings:
            alternatives.append(and_(kind == "text", value.in_(strings)))
        return or_(false(), *alternatives)

    def _document(self, value: JsonScalar) -> str:
        """The JSON object holding `value` at the path."""
        document: Any = value
        for segment in reversed(self.path):
            document = {segment: document}
        return json.dumps(document)

    def sort_keys(self) -> list[ColumnElement[Any]]:
        kind = self.type_()
        ranks = [(kind == name, rank) for name, rank in _TYPE_RANK.items()]
        rank = case(*ranks, else_=_MISSING_RANK)
        number = func.coalesce(case((kind == "number", cast(self.number(), Float)), else_=None),
                               0.0)
        label = func.coalesce(case((kind.in_(["string", "boolean"]), self.text()),
                                   else_=None), "")
        if self.dialect == "postgresql":
            label = label.collate("C")
        return [type_coerce(rank, Integer), type_coerce(number, Float),
                type_coerce(label, Text)]


def condition_sql(condition: DataCondition, dialect: str,
                  held: frozenset[str] = frozenset()) -> ColumnElement[bool]:
    """`held`: the names of the valid indexes on data-key columns (PostgreSQL), whose
    columns comparisons on their key read instead of the JSON."""
    field = JsonField(condition.path, dialect)
    op, value = condition.op, condition.value
    if op == "exists":
        return field.type_().isnot(None) if value else field.type_().is_(None)
    if op == "ne":
        if dialect == "postgresql":
            return not_(field.contains(value))  # type: ignore[arg-type]
        return or_(field.type_().is_(None), not_(_equals(field, value)))  # type: ignore[arg-type]
    if dialect == "postgresql":
        return _postgresql_condition(field, op, value, held)
    if op == "eq":
        exact = _equals(field, value)  # type: ignore[arg-type]
    elif op == "in":
        exact = field.is_in(value)  # type: ignore[arg-type]
    elif isinstance(value, int | float):
        exact = and_(field.type_() == "number",
                     _COMPARE[op](field.number(), _number(value, field)))
    else:
        exact = and_(field.type_() == "string", _COMPARE[op](field.text(), value))
    seek = _sqlite_seek(field, op, value)
    return exact if seek is None else and_(seek, exact)


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _postgresql_condition(field: JsonField, op: str, value: Any,
                          held: frozenset[str]) -> ColumnElement[bool]:
    """Equality and `in` are containment (the GIN index); a comparison reads the number or
    the string, NULL for any other type, from the key's column where its index is built."""
    if op == "eq":
        return field.contains(value)
    if op == "in":
        return field.contains_any(value)
    names = KeyColumns.of(".".join(field.path))
    if not isinstance(value, int | float):
        string = (_images_column(names.string) if names.string_index in held
                  else field.string())
        return _COMPARE[op](string, value)
    number = _images_column(names.number) if names.number_index in held else field.number()
    exact = _COMPARE[op](number, _number(value, field))
    if isinstance(value, int):
        return exact
    # A float compares as a double (as on SQLite): the numeric expression is cast to double
    # precision, which no index holds. A bound one double further out, compared as numeric,
    # lets the index find a superset that the exact comparison then narrows.
    outward = math.nextafter(value, -math.inf if op in ("gt", "gte") else math.inf)
    if not math.isfinite(outward):
        return exact
    bound = literal(Decimal(outward), Numeric())
    seek = number > bound if op in ("gt", "gte") else number < bound
    return and_(seek, exact)


def _images_column(name: str) -> ColumnElement[Any]:
    """A column of images the model does not map (a data key's, kept by its trigger)."""
    return column(name, _selectable=ImageRecord.__table__)  # type: ignore[call-arg]


def _sqlite_seek(field: JsonField, op: str, value: Any) -> ColumnElement[bool] | None:
    """A term on json_extract alone that the typed condition implies, so an expression index
    on json_extract(data, '$."key"') finds the candidates (the typed condition, read from the
    same index, keeps the result exact). SQLite sorts numbers before text and text before
    blobs, '' is the smallest text; every range is bounded on both sides, as SQLite (without
    histograms) takes a one-sided range for a quarter of the table and would rather scan."""
    extracted = field.extracted()
    if op in ("eq", "in"):
        values = value if op == "in" else (value,)
        others = [int(v) if isinstance(v, bool) else v if isinstance(v, str)
                  else _number(v, field) for v in values if v is not None]
        listed = extracted.in_(others) if others else false()
        return or_(extracted.is_(None), listed) if None in values else listed
    if isinstance(value, int | float):
        lowest, highest = literal(-math.inf), literal("")
    else:
        lowest, highest = literal(""), literal(b"")
    bound = _COMPARE[op](extracted, _number(value, field) if isinstance(value, int | float)
                         else value)
    if op in ("gt", "gte"):
        return and_(bound, extracted < highest)
    return and_(extracted >= lowest, bound)


def _equals(field: JsonField, value: JsonScalar) -> ColumnElement[bool]:
    if field.dialect == "postgresql":
        return field.contains(value)
    if value is None:
        return field.type_() == "null"
    if isinstance(value, bool):
        return and_(field.type_() == "boolean", field.text() == ("true" if value else "false"))
    if isinstance(value, int | float):
        return and_(field.type_() == "number", field.number() == _number(value, field))
    return and_(field.type_() == "string", field.text() == value)


def _number(value: int | float, field: JsonField) -> Any:
    """Integers stay exact (no trip through a double) where the database can hold them."""
    if field.dialect == "postgresql":
        return literal(value, Numeric())
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        try:
            return literal(float(value))
        except OverflowError:
            raise FilterError("data", f"the number {str(value)[:20]}... is too large") from None
    return literal(value)


def filter_sql(record_filter: RecordFilter, dialect: str,
               held: frozenset[str] = frozenset()) -> list[ColumnElement[bool]]:
    clauses = [condition_sql(c, dialect, held) for c in record_filter.data]
    if record_filter.time_from:
        clauses.append(ImageRecord.created_at >= record_filter.time_from)
    if record_filter.time_to:
        clauses.append(ImageRecord.created_at <= record_filter.time_to)
    if record_filter.published_from:
        clauses.append(ImageRecord.published_at >= record_filter.published_from)
    if record_filter.published_to:
        clauses.append(ImageRecord.published_at <= record_filter.published_to)
    if record_filter.statuses:
        clauses.append(ImageRecord.status.in_(record_filter.statuses))
    if record_filter.file_prefix:
        prefix = record_filter.file_prefix
        clauses.append(func.substr(ImageRecord.key, 1, len(prefix)) == prefix)
    if record_filter.regex:
        if dialect == "postgresql":
            # Collation "C": classes such as \w and [[:alpha:]] are ASCII, as in RE2 (SQLite);
            # under a UTF-8 locale PostgreSQL would count é as a word character.
            clauses.append(ImageRecord.key.collate("C").op("~")(record_filter.regex))
        else:
            clauses.append(func.imagehost_regexp(record_filter.regex, ImageRecord.key) == 1)
    if record_filter.ids is not None:
        clauses.append(ImageRecord.id.in_(record_filter.ids) if record_filter.ids else false())
    return clauses


def sort_columns(keys: Sequence[SortKey], dialect: str) -> list[tuple[Any, bool]]:
    """(expression, descending) pairs, ending with id so the order is total."""
    columns: list[tuple[Any, bool]] = []
    for key in keys:
        if key.field is None:
            columns += [(e, key.descending) for e in JsonField(key.path, dialect).sort_keys()]
        elif key.field == "published":
            columns.append((func.coalesce(ImageRecord.published_at, _EPOCH), key.descending))
        elif key.field in _TEXT_FIELDS and dialect == "postgresql":
            columns.append((_COLUMNS[key.field].collate("C"), key.descending))
        else:
            columns.append((_COLUMNS[key.field], key.descending))
    if not any(key.field == "id" for key in keys):
        columns.append((ImageRecord.id, False))
    return columns


@dataclass(frozen=True)
class Page:
    total: int
    records: list[ImageRecord]
    next_cursor: list[Any] | None


HELD_SECONDS = 10.0
"""How long a catalog trusts its list of data-key column indexes (PostgreSQL) before reading
it again: what `imagehost index` builds is used by every worker within this time."""
_UNDEFINED_COLUMN = "42703"


class HeldIndexes:
    """PostgreSQL: the names of the valid indexes on data-key columns (key_columns.py), read
    again every HELD_SECONDS, and at once after a query named a column that `imagehost index
    --drop` removed since."""

    def __init__(self, engine: Engine, seconds: float = HELD_SECONDS) -> None:
        self.engine = engine
        self.seconds = seconds
        self._lock = threading.Lock()
        self._read: tuple[float, frozenset[str]] | None = None

    def names(self) -> frozenset[str]:
        if self.engine.dialect.name != "postgresql":
            return frozenset()
        if (fresh := self._fresh()) is not None:
            return fresh
        with self._lock:
            if (fresh := self._fresh()) is not None:  # read while this thread waited
                return fresh
            from imagehost.catalog.data_indexes import listing  # it compiles JsonField

            with self.engine.connect() as connection:
                names = frozenset(index.name for index in listing(connection) if index.valid)
            self._read = (time.monotonic(), names)
            return names

    def forget(self) -> None:
        """Read the names again at the next query."""
        self._read = None

    def _fresh(self) -> frozenset[str] | None:
        read = self._read
        if read is not None and time.monotonic() - read[0] < self.seconds:
            return read[1]
        return None


class RecordCatalog:
    """Reads and writes of image records (one row per image): by key, by id, filtered, in
    bulk. Every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.held = HeldIndexes(engine)

    def where(self, record_filter: RecordFilter,
              held: frozenset[str] = frozenset()) -> list[ColumnElement[bool]]:
        return filter_sql(record_filter, self.dialect, held)

    def page(self, query: RecordQuery) -> Page:
        """One page and the exact total; comparisons on indexed keys read their columns
        (PostgreSQL), bulk reads (`iterate`) the JSON itself."""
        try:
            try:
                return self._page(query, self.held.names())
            except ProgrammingError as exc:
                if getattr(exc.orig, "sqlstate", None) != _UNDEFINED_COLUMN:
                    raise
                self.held.forget()  # a key's column, dropped since the names were read
                return self._page(query, self.held.names())
        except DataError as exc:
            if query.filter.regex:
                raise FilterError("regex", "the database cannot run this pattern") from exc
            raise

    def _page(self, query: RecordQuery, held: frozenset[str]) -> Page:
        clauses = self.where(query.filter, held)
        columns = sort_columns(query.sort, self.dialect)
        # The page is chosen on the ids and sort keys alone (an index can hold them all),
        # then only its rows are read: sorting whole rows would read every matching one.
        keys = [column.label(f"sort_{i}") for i, (column, _) in enumerate(columns)]
        chosen = select(ImageRecord.id.label("page_id"), *keys).where(*clauses)
        if query.cursor is not None:
            chosen = chosen.where(_after(columns, query.cursor))
        chosen = chosen.order_by(*(c.desc() if d else c.asc() for c, d in columns))
        if query.cursor is None:
            chosen = chosen.offset(query.skip)
        page = chosen.limit(query.limit).subquery("page")
        ordered = [(page.c[key.name], descending) for key, (_, descending) in zip(
            keys, columns, strict=True)]
        statement = (select(ImageRecord, *(c for c, _ in ordered))
                     .join(page, ImageRecord.id == page.c.page_id)
                     .order_by(*(c.desc() if d else c.asc() for c, d in ordered)))
        with self._session() as session:
            total = self._total(session, query.filter, clauses)
            rows = session.execute(statement).all()
        records = [row[0] for row in rows]
        next_cursor = None
        if len(rows) == query.limit:
            next_cursor = [_cursor_value(v) for v in rows[-1][1:]]
        return Page(total, records, next_cursor)

    def _total(self, session: Session, record_filter: RecordFilter,
                clauses: list[ColumnElement[bool]]) -> int:
        """How many records match: read from the counts per status when the filter is only
        on statuses (the triggers of image_counts keep them exact), else counted."""
        if replace(record_filter, statuses=None).empty:
            statement = select(func.coalesce(func.sum(COUNTS.c.records), 0))
            if record_filter.statuses:
                statement = statement.where(COUNTS.c.status.in_(record_filter.statuses))
            return int(session.scalar(statement) or 0)
        return session.scalar(select(func.count()).select_from(ImageRecord)
                              .where(*clauses)) or 0

    def iterate(self, record_filter: RecordFilter, batch: int = 500) -> Iterator[ImageRecord]:
        """Every matching record in id order, fetched in batches (for exports and bulk work)."""
        last = 0
        while True:
            with self._session() as session:
                rows = list(session.scalars(
                    select(ImageRecord).where(*self.where(record_filter), ImageRecord.id > last)
                    .order_by(ImageRecord.id).limit(batch)))
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1].id

    def get(self, record_id: int) -> ImageRecord | None:
        with self._session() as session:
            return session.get(ImageRecord, record_id)

    def by_file(self, file: str) -> ImageRecord | None:
        with self._session() as session:
            return session.scalar(select(ImageRecord).where(ImageRecord.key == file))

    def data_keys(self, record_filter: RecordFilter) -> list[str]:
        clauses = self.where(record_filter)
        with self._session() as session:
            if self.dialect == "postgresql":
                keys = (func.jsonb_object_keys(ImageRecord.data).table_valued("data_key")
                        .render_derived())
                rows = session.execute(
                    select(keys.c.data_key).select_from(ImageRecord).join(keys, true())
                    .where(*clauses, func.jsonb_typeof(ImageRecord.data) == "object")
                    .distinct())
            else:
                each = func.json_each(ImageRecord.data).table_valued("key")
                rows = session.execute(select(each.c.key).select_from(ImageRecord)
                                       .join(each, true()).where(*clauses).distinct())
            return sorted(str(row[0]) for row in rows)

    def data_values(self, path: Sequence[str], record_filter: RecordFilter,
                    limit: int = 1000) -> list[Any]:
        """Distinct values at `path`, ordered as a sort on that key would order them."""
        field = JsonField(path, self.dialect)
        clauses = [*self.where(record_filter), field.type_().isnot(None)]
        with self._session() as session:
            rows = session.scalars(select(field.json_text()).where(*clauses).distinct()
                                   .limit(limit))
            values = [json.loads(row) for row in rows]
        return sorted(values, key=_value_order)

    def update_data(self, record_filter: RecordFilter,
                    change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
        """Apply `change` to the data of every matching record; returns how many changed."""
        changed = 0
        last = 0
        while True:
            with self._session() as session, session.begin():
                statement = (select(ImageRecord).where(*self.where(record_filter),
                                                       ImageRecord.id > last)
                             .order_by(ImageRecord.id).limit(500))
                if self.dialect == "postgresql":
                    statement = statement.with_for_update()
                rows = list(session.scalars(statement))
                for record in rows:
                    updated = change(dict(record.data))
                    if updated != record.data:
                        record.data = updated
                        changed += 1
            if len(rows) < 500:
                return changed
            last = rows[-1].id

    def delete(self, record_ids: Sequence[int]) -> int:
        if not record_ids:
            return 0
        with self._session() as session, session.begin():
            result = session.execute(delete(ImageRecord).where(ImageRecord.id.in_(record_ids)))
            return result.rowcount or 0

    def save(self, record: ImageRecord) -> ImageRecord:
        with self._session() as session, session.begin():
            merged = session.merge(record)
            session.flush()
            return merged

    def set_status(self, key: str, status: ImageStatus, when: datetime) -> ImageRecord | None:
        """Mark the image `key` incoming, active or deleted; None if there is no record."""
        with self._session() as session, session.begin():
            record = session.scalar(select(ImageRecord).where(ImageRecord.key == key))
            if record is None:
                return None
            record.status = status.value
            if status is ImageStatus.ACTIVE and record.published_at is None:
                record.published_at = when
            if status is ImageStatus.DELETED:
                record.deleted_at = when
            return record

    def set_ladder(self, key: str, ladder: Sequence[str],
                   color: str | None = None) -> ImageRecord | None:
        """Record the ladder steps the image `key` has (and its colour, when given); None if
        there is no live record."""
        with self._session() as session, session.begin():
            record = session.scalar(select(ImageRecord).where(
                ImageRecord.key == key, ImageRecord.status != ImageStatus.DELETED.value))
            if record is not None:
                record.ladder = list(ladder)
                if color is not None:
                    record.color = color
            return record

    def remove_incoming(self, keys: Iterable[str]) -> int:
        """Delete the records of `keys` that are still incoming (never a published one)."""
        keys = list(keys)
        if not keys:
            return 0
        with self._session() as session, session.begin():
            result = session.execute(delete(ImageRecord).where(
                ImageRecord.key.in_(keys), ImageRecord.status == ImageStatus.INCOMING.value))
            return result.rowcount or 0

    def incoming_before(self, cutoff: datetime) -> list[ImageRecord]:
        with self._session() as session:
            return list(session.scalars(select(ImageRecord).where(
                ImageRecord.status == ImageStatus.INCOMING.value,
                ImageRecord.created_at < cutoff)))

    def count_by_status(self) -> dict[str, int]:
        """Records per status (those with none are left out), from image_counts."""
        with self._session() as session:
            rows = session.execute(select(COUNTS.c.status, COUNTS.c.records)
                                   .where(COUNTS.c.records > 0))
            return {status: int(count) for status, count in rows}

    def check(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def bump_id_sequence(self) -> None:
        """After inserting explicit ids (import), make new ids continue past them."""
        if self.dialect == "postgresql":
            with self.engine.begin() as connection:
                connection.execute(text(
                    "SELECT setval(pg_get_serial_sequence('images', 'id'), "
                    "COALESCE((SELECT max(id) FROM images), 0) + 1, false)"))

    def _session(self) -> Session:
        return self._sessions()


def _after(columns: list[tuple[Any, bool]], cursor: Sequence[Any]) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after `cursor` in the (column, descending) order."""
    if len(cursor) != len(columns):
        raise FilterError("cursor", "not a cursor for this sort order")
    values = [_cursor_bind(key, value) for (key, _), value in zip(columns, cursor,
                                                                 strict=True)]
    alternatives = []
    for i, (key, descending) in enumerate(columns):
        equal_before = [c == v for (c, _), v in zip(columns[:i], values[:i], strict=True)]
        beyond = key < values[i] if descending else key > values[i]
        alternatives.append(and_(*equal_before, beyond))
    # implied by the OR, but lets the database seek with an index on the first key
    first, descending = columns[0]
    leading = first <= values[0] if descending else first >= values[0]
    return and_(leading, or_(*alternatives))


def _cursor_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return value


def _cursor_bind(column: Any, value: Any) -> Any:
    column_type = getattr(column, "type", None)
    if isinstance(column_type, Integer) and (not isinstance(value, int) or
                                             isinstance(value, bool) or
                                             not -(2**31) <= value < 2**31):
        raise FilterError("cursor", "not a cursor for this sort order")
    if isinstance(column_type, Float | Numeric) and (
            isinstance(value, bool) or not isinstance(value, int | float) or
            (isinstance(value, float) and not math.isfinite(value)) or
            (isinstance(value, int) and not -(2**53) <= value <= 2**53)):
        raise FilterError("cursor", "not a cursor for this sort order")
    if isinstance(column_type, UTCDateTime | DateTime):
        if not isinstance(value, str):
            raise FilterError("cursor", "not a cursor for this sort order")
        try:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            return literal(moment.astimezone(UTC), column_type)
        except (ValueError, OverflowError):
            raise FilterError("cursor", "not a cursor for this sort order") from None
    if isinstance(column_type, String | Text) and not isinstance(value, str):
        raise FilterError("cursor", "not a cursor for this sort order")
    return literal(value, column_type) if column_type is not None else literal(value)


def sql_string(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def inlined_sql(expression: ColumnElement[Any], dialect: str) -> str:
    """The SQL of `expression` with its constants written in, for DDL (indexes, triggers)."""
    compiler = postgresql.dialect() if dialect == "postgresql" else sqlite.dialect()
    return str(expression.compile(dialect=compiler, compile_kwargs={"literal_binds": True}))


def _value_order(value: Any) -> tuple[int, float, str]:
    if value is None:
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (1, 0.0, "true" if value else "false")
    if isinstance(value, int | float):
        return (2, float(value), "")
    if isinstance(value, str):
        return (3, 0.0, value)
    return (4, 0.0, json.dumps(value, sort_keys=True))
