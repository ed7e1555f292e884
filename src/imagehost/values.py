"""One parser per kind of value, shared by every route, the filter language and the config.

Each raises InvalidValue with what was expected; callers add the name of the parameter or
setting. Booleans accept true/false, 1/0, yes/no and on/off, in any case.
"""

from __future__ import annotations

import re
from typing import Any

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


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


def comma_list(raw: str) -> tuple[str, ...]:
    """`a, b,c` -> ("a", "b", "c"); empty items are dropped."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())
