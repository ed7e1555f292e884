"""GET /images?<filters>&archive=zip: the matching images in one zip, each derived by the
request's derivation parameters (or the originals), named by canonical derivation name."""

from __future__ import annotations

import posixpath
import tempfile
import zipfile
from dataclasses import replace
from typing import IO

from imagehost.errors import BadRequest, LimitExceeded
from imagehost.imaging.derivation import DERIVATION_PARAMETERS
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext
from imagehost.service.derived import (
    SIGNATURE_PARAMETERS,
    derive_image,
    parse_request_derivation,
    resolve_for,
)
from imagehost.service.records import read_original, visible_query
from imagehost.service.url_signing import verify

LISTING_PATH = "/images"
ARCHIVE_KINDS = ("zip",)
"""The values of `archive=`."""


def archive_images(ctx: ServiceContext, params: list[tuple[str, str]], caller: Caller,
                   accept: str) -> IO[bytes]:
    """The zip, spooled to disk; LimitExceeded beyond ARCHIVE_MAX_IMAGES or
    ARCHIVE_MAX_BYTES."""
    kinds = [v for k, v in params if k == "archive"]
    if kinds[-1:] != list(ARCHIVE_KINDS):
        raise BadRequest(f"Parameter 'archive': the only archive is {ARCHIVE_KINDS[0]}.")
    derivation_params = [(k, v) for k, v in params if k in DERIVATION_PARAMETERS]
    signing_key = ctx.settings.url_signing_key
    if signing_key and derivation_params:
        verify(signing_key, LISTING_PATH, params)
    derivation = parse_request_derivation(ctx, derivation_params) if derivation_params else None
    query = visible_query(params, caller, extra_reserved=(
        *DERIVATION_PARAMETERS, "archive", *SIGNATURE_PARAMETERS))
    settings = ctx.settings
    count = ctx.records.page(replace(query, limit=1, skip=0)).total
    if count > settings.archive_max_images:
        raise LimitExceeded(f"{count} images match; an archive holds at most "
                            f"{settings.archive_max_images} (archive_max_images).")
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    total = 0
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in ctx.records.iterate(query.filter):
            if derivation is None:
                name, data = record.key, read_original(ctx, record)
            else:
                resolved = resolve_for(ctx, derivation, record, accept)
                stem = posixpath.splitext(record.key)[0]
                name = f"{stem}+{resolved.canonical_name()}"
                data = derive_image(ctx, record, resolved).data
            total += len(data)
            if total > settings.archive_max_bytes:
                break
            archive.writestr(name, data)
    if total > settings.archive_max_bytes:
        spool.close()
        raise LimitExceeded(f"The archive would exceed {settings.archive_max_bytes} bytes "
                            "(archive_max_bytes); narrow the filter.")
    spool.seek(0)
    return spool
