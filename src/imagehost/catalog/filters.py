"""The record filter language: query parameters -> a typed RecordQuery (no SQL here)."""


from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from imagehost.catalog.models import MAX_ID
from imagehost.errors import BadRequest
from imagehost.values import (
    InvalidValue,
    comma_list,
    parse_bool,
    parse_datetime,
    parse_int,
    parse_json,
)

FILTER_HELP = """Filters (query parameters):

    data.<key>[.<key>...]=value          equality, value compared as a JSON value
    <key>[.<key>...]=value               any other name: data.<key> equals the string value
                                         (the storage microservice's plain keys)
    filter={"data.<key>": {"$ne": null}} a JSON condition: $eq, $ne, $gt, $gte, $lt, $lte,
                                         $in, $exists on data.<key> paths
    data.<key>__<op>=value               op: ne, gt, gte, lt, lte, in (comma list), exists
    from, to                             upload time bounds (ISO 8601, inclusive)
    status                               incoming, active, deleted (comma list)
    file                                 key prefix
    regex                                RE2 pattern searched in the key
    ids                                  comma list of record ids
    sort                                 comma list of fields or data.<key>, '-' for descending
    order                                1 or -1 (asc, desc): the direction of a one-key sort
    skip, limit, cursor                  paging (limit 1..1000, default 100)
    select                               comma list of fields or data.<key> to return
    all                                  true: allow a bulk operation without any filter

A value that reads as a JSON number, true, false or null is that JSON value; anything else,
or a value in double quotes, is a string. A query holds at most 50 data conditions and 1000
values in them (an `in` list holds at most 100).
"""

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "exists"]
JsonScalar = str | int | float | bool | None

OPERATORS: tuple[Operator, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")
SYSTEM_FIELDS = ("id", "file", "time", "status", "format", "width", "height", "bytes",
                 "sha256", "published")
STATUSES = ("incoming", "active", "deleted")
ORDERS = ("1", "-1", "asc", "desc", "ascending", "descending")
"""The values of `order`; the descending ones:"""
DESCENDING_ORDERS = ("-1", "desc", "descending")
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_IN_VALUES = 100
MAX_CONDITIONS = 50
"""Most data conditions in one query (each is an SQL expression the database must nest)."""
MAX_QUERY_VALUES = 1000
"""Most values the data conditions of one query compare with, `__in` lists included."""
MAX_REGEX_LENGTH = 256
# RE2 syntax that PostgreSQL reads differently or refuses: refused, so both databases agree.
_NON_PORTABLE_REGEX = re.compile(
    r"\\[bBzZAGpPQEC]|\(\?P?<|\(\?[-a-zA-Z]|\[:\^|\[\.|\[=|"
    r"\{\d*,?(?:[3-9]\d\d|2[6-9]\d|25[6-9]|\d{4,})|"
    r"(?:^|[\^$|]|\((?!\?))[*+?{]")  # a quantifier with nothing to repeat
_SEGMENT = re.compile(r"^[\w-]{1,64}$", re.UNICODE)
RESERVED = ("from", "to", "status", "file", "regex", "ids", "sort", "order", "skip", "limit",
            "cursor", "select", "all", "filter")
"""Parameter names of the filter language; every other name filters data by equality."""
_MONGO_OPERATORS = {"$eq": "eq", "$ne": "ne", "$gt": "gt", "$gte": "gte", "$lt": "lt",
                    "$lte": "lte", "$in": "in", "$exists": "exists"}


class FilterError(BadRequest):
    """A malformed query parameter; the message names it."""

    code = "bad_filter"

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"Parameter {parameter!r}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class DataCondition:
    path: tuple[str, ...]
    op: Operator
    value: JsonScalar | tuple[JsonScalar, ...]


@dataclass(frozen=True)
class SortKey:
    field: str | None
    """A system field, or None when sorting by `path` in data."""
    path: tuple[str, ...] = ()
    descending: bool = False


@dataclass(frozen=True)
class RecordFilter:
    data: tuple[DataCondition, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None
    statuses: tuple[str, ...] | None = None
    file_prefix: str | None = None
    regex: str | None = None
    ids: tuple[int, ...] | None = None
    published_from: datetime | None = None
    published_to: datetime | None = None

    @property
    def empty(self) -> bool:
        return self == RecordFilter()


@dataclass(frozen=True)
class RecordQuery:
    filter: RecordFilter = field(default_factory=RecordFilter)
    sort: tuple[SortKey, ...] = (SortKey("time"), SortKey("id"))
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    cursor: tuple[object, ...] | None = None
    select: tuple[str, ...] | None = None
    all: bool = False


def parse_query(params: Iterable[tuple[str, str]],
                extra_reserved: Iterable[str] = ()) -> RecordQuery:
    """Parse query parameters (in order, repeated names allowed) into a RecordQuery.
    Parameters named in `extra_reserved` belong to the caller and are ignored here."""
    ignored = set(extra_reserved)
    conditions: list[DataCondition] = []
    options: dict[str, str] = {}
    for name, value in params:
        if name in ignored:
            continue
        if "\x00" in name or "\x00" in value:
            raise FilterError(name, "NUL characters are not allowed")
        if name.startswith("data."):
            conditions.append(parse_condition(name, value))
        elif name in RESERVED:
            if name in options:
                raise FilterError(name, "given more than once")
            options[name] = value
        elif name == "data":
            raise FilterError(name, "filter user data as data.<key>")
        else:
            conditions.append(DataCondition(parse_path(name, name), "eq", value))
    if "filter" in options:
        conditions.extend(parse_json_filter(options["filter"]))
    _check_query_size(conditions)
    record_filter = RecordFilter(
        data=tuple(conditions),
        time_from=_time(options, "from"),
        time_to=_time(options, "to"),
        statuses=_statuses(options.get("status")),
        file_prefix=options.get("file") or None,
        regex=_regex(options.get("regex")),
        ids=_ids(options.get("ids")),
    )
    sort = _sort(options.get("sort"), options.get("order"))
    return RecordQuery(
        filter=record_filter,
        sort=sort,
        skip=_integer(options, "skip", 0, 0, 10**9),
        limit=_integer(options, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        cursor=decode_cursor(options["cursor"]) if "cursor" in options else None,
        select=_select(options.get("select")),
        all=_boolean(options, "all"),
    )


def _check_query_size(conditions: list[DataCondition]) -> None:
    """The whole query's bounds; the error names the first condition past them."""
    values = 0
    for count, condition in enumerate(conditions, 1):
        values += len(condition.value) if isinstance(condition.value, tuple) else 1
        where = "data." + ".".join(condition.path)
        if count > MAX_CONDITIONS:
            raise FilterError(where, f"{len(conditions)} data conditions; a query holds at "
                                     f"most {MAX_CONDITIONS}")
        if values > MAX_QUERY_VALUES:
            raise FilterError(where, f"more than {MAX_QUERY_VALUES} values in the data "
                                     f"conditions; a query holds at most {MAX_QUERY_VALUES}")


def parse_condition(name: str, raw: str) -> DataCondition:
    key, _, op = name.removeprefix("data.").partition("__")
    path = parse_path(key, name)
    operator = op or "eq"
    if operator not in OPERATORS:
        raise FilterError(name, f"unknown operator {operator!r}; use one of "
                                f"{', '.join(o for o in OPERATORS if o != 'eq')}")
    if operator == "in":
        values = tuple(parse_value(part) for part in raw.split(","))
        if len(values) > MAX_IN_VALUES:
            raise FilterError(name, f"at most {MAX_IN_VALUES} values")
        return DataCondition(path, "in", values)
    if operator == "exists":
        return DataCondition(path, "exists", _flag(name, raw))
    value = parse_value(raw)
    if operator in ("gt", "gte", "lt", "lte") and (isinstance(value, bool) or value is None):
        raise FilterError(name, "compare with a number or a string")
    return DataCondition(path, operator, value)


def parse_json_filter(raw: str) -> list[DataCondition]:
    """The storage microservice's `filter` JSON, for the conditions it can mean on data:
    {"data.<key>": value} or {"data.<key>": {"$op": value, ...}}, typed JSON values."""
    try:
        document = parse_json(raw)
    except InvalidValue as exc:
        raise FilterError("filter", f"malformed JSON: {exc}") from None
    if not isinstance(document, dict):
        raise FilterError("filter", "expected a JSON object of data.<key> conditions")
    conditions: list[DataCondition] = []
    for key, spec in document.items():
        if not isinstance(key, str) or not key.startswith("data."):
            raise FilterError("filter", f"{key!r}: only data.<key> conditions are supported")
        path = parse_path(key.removeprefix("data."), "filter")
        if isinstance(spec, dict) and spec and all(str(k).startswith("$") for k in spec):
            for operator, value in spec.items():
                conditions.extend(_json_condition(path, operator, value))
        else:
            conditions.extend(_json_condition(path, "$eq", spec))
    return conditions


def _json_condition(path: tuple[str, ...], operator: str,
                    value: object) -> list[DataCondition]:
    op = _MONGO_OPERATORS.get(operator)
    if op is None:
        raise FilterError("filter", f"unsupported operator {operator!r}; use one of "
                                    f"{', '.join(_MONGO_OPERATORS)}")
    if op == "exists":
        if not isinstance(value, bool):
            raise FilterError("filter", "$exists takes true or false")
        return [DataCondition(path, "exists", value)]
    if op == "in":
        if not isinstance(value, list) or len(value) > MAX_IN_VALUES or \
                not all(_scalar(v) for v in value):
            raise FilterError("filter", f"$in takes a list of at most {MAX_IN_VALUES} values")
        return [DataCondition(path, "in", tuple(value))]
    if not _scalar(value):
        raise FilterError("filter", f"{operator} takes a number, string, boolean or null")
    if op in ("gt", "gte", "lt", "lte") and (isinstance(value, bool) or value is None):
        raise FilterError("filter", f"{operator} compares with a number or a string")
    if op == "ne" and value is None:  # as MongoDB: the key is there and not null
        return [DataCondition(path, "exists", True), DataCondition(path, "ne", None)]
    return [DataCondition(path, op, value)]  # type: ignore[arg-type]


def _scalar(value: object) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return value is None or isinstance(value, str | int | float | bool)


def parse_path(key: str, parameter: str) -> tuple[str, ...]:
    segments = tuple(key.split("."))
    if not key or len(segments) > 16 or not all(_SEGMENT.match(s) for s in segments):
        raise FilterError(parameter, "keys are letters, digits, _ or -, joined by dots")
    return segments


def parse_value(raw: str) -> JsonScalar:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    try:
        value = parse_json(raw, max_depth=0)  # a JSON scalar; 1e400 and NaN are not JSON
    except InvalidValue:
        return raw
    return value if isinstance(value, int | float | bool) or value is None else raw


def encode_cursor(values: Iterable[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[object, ...]:
    try:
        values = parse_json(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)),
                            max_depth=1)
    except (binascii.Error, ValueError):
        raise FilterError("cursor", "not a cursor this service returned") from None
    if not isinstance(values, list) or not 1 <= len(values) <= 32 or \
            not all(isinstance(v, str | int | float) for v in values):
        raise FilterError("cursor", "not a cursor for this sort order")
    return tuple(values)


def _time(options: dict[str, str], name: str) -> datetime | None:
    raw = options.get(name)
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except InvalidValue as exc:
        raise FilterError(name, str(exc)) from None


def _statuses(raw: str | None) -> tuple[str, ...] | None:
    if not raw:
        return None
    values = comma_list(raw)
    unknown = [v for v in values if v not in STATUSES]
    if unknown:
        raise FilterError("status", f"{', '.join(unknown)} not one of {', '.join(STATUSES)}")
    return values


def _regex(raw: str | None) -> str | None:
    if not raw:
        return None
    if len(raw) > MAX_REGEX_LENGTH:
        raise FilterError("regex", f"at most {MAX_REGEX_LENGTH} characters")
    import re2

    try:
        re2.compile(raw)
    except re2.error as exc:
        raise FilterError("regex", f"not a valid RE2 pattern ({exc})") from None
    if _NON_PORTABLE_REGEX.search(raw):
        raise FilterError("regex", "\\b, \\B, \\A, \\z, \\p{...}, named groups, inline flags and "
                                   "repetitions over 255 are not supported")
    return raw


def _ids(raw: str | None) -> tuple[int, ...] | None:
    if raw is None:
        return None
    try:
        ids = tuple(parse_int(part, 1, MAX_ID) for part in comma_list(raw))
    except InvalidValue:
        raise FilterError("ids", f"expected a comma-separated list of ids 1..{MAX_ID}") from None
    if len(ids) > MAX_LIMIT:
        raise FilterError("ids", f"at most {MAX_LIMIT} ids")
    return ids


def _sort(raw: str | None, order: str | None) -> tuple[SortKey, ...]:
    if not raw:
        if order is not None:
            raise FilterError("order", "goes with sort")
        return RecordQuery.sort
    keys: list[SortKey] = []
    for part in comma_list(raw):
        descending = part.startswith("-")
        name = part.removeprefix("-").removeprefix("+")
        name = "id" if name == "_id" else name  # the storage microservice's name
        if name.startswith("data."):
            keys.append(SortKey(None, parse_path(name.removeprefix("data."), "sort"), descending))
        elif name in SYSTEM_FIELDS:
            keys.append(SortKey(name, (), descending))
        else:
            raise FilterError("sort", f"{name!r} is not data.<key> or one of "
                                      f"{', '.join(SYSTEM_FIELDS)}")
    if len(keys) > 4:
        raise FilterError("sort", "at most 4 keys")
    if order is not None:
        if len(keys) != 1 or raw.lstrip().startswith(("-", "+")):
            raise FilterError("order", "goes with one sort key without a sign")
        direction = order.strip().lower()
        if direction not in ORDERS:
            raise FilterError("order", "expected 1, -1, asc or desc")
        keys = [replace(keys[0], descending=direction in DESCENDING_ORDERS)]
    return tuple(keys)


def _select(raw: str | None) -> tuple[str, ...] | None:
    if not raw:
        return None
    names = tuple(name for part in comma_list(raw) for name in part.split())
    for name in names:
        if name.startswith("data."):
            parse_path(name.removeprefix("data."), "select")
        elif name not in (*SYSTEM_FIELDS, "data", "variants"):
            raise FilterError("select", f"{name!r} is not a field")
    return names


def _integer(options: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        return parse_int(raw, low, high)
    except InvalidValue as exc:
        raise FilterError(name, str(exc)) from None


def _boolean(options: dict[str, str], name: str) -> bool:
    return _flag(name, options.get(name, "false"))


def _flag(name: str, raw: str) -> bool:
    try:
        return parse_bool(raw)
    except InvalidValue as exc:
        raise FilterError(name, str(exc)) from None
