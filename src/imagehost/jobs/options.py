"""Options the job kinds share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imagehost.errors import ConfigError
from imagehost.values import InvalidValue, parse_datetime


def time_range(params: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """--since and --until, each checked as time_option does."""
    return time_option(params, "since"), time_option(params, "until")


def time_option(params: dict[str, Any], option: str) -> datetime | None:
    """--since / --until as a time, or None; a ConfigError naming the option otherwise."""
    raw = params.get(option)
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except InvalidValue as exc:
        raise ConfigError(f"--{option} {exc}") from None
