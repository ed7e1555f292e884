"""Serving stored objects: /active (published) and /files (signed, temporary)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, RedirectResponse, Response

from imagehost.service.files import StoredFile, active_file, signed_file
from imagehost.web.schemas import error_responses
from imagehost.web.state import ContextDep

router = APIRouter(tags=["files"])


@router.get("/active/{key:path}", responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The published object (local store)."},
    302: {"description": "Redirect to the bucket's public URL (object stores)."},
    **error_responses(400, 404)})
@router.head("/active/{key:path}", include_in_schema=False)
async def active(key: str, ctx: ContextDep) -> Response:
    """A published object: the local active folder, or a redirect to the bucket's public URL."""
    return _response(active_file(ctx, key))


@router.get("/files/{store_name}/{key:path}", responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The object."},
    **error_responses(400, 403, 404)})
@router.head("/files/{store_name}/{key:path}", include_in_schema=False)
async def signed(store_name: str, key: str, ctx: ContextDep,
                 expires: Annotated[str, Query()] = "",
                 sig: Annotated[str, Query()] = "") -> Response:
    """An object of a local store through a temporary signed URL (403 if tampered or expired)."""
    return _response(signed_file(ctx, store_name, key, expires, sig))


def _response(stored: StoredFile) -> Response:
    if stored.redirect is not None:
        return RedirectResponse(stored.redirect, status_code=302)
    assert stored.path is not None
    # what is not an image is downloaded, never rendered in this origin
    attachment = None if stored.content_type.startswith("image/") else stored.path.name
    return FileResponse(stored.path, media_type=stored.content_type, filename=attachment,
                        headers={"Cache-Control": stored.cache_control})
