"""Object keys that cannot escape their store."""

from __future__ import annotations

import re

from imagehost.errors import InvalidKey

MAX_KEY_LENGTH = 1024
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative path inside a store, else raise InvalidKey."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"Invalid key: must be 1..{MAX_KEY_LENGTH} characters.")
    if _CONTROL.search(key):
        raise InvalidKey("Invalid key: control characters are not allowed.")
    if "\\" in key:
        raise InvalidKey("Invalid key: backslashes are not allowed.")
    if key.startswith("/"):
        raise InvalidKey("Invalid key: absolute paths are not allowed.")
    segments = key.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidKey("Invalid key: empty, '.' and '..' segments are not allowed.")
    if any(len(segment.encode()) > MAX_SEGMENT_BYTES for segment in segments):
        raise InvalidKey(f"Invalid key: a path segment is over {MAX_SEGMENT_BYTES} bytes.")
    if segments[0].startswith(".tmp"):
        raise InvalidKey("Invalid key: the .tmp prefix is reserved.")
    return key
