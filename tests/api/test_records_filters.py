"""The record filter language over HTTP (GET /images), on one fixed data set per database.

Every expectation is written down as the exact list of records, in order, and the same list is
asserted on SQLite and on PostgreSQL: a filter must give the same rows in the same order on
both. Records are named by a letter (A..M, in upload time order); the answer of a query is the
string of the letters of its items.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.config import load_settings
from imagehost.web.app import create_app
from tests import imagegen
from tests.conftest import app_context
from tests.kit.environ import local_settings
from tests.kit.servers import FreshPostgresDatabase

READ_KEY, WRITE_KEY = "reader-key-0001", "writer-key-0001"
READ = {"Authorization": f"Bearer {READ_KEY}"}
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
JPEG = imagegen.photo_jpeg(64, 48)
LONG_KEY = "long/" + "a" * 200 + ".jpg"

#: (letter, file, day of January 2021, data). Upload times are 2021-01-<day>T00:00:00Z.
RECORDS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("A", "plots/a1.jpg", 1, {"n": 5, "s": "apple", "b": True,
                              "nested": {"x": 1, "y": {"z": "deep"}}, "tags": ["x", "y"],
                              "big": 9007199254740993}),
    ("B", "plots/a2.jpg", 2, {"n": 5.0, "s": "Banana", "b": False, "nested": {"x": 2},
                              "big": 9007199254740992}),
    ("C", "plots/b1.jpg", 3, {"n": "5", "s": "25", "b": None, "nested": {"x": "1"}}),
    ("D", "plots/b2.jpg", 4, {"n": 25, "s": "9", "nested": {}}),
    ("E", "Plots/upper.jpg", 5, {"n": -1.5, "s": "", "nested": {"x": None}}),
    ("F", "lit/100%_off.jpg", 6, {"n": 0, "s": "éclair", "café": "naïve"}),
    ("G", "lit/100xoff.jpg", 7, {"n": 2.5, "s": "zebra", "b": True}),
    ("H", "lit/1000_off.jpg", 8, {"n": 10, "s": "Zebra", "nested": "flat"}),
    ("I", LONG_KEY, 9, {"n": None, "s": "日本"}),
    ("J", "misc/none.jpg", 10, {}),
    ("K", "misc/obj.jpg", 11, {"n": {"v": 1}, "s": ["a"], "list": [10, 20],
                               "word": "Infinity"}),
    ("L", "misc/true.jpg", 12, {"n": True, "s": "true"}),
    ("M", "misc/false.jpg", 13, {"n": False, "s": "5"}),
]
ALL = "ABCDEFGHIJKLM"


@dataclass
class DataSet:
    client: TestClient
    ids: dict[str, int]
    """letter -> id; N is an incoming image, X a deleted one (both invisible anonymously)."""

    @property
    def letters(self) -> dict[int, str]:
        return {record_id: letter for letter, record_id in self.ids.items()}

    def query(self, params: list[tuple[str, str]] | dict[str, str],
              headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.get("/images", params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        return response.json()

    def answer(self, params: list[tuple[str, str]] | dict[str, str],
               headers: dict[str, str] | None = None) -> str:
        body = self.query(params, headers)
        assert body["total"] == len(body["items"]), body
        return "".join(self.letters[item["id"]] for item in body["items"])

    def error(self, params: list[tuple[str, str]] | dict[str, str],
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        response = self.client.get("/images", params=params, headers=headers or {})
        return response.status_code, response.json()


def environ(root: Path, database_url: str) -> dict[str, str]:
    """Listings open to callers without a key (PUBLIC_LISTING), who see the published
    records A..M; the read key sees N too."""
    return local_settings(root) | {"DATABASE_URL": database_url,
                                   "API_KEYS": f"{READ_KEY}:read;{WRITE_KEY}:write",
                                   "RESIZING_CONFIG": "[]", "PUBLIC_LISTING": "true"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_catalog_url(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One fresh database per module and kind (catalog_url is per test: too slow to fill the
    data set again for each of the many queries)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('filters-sqlite') / 'catalog.db'}"
        return
    with FreshPostgresDatabase(request.getfixturevalue("postgres_server_url")) as url:
        yield url


def post_records(client: TestClient) -> dict[str, int]:
    """Upload RECORDS; their ids by letter."""
    ids: dict[str, int] = {}
    for letter, file, day, data in RECORDS:
        response = client.post(
            "/images", files={"image": ("a.jpg", JPEG, "image/jpeg")}, headers=WRITE,
            data={"data": json.dumps(data), "path": file,
                  "time": f"2021-01-{day:02d}T00:00:00+00:00"})
        assert response.status_code == 201, response.text
        assert response.json()["data"] == data
        ids[letter] = response.json()["id"]
    return ids


@pytest.fixture(scope="module")
def dataset(module_catalog_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataSet]:
    settings = load_settings(environ(tmp_path_factory.mktemp("filters-stores"),
                                     module_catalog_url))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ids = post_records(client)
        uploaded = client.post("/upload", files={"file": ("a.jpg", JPEG, "image/jpeg")})
        assert uploaded.status_code == 200, uploaded.text
        incoming = client.get("/images", params={"status": "incoming"}, headers=READ).json()
        ids["N"] = incoming["items"][0]["id"]
        gone = client.post("/images", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                           data={"data": json.dumps({"n": 5, "s": "apple"}),
                                 "path": "plots/gone.jpg"}, headers=WRITE)
        ids["X"] = gone.json()["id"]
        assert client.delete(f"/images/{ids['X']}", headers=WRITE).status_code == 200
        yield DataSet(client, ids)


def test_the_data_set_reads_back_as_uploaded(dataset: DataSet) -> None:
    body = dataset.query({"limit": "1000"})

    assert body["total"] == len(RECORDS)
    assert [(i["file"], i["time"], i["data"]) for i in body["items"]] == [
        (file, f"2021-01-{day:02d}T00:00:00+00:00", data) for _, file, day, data in RECORDS]
    assert set(body) == {"total", "skip", "limit", "items", "next_cursor"}
    assert body["next_cursor"] is None


# ---------------------------------------------------------------------------- operators

EQUALS = [
    ("data.n", "5", "AB"),  # 5 and 5.0, not the string "5"
    ("data.n", "5.0", "AB"),
    ("data.n", '"5"', "C"),
    ("data.n", "true", "L"),
    ("data.n", "false", "M"),
    ("data.n", "null", "I"),  # a JSON null, not a missing key
    ("data.n", "-1.5", "E"),
    ("data.n", "0", "F"),
    ("data.n", "1e1", "H"),
    ("data.s", "apple", "A"),
    ("data.s", "APPLE", ""),
    ("data.s", "25", ""),  # the number 25 is not the string "25"
    ("data.s", '"25"', "C"),
    ("data.s", "true", ""),  # the boolean true is not the string "true"
    ("data.s", '"true"', "L"),
    ("data.s", "", "E"),
    ("data.s", '""', "E"),
    ("data.s", "日本", "I"),
    ("data.b", "true", "AG"),
    ("data.b", "false", "B"),
    ("data.b", "null", "C"),
    ("data.nested.x", "1", "A"),
    ("data.nested.x", '"1"', "C"),
    ("data.nested.x", "null", "E"),
    ("data.nested.y.z", "deep", "A"),
    ("data.nested", "flat", "H"),
    ("data.café", "naïve", "F"),
    ("data.tags", "x", ""),  # an array never equals a scalar
    ("data.n.v", "1", "K"),
    ("data.missing", "1", ""),
    ("data.word", "Infinity", "K"),  # not a JSON number: the string
    ("data.big", "9007199254740993", "A"),  # integers compared exactly, not as doubles
    ("data.big", "9007199254740992", "B"),
]

NOT_EQUALS = [
    ("data.n__ne", "5", "CDEFGHIJKLM"),  # includes J, which has no n
    ("data.n__ne", '"5"', "ABDEFGHIJKLM"),
    ("data.n__ne", "null", "ABCDEFGHJKLM"),
    ("data.b__ne", "true", "BCDEFHIJKLM"),
    ("data.b__ne", "null", "ABDEFGHIJKLM"),
    ("data.nested.x__ne", "1", "BCDEFGHIJKLM"),
    ("data.missing__ne", "1", ALL),
]

COMPARISONS = [
    ("data.n__gt", "5", "DH"),
    ("data.n__gte", "5", "ABDH"),
    ("data.n__lt", "5", "EFG"),
    ("data.n__lte", "2.5", "EFG"),
    ("data.n__gt", "-2", "ABDEFGH"),
    ("data.n__lt", "0", "E"),
    ("data.n__gte", "4.99", "ABDH"),
    ("data.n__lte", "-1.5", "E"),
    ("data.n__gt", '"4"', "C"),  # a string bound compares strings only
    ("data.big__gt", "9007199254740992", "A"),
    ("data.s__gt", "Zebra", "AFGIL"),  # bytewise: lower case and non-ASCII after Z
    ("data.s__gte", "Zebra", "AFGHIL"),
    ("data.s__lt", "a", "BCDEHM"),
    ("data.s__lt", "5", ""),  # the number 5: no s is a number
    ("data.s__lt", '"5"', "CE"),
    ("data.s__lte", '"5"', "CEM"),
    ("data.s__gt", '"25"', "ABDFGHILM"),
    ("data.s__gte", "é", "FI"),
    ("data.s__lt", "B", "CDEM"),
    ("data.nested.x__gte", "1", "AB"),
]

MEMBERSHIP = [
    ("data.n__in", '5,"5",true', "ABCL"),
    ("data.s__in", "apple,日本,nope", "AI"),
    ("data.n__in", "null,25", "DI"),
    ("data.b__in", "false,null", "BC"),
    ("data.n__in", "7", ""),
    ("data.s__in", '"25","9"', "CD"),
    # one IN list per JSON type: integers exact, 5 and 5.0 alike, booleans apart from strings
    ("data.big__in", "9007199254740993,1", "A"),
    ("data.n__in", '5.0,"true",false,-1.5', "ABEM"),
    ("data.s__in", 'true,"true",25,"",9', "EL"),
    ("data.nested.x__in", '1,"1",null', "ACE"),
]

EXISTENCE = [
    ("data.n__exists", "true", "ABCDEFGHIKLM"),  # a null value exists
    ("data.n__exists", "false", "J"),
    ("data.b__exists", "true", "ABCG"),
    ("data.b__exists", "false", "DEFHIJKLM"),
    ("data.nested.x__exists", "true", "ABCE"),
    ("data.nested.x__exists", "false", "DFGHIJKLM"),  # H: nested is a string
    ("data.nested.y.z__exists", "true", "A"),
    ("data.list__exists", "true", "K"),
    ("data.café__exists", "true", "F"),
    # the one boolean parser: true/false, 1/0, yes/no, on/off, in any case
    ("data.n__exists", "1", "ABCDEFGHIKLM"),
    ("data.n__exists", "YES", "ABCDEFGHIKLM"),
    ("data.n__exists", "on", "ABCDEFGHIKLM"),
    ("data.n__exists", "0", "J"),
    ("data.n__exists", "No", "J"),
    ("data.n__exists", "off", "J"),
]

ARRAYS_ARE_NOT_OBJECTS = [
    # keys are object keys: a digit segment does not index an array, on both databases
    ("data.list.0__exists", "true", ""),
    ("data.list.0__exists", "false", ALL),
    ("data.list.0", "10", ""),
    ("data.list.0__gt", "5", ""),
    ("data.tags.1__in", "y", ""),
]


@pytest.mark.parametrize(("name", "value", "expected"),
                         EQUALS + NOT_EQUALS + COMPARISONS + MEMBERSHIP + EXISTENCE
                         + ARRAYS_ARE_NOT_OBJECTS)
def test_data_operator(dataset: DataSet, name: str, value: str, expected: str) -> None:
    assert dataset.answer([(name, value)]) == expected


def test_conditions_combine_with_and(dataset: DataSet) -> None:
    params = [("data.n__gte", "0"), ("data.n__lt", "10"), ("data.b__exists", "true")]

    assert dataset.answer(params) == "ABG"
    assert dataset.answer([("data.n__gt", "0"), ("data.n__lt", "10"),
                           ("data.n__ne", "5")]) == "G"
    assert dataset.answer([("data.s__gt", "a"), ("file", "lit/")]) == "FG"


@pytest.mark.parametrize("value", ["1e400", "-1e400", "Infinity", "-Infinity"])
def test_numbers_beyond_json_are_not_a_server_error(dataset: DataSet, value: str) -> None:
    """Python's json reads these as +-inf; they are no JSON number and must not reach SQL as
    one (PostgreSQL rejects `Infinity` in JSON). A 400 naming the parameter, or no row."""
    for name in ("data.n", "data.n__ne", "data.n__in"):
        response = dataset.client.get("/images", params={name: value})

        assert response.status_code in (200, 400), (name, value, response.text)
        if response.status_code == 400:
            assert name in response.json()["message"]
        elif name == "data.n__ne":
            assert len(response.json()["items"]) == len(RECORDS)
        else:
            assert response.json()["items"] == [], (name, value)


# ---------------------------------------------------------------------------- time, status, file


@pytest.mark.parametrize(("params", "expected"), [
    ({"from": "2021-01-03T00:00:00Z", "to": "2021-01-05T00:00:00Z"}, "CDE"),  # inclusive
    ({"from": "2021-01-03T01:00:00+01:00"}, "CDEFGHIJKLM"),
    ({"from": "2021-01-05T00:00:00.000001Z"}, "FGHIJKLM"),
    ({"to": "2021-01-02"}, "AB"),
    ({"to": "2021-01-01T23:59:59Z"}, "A"),
    ({"from": "2021-01-13T00:00:00+00:00"}, "M"),
    ({"to": "2020-12-31"}, ""),
    ({"from": "2021-01-02", "to": "2021-01-02"}, "B"),
    ({"from": "2021-01-10T00:00:00", "data.n__exists": "true"}, "KLM"),
])
def test_time_bounds(dataset: DataSet, params: dict[str, str], expected: str) -> None:
    assert dataset.answer(params) == expected


def test_status(dataset: DataSet) -> None:
    assert dataset.answer({}) == ALL
    assert dataset.answer({"status": "active"}) == ALL
    assert dataset.answer({}, READ) == ALL + "N"
    assert dataset.answer({"status": "incoming"}, READ) == "N"
    assert dataset.answer({"status": "deleted"}, READ) == "X"
    assert dataset.answer({"status": "active,deleted", "sort": "id"}, READ) == ALL + "X"
    assert dataset.answer({"status": "incoming,active,deleted", "data.s": "apple"},
                          READ) == "AX"
    assert dataset.answer({"status": "deleted", "data.s": "apple"}, READ) == "X"
    assert dataset.answer({"status": "incoming,deleted", "data.n__exists": "false"},
                          READ) == "N"
    assert dataset.error({"status": "incoming"})[0] == 401
    assert dataset.error({"status": "deleted"})[0] == 401


@pytest.mark.parametrize(("prefix", "expected"), [
    ("plots/", "ABCD"),  # case-sensitive: not Plots/upper.jpg
    ("Plots/", "E"),
    ("plots/a", "AB"),
    ("lit/100%_", "F"),  # % and _ are literal
    ("lit/100", "FGH"),
    ("lit/1000_", "H"),
    ("lit/100_", ""),
    ("lit/%", ""),
    ("lit/_", ""),
    ("misc/", "JKLM"),
    ("nothing/", ""),
    ("plots/a1.jpg", "A"),
    (LONG_KEY[:100], "I"),
])
def test_file_prefix(dataset: DataSet, prefix: str, expected: str) -> None:
    assert dataset.answer({"file": prefix}) == expected


# ---------------------------------------------------------------------------- regex

REGEXES = [
    ("^plots/b", "CD"),
    (r"\d{4}", "H"),
    (r"off\.jpg$", "FGH"),
    (r"^misc/(true|false)\.jpg$", "LM"),
    ("%", "F"),
    ("a{200}", "I"),
    ("日本", ""),
    # catastrophic for backtracking engines, linear for RE2
    ("(a+)+$", ""),
    (r"^long/(a+)+\.jpg$", "I"),
    ("(a|aa)+$", ""),
    ("(a|a?)+z$", ""),
]


@pytest.mark.parametrize(("pattern", "expected"), REGEXES)
def test_regex(dataset: DataSet, pattern: str, expected: str) -> None:
    assert dataset.answer({"regex": pattern}) == expected


# RE2 syntax that PostgreSQL reads differently (\b is a backspace there) or refuses (counts
# over 255, named groups, \p, inline flags): refused everywhere, so both databases agree.
NON_PORTABLE = ["(?i)^plots/", "a{256}", r"\bupper", r"jpg\z", r"(?P<dir>lit)/", r"^\p{Lu}"]


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", "[z-a]", "(?<", "x" * 257, *NON_PORTABLE])
def test_invalid_regex_is_400(dataset: DataSet, pattern: str) -> None:
    status, body = dataset.error({"regex": pattern})

    assert status == 400
    assert "'regex'" in body["message"]


# ---------------------------------------------------------------------------- ids


def test_ids(dataset: DataSet) -> None:
    ids = dataset.ids

    assert dataset.answer({"ids": f"{ids['C']},{ids['A']}"}) == "AC"
    assert dataset.answer({"ids": f"{ids['A']}, {ids['C']},"}) == "AC"
    assert dataset.answer({"ids": f"{ids['A']},{ids['A']}"}) == "A"
    assert dataset.answer({"ids": "999999"}) == ""
    assert dataset.answer({"ids": f"{ids['N']},{ids['B']}"}) == "B"  # anonymous: active only
    assert dataset.answer({"ids": f"{ids['N']},{ids['B']}"}, READ) == "BN"
    assert dataset.answer({"ids": f"{ids['A']},{ids['B']}", "data.b": "false"}) == "B"


def test_ids_beyond_the_id_column_are_not_a_server_error(dataset: DataSet) -> None:
    for huge in ("2147483648", "9223372036854775808", f"{dataset.ids['A']},2147483648"):
        response = dataset.client.get("/images", params={"ids": huge})

        assert response.status_code in (200, 400), (huge, response.text)
        if response.status_code == 400:
            assert "'ids'" in response.json()["message"]
        else:
            expected = [dataset.ids["A"]] if "," in huge else []
            assert [i["id"] for i in response.json()["items"]] == expected


# ---------------------------------------------------------------------------- sort

SORTS = [
    (None, ALL),  # default: time, then id
    ("time", ALL),
    ("-time", ALL[::-1]),
    ("id", ALL),
    ("-id", ALL[::-1]),
    ("published", ALL),
    ("width", ALL),  # all equal: id breaks ties
    ("-width", ALL),
    ("file", "EFHGIMJKLABCD"),  # bytewise: P < l < m < p, % < 0 < x
    ("-file", "DCBALKJMIGHFE"),
    # null < false < true < numbers < strings < objects/arrays < missing
    ("data.n", "IMLEFGABHDCKJ"),
    ("-data.n", "JKCDHABGFELMI"),
    ("data.s", "ECMDBHALGFIKJ"),  # bytewise strings: "" "25" "5" "9" "Banana" ... "日本"
    ("-data.s", "JKIFGLAHBDMCE"),
    ("data.nested.x", "EABCDFGHIJKLM"),
    ("-data.nested.x", "DFGHIJKLMCBAE"),
    ("data.b,-time", "CBGAMLKJIHFED"),
    ("-data.b,file", "EFHIMJKLDGABC"),
    ("data.café", "FABCDEGHIJKLM"),
    ("+data.n,-id", "IMLEFGBAHDCKJ"),
]


@pytest.mark.parametrize(("sort", "expected"), SORTS)
def test_sort(dataset: DataSet, sort: str | None, expected: str) -> None:
    assert dataset.answer({"sort": sort} if sort else {}) == expected


def test_sort_is_the_order_of_field_values(dataset: DataSet) -> None:
    """/images/fields/<key> lists distinct values in the order a sort on that key gives."""
    values = dataset.client.get("/images/fields/s").json()

    assert values == ["", "25", "5", "9", "Banana", "Zebra", "apple", "true", "zebra",
                      "éclair", "日本", ["a"]]


# ---------------------------------------------------------------------------- paging


def test_skip_and_limit(dataset: DataSet) -> None:
    body = dataset.query({"skip": "2", "limit": "3"})

    assert (body["total"], body["skip"], body["limit"]) == (len(RECORDS), 2, 3)
    assert "".join(dataset.letters[i["id"]] for i in body["items"]) == "CDE"
    assert dataset.query({"skip": "12"})["items"][0]["id"] == dataset.ids["M"]
    assert dataset.query({"skip": "13"})["items"] == []
    assert dataset.query({"skip": "1000000000"})["total"] == len(RECORDS)
    assert len(dataset.query({"limit": "1"})["items"]) == 1
    assert dataset.query({"limit": "1000"})["limit"] == 1000
    assert dataset.query({})["limit"] == 100
    sorted_page = dataset.query({"sort": "-data.n", "skip": "3", "limit": "4"})
    assert "".join(dataset.letters[i["id"]] for i in sorted_page["items"]) == "DHAB"


@pytest.mark.parametrize(("name", "value"), [
    ("limit", "0"), ("limit", "1001"), ("limit", "-1"), ("limit", "ten"), ("limit", ""),
    ("skip", "-1"), ("skip", "1000000001"), ("skip", "1.5"),
])
def test_paging_bounds_are_400(dataset: DataSet, name: str, value: str) -> None:
    status, body = dataset.error({name: value})

    assert status == 400
    assert f"'{name}'" in body["message"]


def walk(dataset: DataSet, params: dict[str, str], limit: int) -> tuple[str, int]:
    """Follow next_cursor from the first page to the end: (letters, pages)."""
    letters, pages, cursor = "", 0, None
    while True:
        page = dataset.query({**params, "limit": str(limit),
                              **({"cursor": cursor} if cursor else {})})
        pages += 1
        letters += "".join(dataset.letters[i["id"]] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return letters, pages
        assert pages <= len(RECORDS) + 1, "the cursor does not advance"


@pytest.mark.parametrize(("sort", "expected"), [
    (None, ALL), ("-time", ALL[::-1]), ("data.n", "IMLEFGABHDCKJ"),
    ("-data.s", "JKIFGLAHBDMCE"), ("file", "EFHGIMJKLABCD"), ("-data.b,file", "EFHIMJKLDGABC"),
    ("data.nested.x", "EABCDFGHIJKLM"),
])
@pytest.mark.parametrize("limit", [1, 4, 13])
def test_cursor_walks_every_record_once_in_order(dataset: DataSet, sort: str | None,
                                                 expected: str, limit: int) -> None:
    letters, pages = walk(dataset, {"sort": sort} if sort else {}, limit)

    assert letters == expected
    assert pages == len(RECORDS) // limit + 1  # a full last page still gives a cursor


def test_cursor_with_a_filter(dataset: DataSet) -> None:
    letters, _ = walk(dataset, {"data.n__exists": "true", "sort": "-data.n"}, 4)

    assert letters == "KCDHABGFELMI"


def test_cursor_errors_name_the_parameter(dataset: DataSet) -> None:
    cursor = dataset.query({"sort": "data.n", "limit": "2"})["next_cursor"]
    assert cursor

    for params in ({"cursor": cursor}, {"cursor": cursor, "sort": "-time"},
                   {"cursor": "!!!"}, {"cursor": "bm90IGpzb24"}, {"cursor": "e30"}):
        status, body = dataset.error(params)

        assert status == 400, params
        assert "'cursor'" in body["message"]


# ---------------------------------------------------------------------------- select


def test_select_projects_fields(dataset: DataSet) -> None:
    a = dataset.ids["A"]

    body = dataset.query({"select": "id,file", "ids": str(a)})
    assert body["items"] == [{"id": a, "_id": a, "file": "plots/a1.jpg"}]
    body = dataset.query({"select": "id,data.nested.x,data.missing", "ids": str(a)})
    assert body["items"] == [{"id": a, "_id": a, "data": {"nested.x": 1, "missing": None}}]
    body = dataset.query({"select": "data", "ids": str(a)})
    assert body["items"] == [{"data": RECORDS[0][3]}]
    body = dataset.query({"select": "sha256,width,height,status,variants", "ids": str(a)})
    [item] = body["items"]
    assert (item["width"], item["height"], item["status"], item["variants"]) == (
        64, 48, "active", [])
    assert set(item) == {"sha256", "width", "height", "status", "variants"}


# ---------------------------------------------------------------------------- errors


def test_bare_data_is_400_naming_it(dataset: DataSet) -> None:
    status, body = dataset.error({"data": "1"})

    assert status == 400
    assert body["error"] == "bad_filter"
    assert "'data'" in body["message"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"s": "apple"}, "A"),
    ({"n": "5"}, "C"),                       # a string compare: never the numbers 5 and 5.0
    ({"s": "5"}, "M"),
    ({"nested.x": "1"}, "C"),
    ({"café": "naïve"}, "F"),
    ({"s": "true"}, "L"),                    # the string, not the boolean
    ({"foo": "1"}, ""),                      # a key nobody has matches nothing
    ([("s", "5"), ("data.n", "false")], "M"),
    ([("s", "apple"), ("from", "2021-01-02")], ""),
])
def test_plain_keys_filter_data_by_string_equality(dataset: DataSet,
                                                   params: Any, expected: str) -> None:
    """The storage microservice's clients send ?key3=value3: data.key3 equals the string."""
    assert dataset.answer(params) == expected


@pytest.mark.parametrize(("condition", "expected"), [
    ({"data.b": {"$ne": None}}, "ABG"),      # as MongoDB: present and not null
    ({"data.b": None}, "C"),
    ({"data.n": {"$gt": 4}}, "ABDH"),
    ({"data.n": {"$gte": 5, "$lt": 25}}, "ABH"),
    ({"data.n": {"$in": [5, "5"]}}, "ABC"),
    ({"data.s": {"$exists": False}}, "J"),
    ({"data.nested.x": 1}, "A"),
    ({"data.s": "apple", "data.b": True}, "A"),
])
def test_json_filter_takes_the_microservices_conditions(dataset: DataSet,
                                                        condition: dict[str, Any],
                                                        expected: str) -> None:
    assert dataset.answer({"filter": json.dumps(condition)}) == expected


@pytest.mark.parametrize("raw", ["{", "[]", '{"file": "a.jpg"}', '{"data.n": {"$regex": "x"}}',
                                 '{"data.n": {"$gt": true}}', '{"data.n": {"$in": 5}}',
                                 '{"data.n": {"$exists": 1}}', '{"data.n": [1]}'])
def test_a_json_filter_it_cannot_mean_is_400(dataset: DataSet, raw: str) -> None:
    status, body = dataset.error({"filter": raw})

    assert status == 400
    assert body["error"] == "bad_filter"
    assert "'filter'" in body["message"]


def test_order_sets_the_direction_of_a_one_key_sort(dataset: DataSet) -> None:
    assert dataset.answer({"sort": "time", "order": "-1"}) == ALL[::-1]
    assert dataset.answer({"sort": "_id", "order": "desc"}) == ALL[::-1]
    assert dataset.answer({"sort": "time", "order": "1"}) == ALL
    for params in ({"order": "-1"}, {"sort": "time,id", "order": "-1"},
                   {"sort": "time", "order": "sideways"}):
        status, body = dataset.error(params)
        assert (status, body["error"]) == (400, "bad_filter"), params


@pytest.mark.parametrize("name", ["data.n__like", "data.n__GT", "data.n__regex",
                                  "data.nested.x__contains", "data.n__gt__lt"])
def test_unknown_operator_is_400_naming_the_parameter(dataset: DataSet, name: str) -> None:
    status, body = dataset.error({name: "1"})

    assert status == 400
    assert body["error"] == "bad_filter"
    assert f"'{name}'" in body["message"]
    assert "operator" in body["message"]


MALFORMED = [
    ("data.n__exists", "maybe"),
    ("data.n__exists", "2"),
    ("data.n__exists", ""),
    ("data.n__gt", "true"),
    ("data.n__lt", "null"),
    ("data.n__in", ",".join(str(i) for i in range(101))),
    ("data.", "1"),
    ("data.a..b", "1"),
    ("data.bad key", "1"),
    ("data.a/b", "1"),
    ("data." + ".".join("k" * 17), "1"),
    ("data." + "k" * 65, "1"),
    ("from", "yesterday"),
    ("to", "2021-13-01"),
    ("status", "gone"),
    ("status", "active,archived"),
    ("ids", "1,x"),
    ("ids", ",".join(str(i) for i in range(1, 1002))),
    ("sort", "size"),
    ("sort", "data.bad key"),
    ("sort", "time,id,file,width,height"),
    ("select", "nope"),
    ("select", "data.bad key"),
    ("all", "maybe"),
    ("all", "2"),
]


@pytest.mark.parametrize(("name", "value"), MALFORMED)
def test_malformed_value_is_400_naming_the_parameter(dataset: DataSet, name: str,
                                                     value: str) -> None:
    status, body = dataset.error({name: value})

    assert status == 400, body
    assert body["error"] == "bad_filter"
    assert f"'{name}'" in body["message"]


def test_repeated_parameter_is_400_naming_it(dataset: DataSet) -> None:
    status, body = dataset.error([("limit", "5"), ("limit", "6")])

    assert status == 400
    assert "'limit'" in body["message"]
    assert dataset.answer([("data.n__gte", "0"), ("data.n__gte", "5")]) == "ABDH"


# ---------------------------------------------------------------------------- default limit


def test_default_limit_is_100(make_client: Any, catalog_url: str, tmp_path: Path) -> None:
    """101 records (added through the catalog: paging needs no files)."""
    client = make_client(**environ(tmp_path, catalog_url))
    records = app_context(client).records
    start = datetime(2022, 1, 1, tzinfo=UTC)
    for i in range(101):
        records.save(ImageRecord(key=f"bulk/{i:03d}.jpg", status=ImageStatus.ACTIVE.value,
                                 format="jpeg", width=1, height=1, bytes=1, sha256="0" * 64,
                                 variants=[], data={"i": i},
                                 created_at=start.replace(minute=i % 60, hour=i // 60),
                                 published_at=start))

    first = client.get("/images").json()
    rest = client.get("/images", params={"cursor": first["next_cursor"]}).json()

    assert (first["total"], first["limit"], len(first["items"])) == (101, 100, 100)
    assert [i["data"]["i"] for i in first["items"]] == list(range(100))
    assert [i["data"]["i"] for i in rest["items"]] == [100]
    assert rest["next_cursor"] is None
    by_key = client.get("/images", params={"sort": "-data.i"}).json()
    assert [i["data"]["i"] for i in by_key["items"]] == list(range(100, 0, -1))
