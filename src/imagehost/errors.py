"""Errors raised by the service, each mapped once to an HTTP status and a JSON code."""

from __future__ import annotations


class ImagehostError(Exception):
    """Base class: `status` is the HTTP status, `code` the JSON `error` field."""

    status = 500
    code = "internal_error"
    retry_after: int | None = None
    """Seconds after which a retry may succeed (answered as Retry-After), for 429 and 503."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ImagehostError):
    status = 400
    code = "bad_request"


class UnsupportedFormat(BadRequest):
    code = "unsupported_format"


class InvalidImage(BadRequest):
    code = "invalid_image"


class InvalidKey(BadRequest):
    code = "invalid_key"


class LimitExceeded(ImagehostError):
    """A configured limit (bytes, pixels, frames, SVG size) was exceeded."""

    status = 413
    code = "limit_exceeded"


class Unauthorized(ImagehostError):
    status = 401
    code = "unauthorized"


class Forbidden(ImagehostError):
    status = 403
    code = "forbidden"


class NotFound(ImagehostError):
    status = 404
    code = "not_found"


class Conflict(ImagehostError):
    status = 409
    code = "conflict"


class Overloaded(ImagehostError):
    """The bounded work pool is full: the client should retry later."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ImagehostError):
    """The client used up its rate (RATE_LIMIT_UPLOADS, RATE_LIMIT_RENDERS): retry after
    `retry_after` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(ImagehostError):
    status = 503
    code = "store_unavailable"


class CatalogUnavailable(ImagehostError):
    """The catalog database cannot be reached (down, restarting, refusing connections)."""

    status = 503
    code = "catalog_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(f"The catalog database is unavailable ({reason}); retry shortly.")
        self.reason = reason
        self.retry_after = 5


class ConfigError(Exception):
    """Invalid configuration: one line naming the variable, the value and what is allowed."""
