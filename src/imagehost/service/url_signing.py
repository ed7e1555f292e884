"""Signed derived-image URLs: HMAC-SHA256 over the path and the canonical parameters."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from urllib.parse import urlencode

from imagehost.errors import Forbidden

SIGNATURE, EXPIRES = "sig", "expires"


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    return urlencode(sorted((k, v) for k, v in params if k != SIGNATURE))


def signature(secret: str, path: str, params: Iterable[tuple[str, str]]) -> str:
    message = f"{path}?{canonical_query(params)}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, path: str, params: list[tuple[str, str]],
         expires_in: float | None = None) -> str:
    """The query string (with sig, and expires when given) for `path`."""
    if expires_in is not None:
        params = [*params, (EXPIRES, str(int(time.time() + expires_in)))]
    return f"{canonical_query(params)}&{SIGNATURE}={signature(secret, path, params)}"


def verify(secret: str, path: str, params: list[tuple[str, str]],
           now: float | None = None) -> None:
    given = [v for k, v in params if k == SIGNATURE]
    if len(given) != 1:
        raise Forbidden("This request needs a signature (sig); unsigned requests may only "
                        "ask for variants and presets.")
    expected = signature(secret, path, params)
    if not hmac.compare_digest(given[0].encode(), expected.encode()):
        raise Forbidden("Bad signature.")
    expires = [v for k, v in params if k == EXPIRES]
    moment = time.time() if now is None else now
    if expires and (not (expires[0].isascii() and expires[0].isdigit())
                    or int(expires[0]) < moment):
        raise Forbidden("The signed URL has expired.")
