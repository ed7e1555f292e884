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
    lists_published: bool = False
    """PUBLIC_LISTING, for a caller without a key: records of published images are public."""

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

    # The read policy, the one place it is decided:
    # - an image's bytes (the original, its variants and derived images, meta=true, url=true,
    #   /active/<key>) are public once it is published;
    # - records (listings, archive=zip, /export, GET /images/{id}, the fields routes) need
    #   the read scope, unless PUBLIC_LISTING lets anyone read those of published images;
    # - anything about an unpublished image needs the read scope.

    def require_image(self, published: bool) -> None:
        """May read the bytes of an image (published or not)."""
        if not published:
            self.require("read")

    def require_records(self, published_only: bool) -> None:
        """May read records: of published images only, or of any."""
        if not (published_only and self.lists_published):
            self.require("read")


ANONYMOUS = Caller()
OPEN = Caller(frozenset({"read", "write"}))
"""A caller without a key where AUTH_REQUIRED is false."""
LISTER = Caller(lists_published=True)
"""A caller without a key where PUBLIC_LISTING is true."""


def identify(settings: Settings, key: str | None) -> Caller:
    """The caller an API key (or none) stands for; Unauthorized for an unknown key."""
    if key is None:
        if not settings.auth_required:
            return OPEN
        return LISTER if settings.public_listing else ANONYMOUS
    scopes = settings.scopes_of(key)
    if not scopes:
        raise Unauthorized("Unknown API key.")
    return Caller(scopes)


def check_secret(settings: Settings, secret: str | None) -> None:
    """c2corg's shared secret (API_SECRET_KEY) of /publish, /delete, /recrop and /rotate."""
    expected = settings.api_secret_key
    if not expected:
        raise Forbidden("publishing is disabled: API_SECRET_KEY is not set")
    if not secret:
        raise Unauthorized("Missing secret key.")
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Forbidden("Bad secret key.")
