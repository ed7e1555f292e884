"""Logging: text lines by default, or one JSON object per line (LOG_FORMAT=json) carrying the
request's id, method, path, status, duration and record id where there is one."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                       default=None)
"""The id of the request being served (X-Request-ID), for every line logged meanwhile."""
FIELDS = ("request_id", "method", "path", "status", "duration_ms", "record_id")
QUIET = ("botocore", "urllib3", "pyvips", "multipart", "httpx", "alembic")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage()}
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for name in FIELDS[1:]:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A dictConfig for imagehost's loggers and uvicorn's (whose access log imagehost replaces
    with its own line, see web/middleware.py)."""
    formatter: dict[str, Any] = ({"()": JsonFormatter} if fmt == "json"
                                 else {"format": TEXT})
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"imagehost": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "imagehost",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            **{name: {"level": "DEBUG" if level == "DEBUG" else "WARNING"} for name in QUIET},
        },
    }


def configure_logging(level: str, fmt: str) -> None:
    logging.config.dictConfig(logging_config(level, fmt))
