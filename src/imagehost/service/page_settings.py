"""What the web page needs to know about the server and the caller: the caller's scopes (the
page hides what they forbid), whether URLs must be signed, and the choices of its forms."""

from __future__ import annotations

from typing import Any

from imagehost.catalog.filters import FILTER_HELP
from imagehost.imaging.derivation import FITS
from imagehost.imaging.formats import OUTPUT_FORMATS
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext


def page_settings(ctx: ServiceContext, caller: Caller) -> dict[str, Any]:
    settings = ctx.settings
    return {
        "scopes": sorted(caller.scopes),
        "anonymous": caller.anonymous,
        "signing": settings.url_signing_key is not None,
        "formats": [fmt.value for fmt in OUTPUT_FORMATS],
        "fits": list(FITS),
        "variants": [spec.suffix for spec in ctx.policy.specs],
        "max_side": settings.derived_max_side,
        "max_upload_bytes": settings.max_upload_bytes,
        "filter_help": FILTER_HELP,
    }
