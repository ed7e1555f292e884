"""HMAC-SHA256 signed URLs for stores that imagehost serves itself (the local store)."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote


class UrlSigner:
    """Signs `/files/<store>/<key>?expires=<unix>&sig=<hex>` URLs and verifies them."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")

    def sign(self, store: str, key: str, expires_in: float, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + expires_in)
        signature = self.signature(store, key, expires)
        return (f"{self.base_url}/files/{quote(store)}/{quote(key)}"
                f"?expires={expires}&sig={signature}")

    def verify(self, store: str, key: str, expires: str, signature: str,
               now: float | None = None) -> bool:
        # ASCII only: int() reads other digits, compare_digest refuses other str
        if not (expires.isascii() and expires.isdigit()) or \
                int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(self.signature(store, key, int(expires)).encode(),
                                   signature.encode())

    def signature(self, store: str, key: str, expires: int) -> str:
        message = f"{store}\n{key}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
