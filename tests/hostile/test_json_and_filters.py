"""The hostile JSON and query corpus against one `imagehost serve`: JSON nested 1000 deep, NaN
and infinities, and huge bodies on every route that reads client JSON (records PATCH and PUT,
bulk PATCH, the data form field, c2corg JSON bodies, filter=, cursor=); filter queries past
the bounds of the whole query; regular expressions RE2 or PostgreSQL would not run alike.
Each is refused with a 400 JSON answer naming the limit or the problem, within seconds, with
nothing written. Catastrophic regexes and a large but bounded query answer in time."""

from __future__ import annotations

import base64
import json

from tests.hostile import corpus
from tests.hostile.harness import (
    ANSWER_SECONDS,
    AUTH,
    SECRET,
    Case,
    HostileServer,
    cases,
    check_peak_memory,
)

DEPTH = r"nested \d+ deep; the limit is 64"
JSON = {"Content-Type": "application/json"}
DEEP = corpus.deep_json(1000).encode()


def _json(id: str, method: str, path: str, body: bytes, message: str,
          params: list[tuple[str, str]] | None = None) -> Case:
    return Case(id, method, path, 400, "bad_request", message, content=body, headers=JSON,
                params=params)


BODIES = [
    _json("patch-deep", "PATCH", "/images/{seed}", DEEP, DEPTH),
    _json("patch-deep-objects", "PATCH", "/images/{seed}",
          ('{"a":' * 100_000 + "1" + "}" * 100_000).encode(), DEPTH),
    _json("patch-unclosed-100000", "PATCH", "/images/{seed}", b"[" * 100_000, DEPTH),
    _json("patch-nan", "PATCH", "/images/{seed}", b'{"x": NaN}', r"NaN is not a JSON number"),
    _json("patch-infinity", "PATCH", "/images/{seed}", b'{"x": [Infinity]}',
          r"Infinity is not a JSON number"),
    _json("patch-minus-infinity", "PATCH", "/images/{seed}", b'{"x": -Infinity}',
          r"-Infinity is not a JSON number"),
    _json("patch-1e999", "PATCH", "/images/{seed}", b'{"x": 1e999}', r"out of range"),
    _json("patch-10000-digits", "PATCH", "/images/{seed}", b'{"x": ' + b"9" * 10_000 + b"}",
          r"too many digits"),
    _json("patch-5mb-of-objects", "PATCH", "/images/{seed}",
          corpus.wide_json(5_000_000).encode(), r"the limit is 1000000"),
    _json("put-deep", "PUT", "/images/{seed}", DEEP, DEPTH),
    _json("put-nan", "PUT", "/images/{seed}", b'{"x": NaN}', r"NaN"),
    _json("bulk-patch-deep", "PATCH", "/images", DEEP, DEPTH, params=[("all", "true")]),
    _json("bulk-patch-nan", "PATCH", "/images", b'{"x": NaN}', r"NaN",
          params=[("all", "true")]),
    _json("publish-deep", "POST", "/publish", DEEP, DEPTH),
    _json("publish-nan", "POST", "/publish",
          b'{"secret": "' + SECRET.encode() + b'", "filename": NaN}', r"NaN"),
    _json("delete-deep", "POST", "/delete", DEEP, DEPTH),
    Case("form-data-deep", "POST", "/images", 400, "bad_request", DEPTH,
         data={"data": DEEP.decode(), "path": "x/deep.jpg"},
         files={"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}),
    Case("form-data-nan", "POST", "/images", 400, "bad_request", r"NaN",
         data={"data": '{"x": NaN}', "path": "x/nan.jpg"},
         files={"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}),
    Case("form-json-infinity", "POST", "/images", 400, "bad_request", r"Infinity",
         data={"json": '{"x": Infinity}', "path": "x/inf.jpg"},
         files={"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}),
]


def _query(id: str, params: list[tuple[str, str]], message: str,
           code: str = "bad_filter") -> Case:
    return Case(id, "GET", "/images", 400, code, message, params=params)


QUERIES = [
    _query("filter-deep", [("filter", corpus.deep_json(1000))], DEPTH),
    _query("filter-nan", [("filter", '{"data.x": NaN}')], r"NaN"),
    _query("filter-1e999", [("filter", '{"data.x": {"$gt": 1e999}}')], r"out of range"),
    _query("cursor-deep", [("cursor", base64.urlsafe_b64encode(b"[" * 5000).decode())],
           r"'cursor'"),
    _query("500-conditions", [(f"data.k{i}", str(i)) for i in range(500)],
           r"500 data conditions; a query holds at most 50"),
    _query("500-plain-conditions", [(f"k{i}", "x") for i in range(500)],
           r"at most 50"),
    _query("20-in-of-100", [(f"data.k{j}__in", ",".join(map(str, range(100))))
                            for j in range(20)], r"a query holds at most 1000"),
    _query("filter-with-2000-in-values",
           [("filter", '{"data.a": {"$in": [' + ",".join(["1"] * 2000) + "]}}")],
           r"at most 100 values"),
    _query("regex-backreference", [("regex", r"(a+)\1")], r"RE2"),
    _query("regex-lookahead", [("regex", r"a(?=b)")], r"RE2"),
    _query("regex-300-characters", [("regex", "a" * 300)], r"at most 256"),
    _query("regex-repeat-1000", [("regex", "a{1000}")], r"'regex'"),
]


@cases(BODIES, QUERIES)
def test_hostile_json_or_query_is_refused(hostile: HostileServer, case: Case) -> None:
    hostile.refuses(case)


def test_deep_json_inside_the_depth_bound_is_taken(hostile: HostileServer) -> None:
    """The bound refuses depth, not JSON: 59 levels of data are stored and read back."""
    body = corpus.deep_json(58).encode()
    response, _ = hostile.send(_json("patch-58", "PATCH", "/images/{seed}", body, ""))

    assert response.status_code == 200, response.text
    stored = hostile.client.get(f"/images/{hostile.seed_id}", headers=AUTH).json()["data"]
    assert stored["a"] == json.loads(body)["a"]


def test_catastrophic_regexes_answer_in_linear_time(hostile: HostileServer) -> None:
    """RE2 has no backtracking: the classic exponential patterns run as fast as any."""
    for pattern in ["(a*)*b", "(a|aa)+$", "(x+x+)+y", "(.*a){20}", "^(([a-z])+.)+[A-Z]([a-z])+$"]:
        response, seconds = hostile.send(Case("regex", "GET", "/images", 200, "", "",
                                              params=[("regex", pattern)]))
        assert response.status_code == 200, (pattern, response.text)
        assert seconds < ANSWER_SECONDS


def test_a_query_at_the_bounds_answers(hostile: HostileServer) -> None:
    """10 `in` conditions of 100 values: 1000 values, one IN list each."""
    params = [(f"data.k{j}__in", ",".join(map(str, range(100)))) for j in range(10)]
    response, seconds = hostile.send(Case("in", "GET", "/images", 200, "", "",
                                          params=params))

    assert response.status_code == 200, response.text
    assert seconds < ANSWER_SECONDS


def test_the_server_memory_stayed_bounded(hostile: HostileServer) -> None:
    check_peak_memory(hostile)
