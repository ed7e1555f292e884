"""Signatures of derived-image URLs for callers with the read scope: the web page signs the
thumbnails it shows and the URLs its builder makes when URL_SIGNING_KEY is set."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from imagehost.catalog.models import MAX_ID
from imagehost.errors import BadRequest
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext
from imagehost.service.derived import IMAGE_PATH, SIGNATURE_PARAMETERS
from imagehost.service.url_signing import canonical_query, sign

MAX_LINKS = 600
"""Links signed per request: a page of thumbnails at three sizes each, with room to spare."""
MAX_LIFETIME = 365 * 86400.0


@dataclass(frozen=True)
class LinkRequest:
    record_id: int
    query: str
    """The derivation parameters, as a query string (w=320&format=auto)."""


def signed_queries(ctx: ServiceContext, caller: Caller, links: Sequence[LinkRequest],
                   expires_in: float | None = None) -> list[str]:
    """Each link's query string, canonical and signed (with `expires` when `expires_in` is
    given); unsigned but canonical while URL_SIGNING_KEY is unset."""
    caller.require("read")
    if len(links) > MAX_LINKS:
        raise BadRequest(f"At most {MAX_LINKS} links per request.")
    if expires_in is not None and not 1 <= expires_in <= MAX_LIFETIME:
        raise BadRequest(f"expires_in must be 1..{int(MAX_LIFETIME)} seconds.")
    key = ctx.settings.url_signing_key
    queries = []
    for link in links:
        if not 1 <= link.record_id <= MAX_ID:
            raise BadRequest(f"Image id {link.record_id} is out of range.")
        params = [(k, v) for k, v in parse_qsl(link.query, keep_blank_values=True)
                  if k not in SIGNATURE_PARAMETERS]
        if key is None:
            queries.append(canonical_query(params))
        else:
            queries.append(sign(key, IMAGE_PATH.format(record_id=link.record_id), params,
                                expires_in))
    return queries
