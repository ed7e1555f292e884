"""One parser per kind of value, shared by every route, the filter language and the config.

Each raises InvalidValue with what was expected; callers add the name of the parameter or
setting. Booleans accept true/false, 1/0, yes/no and on/off, in any case. JSON documents from
clients are bounded in bytes and depth before they are parsed and hold finite numbers only.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
MAX_JSON_DEPTH = 64
"""Deepest nesting of objects and arrays accepted in a JSON document from a client."""
MAX_JSON_BYTES = 1_000_000
"""Largest JSON document from a client (a body, a form field), unless the caller says."""
# A JSON string (an unterminated one runs to the end), possessive so that no input backtracks.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_BRACKET_STEP = [0] * 256
_BRACKET_STEP[ord("[")] = _BRACKET_STEP[ord("{")] = 1
_BRACKET_STEP[ord("]")] = _BRACKET_STEP[ord("}")] = -1


class InvalidValue(ValueError):
    """A value that does not parse; the message says what was expected."""


def parse_bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidValue(f"{raw!r} is not a boolean (true/false, 1/0, yes/no, on/off)")


def parse_int(raw: str, low: int, high: int) -> int:
    """An integer in low..high (decimal digits, optional sign)."""
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,19}", text):
        raise InvalidValue(f"{raw!r} is not an integer")
    value = int(text)
    if not low <= value <= high:
        raise InvalidValue(f"must be {low}..{high}")
    return value


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `90s`, `500ms`, `10m`, `2h`, `7d` (a number is taken as seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise InvalidValue(f"{value!r} is not a duration (examples: 90s, 10m, 2h, 7d)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_rate(raw: str) -> tuple[int, float] | None:
    """`60/m`, `10/30s`, `1000/1h` -> (count, period in seconds); empty or `0` -> None (no
    limit). A bare unit is one of it (`m` is `1m`)."""
    text = raw.strip()
    if text in ("", "0"):
        return None
    count, slash, period = text.partition("/")
    if not slash or not count.strip().isdigit() or not period.strip():
        raise InvalidValue(f"{raw!r} is not a rate (examples: 60/m, 10/30s, 1000/h; 0: off)")
    period = period.strip()
    seconds = parse_duration(period if period[0].isdigit() else "1" + period)
    if int(count) == 0:
        return None
    if seconds <= 0:
        raise InvalidValue(f"{raw!r}: the period must be longer than 0")
    return int(count), seconds


def parse_datetime(raw: str) -> datetime:
    """An ISO 8601 date or date and time (`Z` allowed); without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidValue(f"{raw!r} is not an ISO 8601 date or time (e.g. 2024-05-01 or "
                           "2024-05-01T12:00:00Z)") from None


def comma_list(raw: str) -> tuple[str, ...]:
    """`a, b,c` -> ("a", "b", "c"); empty items are dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def parse_json(raw: str | bytes, *, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH, max_values: int | None = None) -> Any:
    """A JSON document (text, or bytes in UTF-8, -16 or -32) of at most `max_bytes`, whose
    objects and arrays nest at most `max_depth` deep and, if given, that holds at most
    `max_values` values: all checked by a linear scan before parsing, so that neither the
    parser's recursion nor its memory (some 70 bytes a value) depends on the client. NaN,
    Infinity and numbers beyond a double (1e400) are refused: they are not JSON."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidValue(f"a JSON document of {size} bytes; the limit is {max_bytes}")
    text = _json_text(raw)
    depth, values = json_shape(text)
    if depth > max_depth:
        raise InvalidValue(f"JSON nested {depth} deep; the limit is {max_depth}")
    if max_values is not None and values > max_values:
        raise InvalidValue(f"JSON holding {values} values; the limit is {max_values}")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except InvalidValue:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except ValueError:  # an integer of more digits than Python converts
        raise InvalidValue("not valid JSON (a number has too many digits)") from None


def json_shape(text: str) -> tuple[int, int]:
    """(depth, values) of JSON text, outside strings: the deepest count of open brackets (for
    valid JSON its nesting depth, for any text a bound on how deep a parser recurses) and the
    brackets and commas (about the number of values a parser makes)."""
    outside = _JSON_STRING.sub("", text)
    brackets = _NOT_BRACKET.sub("", outside)
    if not brackets:
        return 0, outside.count(",")
    steps = map(_BRACKET_STEP.__getitem__, brackets.encode("ascii"))
    return max(0, max(accumulate(steps))), len(brackets) + outside.count(",")


def _json_text(raw: str | bytes) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError:
        raise InvalidValue("not valid JSON (not UTF-8, UTF-16 or UTF-32 text)") from None


def _no_constant(name: str) -> None:
    raise InvalidValue(f"not valid JSON ({name} is not a JSON number)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidValue(f"not valid JSON (the number {text[:20]} is out of range)")
    return value
