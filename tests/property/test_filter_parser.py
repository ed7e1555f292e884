"""Property tests of the record filter language (imagehost.catalog.filters) and of its SQL
(imagehost.catalog.records), on SQLite and PostgreSQL.

* Any list of query parameters either parses into a RecordQuery or raises FilterError (an HTTP
  400), never anything else, and parsing is deterministic.
* Any query that parses runs on a real catalog (count, page with sort/skip/cursor, export
  iteration, field listings) or raises FilterError: no other exception (an HTTP 500).
* On the same seeded data set, SQLite and PostgreSQL return the same ids for equality filters
  (and, as records.py promises, for every operator and in the same order), and following
  next_cursor gives back the full listing page by page.

Inputs that broke a property once are kept as explicit regression cases below
(KNOWN_QUERIES), so each such bug fails under its own name.
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import event, example, given, note, settings
from hypothesis import strategies as st

from imagehost.catalog import filters
from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.filters import (
    MAX_LIMIT,
    OPERATORS,
    STATUSES,
    SYSTEM_FIELDS,
    FilterError,
    RecordQuery,
    encode_cursor,
    parse_query,
    parse_value,
)
from imagehost.catalog.models import ImageRecord
from imagehost.catalog.records import RecordCatalog
from imagehost.errors import BadRequest
from tests.kit.servers import FreshPostgresDatabase

RESERVED = tuple(sorted({"from", "to", "status", "file", "regex", "ids", "sort", "skip", "limit",
                        "cursor", "select", "all"} | set(filters.RESERVED)))
"""The documented parameters, and any the parser has gained since (they get generic values,
or time values for a name ending in _from or _to)."""
# With the schemathesis pytest plugin loaded (it is, as schemathesis is installed), Hypothesis
# prints the arguments of a failing case as blanks: every property note()s its input.

# ---------------------------------------------------------------------------- the data set

SEED = 20240501
RECORD_COUNT = 40
NUMBERS: list[Any] = [0, 1, -1, 2, 3, 1.5, -0.25, 0.1, 1e-7, 1e20, 10**15, 2**53, 2**53 + 1,
                      -(2**63), 2**64]
STRINGS: list[Any] = ["", "a", "A", "b", "ab", "a b", "é", "e\u0301", "日本", "🙂", "Ω", "1", "1.5",
                      "true", "null", '"q"', "a,b", "plots/"]
SCALARS: list[Any] = [*NUMBERS, *STRINGS, True, False, None]
CONTAINERS: list[Any] = [[1, 2], ["a"], [], {}, {"k": 1}, [{"k": 1}]]
DATA_PATHS: list[tuple[str, ...]] = [
    ("n",), ("s",), ("mixed",), ("flag",), ("é",), ("key-1",), ("nested",), ("nested", "k"),
    ("nested", "deep", "x"), ("arr",), ("arr", "0"), ("missing",), ("n", "k")]
KNOWN_KEYS = [".".join(path) for path in DATA_PATHS]
T0 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def seeded_records() -> list[ImageRecord]:
    """The same RECORD_COUNT records on every database (ids 1..RECORD_COUNT in order)."""
    rng = random.Random(SEED)
    records = []
    for i in range(1, RECORD_COUNT + 1):
        data: dict[str, Any] = {}
        for key, pool in (("n", NUMBERS), ("s", STRINGS), ("mixed", SCALARS + CONTAINERS),
                          ("flag", [True, False, None]), ("é", STRINGS), ("key-1", SCALARS)):
            if rng.random() < 0.6:
                data[key] = rng.choice(pool)
        if rng.random() < 0.5:
            data["nested"] = rng.choice([
                {"k": rng.choice(SCALARS), "deep": {"x": rng.choice(SCALARS)}},
                {"k": rng.choice(SCALARS)}, rng.choice(SCALARS)])
        if rng.random() < 0.4:
            data["arr"] = rng.choice([[rng.choice(SCALARS), rng.choice(SCALARS)],
                                      {"0": rng.choice(SCALARS)}, rng.choice(SCALARS)])
        status = rng.choice(STATUSES)
        # a few equal times, so sorting on time must fall back on id
        created = T0 + timedelta(seconds=rng.randrange(0, 30) * 3600, microseconds=i % 3)
        folder = rng.choice(["plots/site_1", "plots/site-1", "50%", "é/ü", "a"])
        records.append(ImageRecord(
            key=f"{folder}/img_{i:03d}.jpg", status=status, format=rng.choice(["jpeg", "png"]),
            width=rng.randrange(1, 5) * 100, height=rng.randrange(1, 5) * 100,
            bytes=rng.randrange(1, 10**6), sha256=f"{rng.getrandbits(256):064x}", variants=[],
            data=data, created_at=created,
            published_at=None if status == "incoming" else created + timedelta(minutes=i % 7)))
    return records


def open_catalog(url: str) -> RecordCatalog:
    engine = create_catalog_engine(url)
    migrate(engine)
    catalog = RecordCatalog(engine)
    for record in seeded_records():
        catalog.save(record)
    return catalog


@pytest.fixture(scope="module")
def sqlite_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordCatalog]:
    catalog = open_catalog(f"sqlite:///{tmp_path_factory.mktemp('filters') / 'catalog.db'}")
    yield catalog
    catalog.engine.dispose()


@pytest.fixture(scope="module")
def postgresql_catalog(postgres_server_url: str) -> Iterator[RecordCatalog]:
    with FreshPostgresDatabase(postgres_server_url) as url:
        catalog = open_catalog(url)
        yield catalog
        catalog.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest) -> RecordCatalog:
    """The seeded catalog on each database, as tests.kit.servers.catalog_url parametrizes; one
    database per module and dialect (a database per test made this file 3 times slower)."""
    return request.getfixturevalue(f"{request.param}_catalog")


@pytest.fixture(scope="module")
def both(sqlite_catalog: RecordCatalog,
         postgresql_catalog: RecordCatalog) -> dict[str, RecordCatalog]:
    return {"sqlite": sqlite_catalog, "postgresql": postgresql_catalog}


# ---------------------------------------------------------------------------- strategies


def comma_list(elements: st.SearchStrategy[str], max_size: int = 5) -> st.SearchStrategy[str]:
    return st.lists(elements, max_size=max_size).map(",".join)


def query_text(value: Any, quote: bool = False) -> str:
    """How a client writes the JSON scalar `value` as a filter value (see FILTER_HELP)."""
    if isinstance(value, str):
        plain = parse_value(value)
        return value if not quote and isinstance(plain, str) and plain == value \
            else f'"{value}"'
    return json.dumps(value)


SEGMENT = st.from_regex(r"[\w-]{1,8}", fullmatch=True)
KEY = st.one_of(
    st.sampled_from(KNOWN_KEYS), st.lists(SEGMENT, min_size=1, max_size=3).map(".".join),
    st.text(max_size=12),
    st.sampled_from(["", ".", "a..b", "a.", ".".join("a" * 17), "x" * 65, "a b", 'a"b', "a$",
                     "[0]"]))
OP_SUFFIX = st.one_of(
    st.just(""), st.sampled_from(OPERATORS).map("__{}".format),
    st.text(max_size=6).map("__{}".format),
    st.sampled_from(["__", "__EQ", "__in__in", "__gt ", "__exists__ne"]))
DATA_NAME = st.builds(lambda key, op: f"data.{key}{op}", KEY, OP_SUFFIX)
NAME = st.one_of(st.sampled_from(RESERVED), DATA_NAME, st.text(max_size=12),
                 st.sampled_from(["data", "data.", "Data.x", "FROM", " limit", "data__gt"]))

SPECIAL_VALUES = [
    "", " ", "NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1e-999",
    "9" * 30, "-" + "9" * 30, "9" * 400, "9" * 5000, "0", "-0", "0.0", "-0.0", "1.5", "1e3",
    "1E+2", ".5", "0x10", "1_000", " 7 ", "\u0663", "true", "false", "null", "True", "None",
    '""', '"', '"1"', '"true"', '"a"b"', "[]", "{}", "[1]", '{"a":1}', "\x00", "a\x00b", "%00",
    "\\", "'", ",", ",,", "a,b", "🙂", "é", "\u200b", "\ufeff1", "\U0010ffff"]
NUMBER_TEXT = st.one_of(
    st.integers().map(str), st.floats().map(repr), st.floats().map(str),
    st.integers(min_value=10**18, max_value=10**40).map(str),
    st.integers(min_value=2**53 - 2, max_value=2**53 + 2).map(str))
VALUE = st.one_of(
    st.text(max_size=20), st.sampled_from(SPECIAL_VALUES), NUMBER_TEXT,
    st.text(max_size=10).map('"{}"'.format),
    st.builds(query_text, st.sampled_from(SCALARS), st.booleans()))

TIMEZONE = st.one_of(st.none(), st.just(UTC), st.builds(timezone, st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))))
WELL_FORMED_TIME = st.one_of(
    st.datetimes(timezones=TIMEZONE).map(datetime.isoformat),
    st.datetimes(min_value=datetime(2024, 4, 30), max_value=datetime(2024, 5, 3),
                 timezones=TIMEZONE).map(datetime.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(["2024-05-01T10:00Z", "0001-01-01T00:00:00+00:00", "0001-01-01",
                     "9999-12-31T23:59:59.999999+00:00", "9999-12-31"]))
TIME_TEXT = WELL_FORMED_TIME | st.sampled_from([
    "2024", "2024-13-01", "2024-05-01T25:00", "Z", "2024-05-01Z", "yesterday",
    "2024-05-01T10:00:00.123456789"])
VALID_REGEXES = ["", ".*", "^plots/", "jpg$", "(?i)JPG", "img_0[0-9]+", "(?P<n>a)", r"\Qa.b\E",
                 r"\pL", r"\p{Greek}", r"(?U)a+", r"\z", r"\A", "[[:word:]]", r"\C", "(?s).",
                 "a{2,}", "a{1000}", r"\b", r"\d+_\d+", "(?:a|b)", "x*?", r"\x{263a}",
                 r"[^\x00-\x7f]", "\x00", "%", "_", "a" * 256]
WELL_FORMED_REGEX = st.one_of(
    st.sampled_from(VALID_REGEXES), st.lists(st.sampled_from(VALID_REGEXES[:26]), min_size=1,
                                             max_size=3).map("".join),
    st.from_regex(r"[a-z0-9_/.%-]{1,8}", fullmatch=True))
REGEX = WELL_FORMED_REGEX | st.text(max_size=16) | st.sampled_from(
    ["a{1001}", "(", "[", r"(a)\1", "(?=a)", "a" * 257])
WELL_FORMED_ID = st.one_of(
    st.integers(min_value=-2, max_value=RECORD_COUNT + 2).map(str), st.integers().map(str),
    st.sampled_from([" 3", "9" * 20, "2147483648", "9223372036854775808", "-9223372036854775809"]))
INTEGER_TEXT = st.one_of(st.integers().map(str), st.sampled_from([
    "", " 5", "1_0", "\u0661\u0660", "5.0", "-0", "-1", "0", "1001", "1000000001", "9" * 30,
    "0x1"]))
ID_TEXT = WELL_FORMED_ID | st.sampled_from(["", " ", "x", "1.0", "\u0663"])
WELL_FORMED_SORT = st.lists(st.builds(str.__add__, st.sampled_from(["", "-", "+"]), st.one_of(
    st.sampled_from(SYSTEM_FIELDS), st.sampled_from(KNOWN_KEYS).map("data.{}".format))),
    min_size=1, max_size=4).map(",".join)
SORT_FIELD = st.one_of(st.sampled_from(SYSTEM_FIELDS), KEY.map("data.{}".format),
                       st.sampled_from(KNOWN_KEYS).map("data.{}".format), st.text(max_size=6))
SORT_TEXT = WELL_FORMED_SORT | comma_list(
    st.builds(str.__add__, st.sampled_from(["", "-", "+", "--", "-+", " "]), SORT_FIELD),
    max_size=6)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                        st.text(max_size=10), st.integers(min_value=-1, max_value=6),
                        st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
                        st.sampled_from(["", "x", "2024-05-01T10:00:00+00:00", "0001-01-01"]))
WELL_FORMED_CURSOR = st.sampled_from([1, 2, 2, 2, 3, 4, 5, 7]).flatmap(
    lambda size: st.lists(JSON_SCALAR, min_size=size, max_size=size)).map(encode_cursor)
"""A base64 JSON list (one value per sort column: the default sort has 2, a data key 3)."""
CURSOR_TEXT = WELL_FORMED_CURSOR | st.one_of(
    st.lists(st.one_of(JSON_SCALAR, st.lists(st.integers(), max_size=2)), max_size=40)
    .map(encode_cursor),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.text(max_size=20), st.sampled_from(["", "=", "====", "W10", "e30", "bnVsbA", "WzFd"]))
WELL_FORMED_SELECT = comma_list(st.one_of(
    st.sampled_from([*SYSTEM_FIELDS, "data", "variants"]),
    st.sampled_from(KNOWN_KEYS).map("data.{}".format)), max_size=4)
SELECT_TEXT = WELL_FORMED_SELECT | comma_list(st.one_of(
    st.sampled_from([" id", "ID", "data.", "data"]), KEY.map("data.{}".format),
    st.text(max_size=6)))
WELL_FORMED_FILE = st.sampled_from(["plots/", "plots/site_1", "plots/site-1", "50%", "é/", "a_",
                                    "%", "_", "\\", "a/img_001.jpg", "\x00"]) | st.text(max_size=12)


def value_for(name: str, well_formed: bool) -> st.SearchStrategy[str]:
    """Values made for the parameter `name`: well-formed ones (that the parser should accept,
    though they may be extreme), or also malformed ones."""
    if name.startswith("data."):
        if name.endswith("__in"):
            return comma_list(VALUE, max_size=4) | st.just(",".join(["1"] * 101))
        if name.endswith("__exists"):
            return st.sampled_from(["true", "false"]) if well_formed \
                else st.sampled_from(["true", "false", "TRUE", "1", ""]) | VALUE
        return VALUE
    if name.endswith(("_from", "_to")):
        return WELL_FORMED_TIME if well_formed else TIME_TEXT
    integer = st.integers(min_value=0 if name == "skip" else 1,
                          max_value=10**9 if name == "skip" else MAX_LIMIT).map(str)
    if well_formed:
        return {
            "from": WELL_FORMED_TIME, "to": WELL_FORMED_TIME,
            "status": comma_list(st.sampled_from(STATUSES), max_size=3),
            "file": WELL_FORMED_FILE, "regex": WELL_FORMED_REGEX,
            "ids": comma_list(WELL_FORMED_ID, max_size=6), "sort": WELL_FORMED_SORT,
            "skip": integer, "limit": integer, "cursor": WELL_FORMED_CURSOR,
            "select": WELL_FORMED_SELECT, "all": st.sampled_from(["true", "false"]),
        }.get(name, VALUE)
    return {
        "from": TIME_TEXT, "to": TIME_TEXT,
        "status": comma_list(st.sampled_from([*STATUSES, " active", "ACTIVE", "", "bogus"])),
        "file": WELL_FORMED_FILE, "regex": REGEX, "ids": comma_list(ID_TEXT, max_size=6),
        "sort": SORT_TEXT, "skip": integer | INTEGER_TEXT, "limit": integer | INTEGER_TEXT,
        "cursor": CURSOR_TEXT, "select": SELECT_TEXT,
        "all": st.sampled_from(["true", "false", "TRUE", "1", "", "yes"]),
    }.get(name, VALUE)


PAIR = NAME.flatmap(lambda name: st.tuples(st.just(name), value_for(name, False) | VALUE))
QUERY = st.one_of(st.lists(PAIR, max_size=6), st.lists(PAIR, max_size=6, unique_by=lambda p: p[0]))
"""Anything: repeated and unknown names, malformed values."""

WELL_FORMED_DATA_NAME = st.builds(
    lambda key, op: f"data.{key}{op}",
    st.sampled_from(KNOWN_KEYS) | st.lists(SEGMENT, min_size=1, max_size=2).map(".".join),
    st.sampled_from(["", *(f"__{op}" for op in OPERATORS if op != "eq")]))
WELL_FORMED_PAIR = (st.sampled_from(RESERVED) | WELL_FORMED_DATA_NAME).flatmap(
    lambda name: st.tuples(st.just(name), value_for(name, True)))
WELL_FORMED_QUERY = st.lists(WELL_FORMED_PAIR, max_size=4, unique_by=lambda p: p[0])
"""Queries that mostly parse (a data value may still be refused, e.g. gt with true), so that
the SQL side gets exercised."""
SOME_QUERY = st.one_of(WELL_FORMED_QUERY, WELL_FORMED_QUERY, QUERY)


def outcome(params: list[tuple[str, str]]) -> tuple[str, ...]:
    """('ok', repr of the query) or ('error', parameter, message); anything else raises."""
    try:
        query = parse_query(params)
    except FilterError as exc:
        return ("error", exc.parameter, exc.message)
    assert isinstance(query, RecordQuery)
    return ("ok", repr(query))  # repr, not ==: a cursor may hold NaN, which != itself


# ---------------------------------------------------------------------------- parser only


@settings(max_examples=400, deadline=None)
@given(params=SOME_QUERY)
def test_parse_query_returns_a_query_or_raises_filter_error_deterministically(
        params: list[tuple[str, str]]) -> None:
    note(f"params={params!r}")
    first = outcome(params)

    assert outcome(params) == first
    assert outcome(list(params)) == first
    event(first[0])
    if first[0] == "error":
        assert issubclass(FilterError, BadRequest) and FilterError.status == 400
        assert first[1] in {name for name, _ in params}, "the error names a given parameter"
        return
    query = parse_query(params)
    assert 0 <= query.skip <= 10**9
    assert 1 <= query.limit <= MAX_LIMIT
    assert 1 <= len(query.sort) <= 4
    assert query.filter.statuses is None or set(query.filter.statuses) <= set(STATUSES)
    for condition in query.filter.data:
        assert condition.op in OPERATORS
        assert not (isinstance(condition.value, float) and math.isnan(condition.value))


def test_parse_value_reads_json_scalars_and_keeps_the_rest_as_strings() -> None:
    assert [parse_value(v) for v in ("1", "-2.5", "true", "null", '"1"', "NaN", "x", "")] == \
        [1, -2.5, True, None, "1", "NaN", "x", ""]
    for value in SCALARS:
        for quote in (False, True):
            parsed = parse_value(query_text(value, quote))
            assert type(parsed) is type(value) and parsed == value, (value, quote)


# ---------------------------------------------------------------------------- SQL


def run_query(catalog: RecordCatalog, query: RecordQuery) -> None:
    """Everything the HTTP routes do with a parsed query (GET /images, /images/fields,
    /images/fields/{name}, /export); only FilterError may come out."""
    catalog.page(query)
    for _ in catalog.iterate(query.filter, batch=16):
        pass
    catalog.data_keys(query.filter)
    for key in query.sort:
        if key.field is None:
            catalog.data_values(key.path, query.filter)


def runs_or_refuses(catalog: RecordCatalog, params: list[tuple[str, str]]) -> str:
    try:
        query = parse_query(params)
    except FilterError:
        return "refused by the parser"
    try:
        run_query(catalog, query)
    except FilterError:
        return "refused by the catalog"
    return "ran"


def test_any_query_runs_on_the_catalog_or_raises_filter_error(seeded: RecordCatalog) -> None:
    examples = 300 if seeded.dialect == "sqlite" else 80

    @settings(max_examples=examples, deadline=None)
    @given(params=WELL_FORMED_QUERY)
    def check(params: list[tuple[str, str]]) -> None:
        note(f"params={params!r}")
        runs_or_refuses(seeded, params)

    check()


def test_any_cursor_with_any_sort_runs_or_raises_filter_error(seeded: RecordCatalog) -> None:
    """Cursors come back from clients: a forged or stale one must be refused, not crash."""
    examples = 150 if seeded.dialect == "sqlite" else 60

    @settings(max_examples=examples, deadline=None)
    @given(sort=st.none() | WELL_FORMED_SORT, token=WELL_FORMED_CURSOR)
    def check(sort: str | None, token: str) -> None:
        note(f"sort={sort!r} cursor={token!r} = {base64.urlsafe_b64decode(token + '==')!r}")
        runs_or_refuses(seeded, [("cursor", token), *([("sort", sort)] if sort else [])])

    check()


def cursor(*values: Any) -> str:
    return encode_cursor(values)


KNOWN_QUERIES = [
    # ids beyond the id column's range
    pytest.param([("ids", "99999999999999999999")], id="ids-beyond-int64"),
    pytest.param([("ids", "2147483648")], id="ids-beyond-int32"),
    # numbers that are not JSON, or beyond a double
    pytest.param([("data.n", "Infinity")], id="eq-Infinity"),
    pytest.param([("data.n", "1e999")], id="eq-1e999"),
    pytest.param([("data.n", "-Infinity")], id="eq-minus-Infinity"),
    pytest.param([("data.n__in", "1,Infinity")], id="in-Infinity"),
    pytest.param([("data.n__ne", "Infinity")], id="ne-Infinity"),
    pytest.param([("data.n", str(2**63))], id="eq-2**63"),
    pytest.param([("data.n__lt", str(-(2**63) - 1))], id="lt-minus-2**63-1"),
    pytest.param([("data.n", "9" * 400)], id="eq-400-digit-integer"),
    pytest.param([("data.n__gt", "9" * 400)], id="gt-400-digit-integer"),
    # NUL characters (a query string may carry %00)
    pytest.param([("data.s", "\x00")], id="eq-NUL"),
    pytest.param([("data.s__gt", "\x00")], id="gt-NUL"),
    pytest.param([("file", "\x00")], id="file-NUL"),
    pytest.param([("regex", "\x00")], id="regex-NUL"),
    # RE2 syntax (validated by the parser) that PostgreSQL's regular expressions refuse
    pytest.param([("regex", "(?P<n>a)")], id="regex-named-group"),
    pytest.param([("regex", r"\Qa.b\E")], id="regex-quote"),
    pytest.param([("regex", r"\pL")], id="regex-unicode-class"),
    pytest.param([("regex", "(?U)a+")], id="regex-ungreedy-flag"),
    pytest.param([("regex", r"\z")], id="regex-end-of-text"),
    pytest.param([("regex", r"\C")], id="regex-any-byte"),
    pytest.param([("regex", "[[:^alpha:]]")], id="regex-negated-posix-class"),
    pytest.param([("regex", "(?-m)a")], id="regex-flag-off"),
    # times whose conversion to UTC leaves datetime's range
    pytest.param([("from", "0001-01-01T00:00:00+01:00")], id="from-year-1-east-of-utc"),
    pytest.param([("to", "9999-12-31T23:59:59-01:00")], id="to-year-9999-west-of-utc"),
    # cursors: the one the service returns for the default sort, and forged ones
    pytest.param([("cursor", cursor("2024-05-01T10:00:00.123456+00:00", 1))],
                 id="cursor-default-sort"),
    pytest.param([("sort", "published"), ("cursor", cursor("2024-05-01T10:00:00+00:00", 1))],
                 id="cursor-published-sort"),
    pytest.param([("cursor", cursor("x", 1))], id="cursor-time-not-a-time"),
    pytest.param([("cursor", cursor(1.5, 1))], id="cursor-time-a-number"),
    pytest.param([("sort", "id"), ("cursor", cursor("a"))], id="cursor-id-a-string"),
    pytest.param([("sort", "id"), ("cursor", cursor(2**31))], id="cursor-id-beyond-int32"),
    pytest.param([("sort", "id"), ("cursor", cursor(2**70))], id="cursor-id-beyond-int64"),
    pytest.param([("sort", "width"), ("cursor", cursor(1.5, 1))], id="cursor-width-a-float"),
    pytest.param([("sort", "data.n"), ("cursor", cursor("x", 0, "", 1))],
                 id="cursor-data-rank-a-string"),
    pytest.param([("sort", "data.n"), ("cursor", cursor(2, "x", "", 1))],
                 id="cursor-data-number-a-string"),
    pytest.param([("sort", "data.n"), ("cursor", cursor(2, True, "", 1))],
                 id="cursor-data-number-a-boolean"),
    pytest.param([("sort", "data.n"), ("cursor", cursor(3, 0, 5, 1))],
                 id="cursor-data-label-a-number"),
    pytest.param([("sort", "file"), ("cursor", cursor(5, 1))], id="cursor-file-a-number"),
]


@pytest.mark.parametrize("params", KNOWN_QUERIES)
def test_known_hard_queries_run_or_raise_filter_error(seeded: RecordCatalog,
                                                      params: list[tuple[str, str]]) -> None:
    runs_or_refuses(seeded, params)


# ---------------------------------------------------------------------------- SQLite = PostgreSQL


def ids(catalog: RecordCatalog, params: list[tuple[str, str]]) -> list[int]:
    page = catalog.page(parse_query([*params, ("limit", str(MAX_LIMIT))]))
    return [record.id for record in page.records]


def json_type(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    return "number" if isinstance(value, int | float) else type(value).__name__


MISSING = object()


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    for segment in path:
        if not isinstance(data, dict) or segment not in data:
            return MISSING
        data = data[segment]
    return data


def expected_equal(path: tuple[str, ...], value: Any) -> list[int]:
    """Python's answer: the value at `path` has the same JSON type and is equal."""
    matches = []
    for record_id, record in enumerate(seeded_records(), start=1):
        found = lookup(record.data, path)
        if found is not MISSING and json_type(found) == json_type(value) and found == value:
            matches.append(record_id)
    return matches


EQUALITY_VALUE = st.one_of(
    st.sampled_from(SCALARS), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6).filter(lambda s: "\x00" not in s))
"""JSON scalars a client can filter on (no NUL: PostgreSQL cannot store it, see KNOWN_QUERIES)."""


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(DATA_PATHS), value=EQUALITY_VALUE, quote=st.booleans())
def test_sqlite_and_postgresql_agree_on_equality(both: dict[str, RecordCatalog],
                                                 path: tuple[str, ...], value: Any,
                                                 quote: bool) -> None:
    params = [(f"data.{'.'.join(path)}", query_text(value, quote))]
    note(f"params={params!r} expected (Python)={expected_equal(path, value)}")

    assert ids(both["sqlite"], params) == ids(both["postgresql"], params)


OPERATOR_CONDITION = st.builds(
    lambda path, op, values, quote: (
        f"data.{'.'.join(path)}{'' if op == 'eq' else '__' + op}",
        {"exists": lambda: "true" if values[0] else "false",
         "in": lambda: ",".join(query_text(v, quote) for v in values)}.get(
            op, lambda: query_text(values[0], quote))()),
    st.sampled_from(DATA_PATHS), st.sampled_from(OPERATORS),
    st.lists(st.sampled_from([v for v in SCALARS if not (isinstance(v, str) and "," in v)]),
             min_size=1, max_size=3), st.booleans())
SORT_KEY = st.builds(str.__add__, st.sampled_from(["", "-"]), st.one_of(
    st.sampled_from(SYSTEM_FIELDS), st.sampled_from(KNOWN_KEYS).map("data.{}".format)))


@settings(max_examples=150, deadline=None)
@given(conditions=st.lists(OPERATOR_CONDITION, max_size=2),
       sort=st.lists(SORT_KEY, min_size=1, max_size=3))
def test_sqlite_and_postgresql_agree_on_every_operator_and_order(
        both: dict[str, RecordCatalog], conditions: list[tuple[str, str]],
        sort: list[str]) -> None:
    params = [*conditions, ("sort", ",".join(sort))]
    note(f"params={params!r}")
    try:
        parse_query(params)
    except FilterError:  # e.g. gt with true: refused the same way on both
        return

    assert ids(both["sqlite"], params) == ids(both["postgresql"], params)


REGEX_PIECES = ["a", "é", "img", "_", "-", "/", "%", ".", r"\.", r"\d", r"\D", r"\w", r"\s", "^",
                "$", "*", "+", "?", "{2}", "{1,3}", "|", "(", ")", "(?:", "[a-c]", "[^a]", "[]a]",
                "[[:alpha:]]", "[[:^alpha:]]", "[[:digit:]]", "[[.a.]]", "[[=a=]]", r"\141",
                r"\x41", r"\C", "(?-m)", r"\_", r"\/"]
"""Pieces of RE2 syntax, some that PostgreSQL reads differently or not at all."""


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=4))
@example(pieces=[r"\w", "/"])  # é/ü: a word character to PostgreSQL under C.UTF-8, not to RE2
@example(pieces=["[[:alpha:]]", "/"])
def test_sqlite_and_postgresql_agree_on_regex(both: dict[str, RecordCatalog],
                                              pieces: list[str]) -> None:
    """A regex the parser accepts (RE2) selects the same rows on both databases."""
    params = [("regex", "".join(pieces)), ("sort", "id")]
    note(f"params={params!r}")
    try:
        parse_query(params)
    except FilterError:
        return

    assert ids(both["sqlite"], params) == ids(both["postgresql"], params)


# ---------------------------------------------------------------------------- cursors


def test_following_next_cursor_gives_back_the_full_listing(seeded: RecordCatalog) -> None:
    examples = 60 if seeded.dialect == "sqlite" else 25

    @settings(max_examples=examples, deadline=None)
    @given(sort=st.none() | st.lists(SORT_KEY, min_size=1, max_size=3).map(",".join),
           limit=st.integers(min_value=3, max_value=12), condition=st.none() | OPERATOR_CONDITION)
    def check(sort: str | None, limit: int, condition: tuple[str, str] | None) -> None:
        params = [p for p in (condition, ("sort", sort) if sort else None) if p is not None]
        note(f"params={params!r} limit={limit}")
        try:
            full = ids(seeded, params)
        except FilterError:
            return
        pages: list[int] = []
        token: str | None = None
        for _ in range(RECORD_COUNT + 1):
            page = seeded.page(parse_query([*params, ("limit", str(limit)),
                                            *([("cursor", token)] if token else [])]))
            pages += [record.id for record in page.records]
            if page.next_cursor is None:
                break
            token = encode_cursor(page.next_cursor)
        assert pages == full

    check()


def test_skip_and_limit_slice_the_full_listing(seeded: RecordCatalog) -> None:
    @settings(max_examples=40, deadline=None)
    @given(sort=st.lists(SORT_KEY, min_size=1, max_size=3).map(",".join),
           skip=st.integers(min_value=0, max_value=RECORD_COUNT + 2),
           limit=st.integers(min_value=1, max_value=RECORD_COUNT + 2))
    def check(sort: str, skip: int, limit: int) -> None:
        note(f"sort={sort!r} skip={skip} limit={limit}")
        full = ids(seeded, [("sort", sort)])
        page = seeded.page(parse_query([("sort", sort), ("skip", str(skip)),
                                        ("limit", str(limit))]))
        assert page.total == RECORD_COUNT
        assert [record.id for record in page.records] == full[skip:skip + limit]

    check()

