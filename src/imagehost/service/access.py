"""Who is asking: the scopes of the caller's API key, and the rule each use case applies."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from imagehost.config import Settings
from imagehost.errors import Forbidden, Unauthorized

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class Caller:
    scopes: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return not self.scopes

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if self.anonymous:
            raise Unauthorized(f"This needs an API key with the {scope!r} scope "
                               "(Authorization: Bearer <key>).")
        if not self.can(scope):
            raise Forbidden(f"This API key lacks the {scope!r} scope.")


ANONYMOUS = Caller()
OPEN = Caller(frozenset({"read", "write"}))
"""A caller without a key where AUTH_REQUIRED is false."""


def identify(settings: Settings, key: str | None) -> Caller:
    """The caller an API key (or none) stands for; Unauthorized for an unknown key."""
    if key is None:
        return ANONYMOUS if settings.auth_required else OPEN
    scopes = settings.scopes_of(key)
    if not scopes:
        raise Unauthorized("Unknown API key.")
    return Caller(scopes)


def check_secret(settings: Settings, secret: str | None) -> None:
    """c2corg's shared secret (API_SECRET_KEY) of /publish, /delete, /recrop and /rotate."""
    expected = settings.api_secret_key
    if not secret:
        raise Unauthorized("Missing secret key.")
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Forbidden("Bad secret key.")
