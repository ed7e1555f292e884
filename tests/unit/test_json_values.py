"""The one parser of client JSON (values.parse_json) and the data check records take."""

from __future__ import annotations

import json

import pytest

from imagehost.errors import BadRequest
from imagehost.service.records import check_data
from imagehost.values import MAX_JSON_DEPTH, InvalidValue, json_shape, parse_json


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def test_nesting_up_to_the_limit_parses_and_one_more_is_refused() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(InvalidValue, match=f"nested {MAX_JSON_DEPTH + 1} deep; the limit is"):
        parse_json(nested(MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("text", [
    "[" * 100_000,                                # never closed
    '{"a":' * 5000 + "1" + "}" * 5000,            # objects
    "[{" * 3000 + "}]" * 3000,                    # alternating
    "[" * 5000 + "}",                             # mismatched
])
def test_deep_documents_are_refused_before_the_parser_recurses(text: str) -> None:
    with pytest.raises(InvalidValue, match="nested"):
        parse_json(text)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 1000, "b": '\\"[[[', "c": ["]]]"]})

    assert parse_json(text) == json.loads(text)
    assert json_shape(text) == (2, 6)  # {[]} and two commas


@pytest.mark.parametrize(("text", "message"), [
    ('{"x": NaN}', "NaN is not a JSON number"),
    ("[Infinity]", "Infinity is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"),
    ("[1e400]", "out of range"),
    ("9" * 5000, "too many digits"),
    ('{"a": ', "not valid JSON"),
    (b"\xff\xfe\xfd", "not valid JSON"),
])
def test_what_is_not_json_is_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_json(text)


def test_bytes_in_any_json_encoding_parse() -> None:
    value = {"a": ["é", 1.5, None]}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert parse_json(json.dumps(value, ensure_ascii=False).encode(encoding)) == value


def test_size_and_value_bounds() -> None:
    with pytest.raises(InvalidValue, match="of 1000001 bytes; the limit is 1000000"):
        parse_json(b" " * 1_000_000 + b"1")
    assert parse_json("[1,2,3]", max_values=4) == [1, 2, 3]
    with pytest.raises(InvalidValue, match="holding 6 values; the limit is 5"):
        parse_json("[1,2,3,4,5]", max_values=5)


@pytest.mark.parametrize(("data", "message"), [
    ({"x": float("nan")}, "finite"),
    ({"x": [1, {"y": float("inf")}]}, "finite"),
    (json.loads('{"a": ' + nested(MAX_JSON_DEPTH) + "}"), "deeper than 64"),
    ({"x": "a\x00b"}, "NUL"),
])
def test_record_data_is_checked_wherever_it_comes_from(data: dict, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_data(data)


def test_record_data_at_the_depth_limit_is_kept() -> None:
    data = json.loads('{"a": ' + nested(MAX_JSON_DEPTH - 1) + "}")

    assert check_data(data) is data
