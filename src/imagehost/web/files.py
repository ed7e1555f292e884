"""Serving stored objects: /active (published) and /files (signed, temporary)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, RedirectResponse, Response

from imagehost.service.files import StoredFile, active_file, signed_file
from imagehost.service.vocabulary import STORE_NAMES
from imagehost.web.schemas import error_responses
from imagehost.web.state import ContextDep

router = APIRouter(tags=["files"])
KEY_EXAMPLE = "derived/4/669556d31d1172ab/w512_inside_q82.jpg"
Key = Annotated[str, Path(description="The object's key in the store.",
                          openapi_examples={"key": {"value": "1714557600_6380379483.jpg"}})]
SignedKey = Annotated[str, Path(description="The object's key in the store.",
                                openapi_examples={"key": {"value": KEY_EXAMPLE}})]
StoreName = Annotated[str, Path(description="The local store the URL was signed for.",
                                json_schema_extra={"enum": list(STORE_NAMES)},
                                openapi_examples={"cache": {"value": "cache"}})]
Expires = Annotated[str, Query(description="Unix time after which the URL is refused.",
                               openapi_examples={"expires": {"value": "1796659594"}})]
Signature = Annotated[str, Query(description="HMAC-SHA256 (hex) of the store, key and expires.",
                                 openapi_examples={"sig": {"value": "6cbf02fa537c78c977eb8e972"
                                                                    "22b54766c03c5bc167af4fb964"
                                                                    "9ecc196bbbc91"}})]


@router.get("/active/{key:path}", summary="A published object", response_class=Response,
            responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The published object (local store)."},
    302: {"description": "Redirect to the bucket's public URL (object stores)."},
    **error_responses(400, 404)})
@router.head("/active/{key:path}", include_in_schema=False)
async def active(key: Key, ctx: ContextDep) -> Response:
    """A published object: the local active folder, or a redirect to the bucket's public URL."""
    return _response(active_file(ctx, key))


@router.get("/files/{store_name}/{key:path}", summary="An object through a signed URL",
            response_class=Response, responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The object."},
    **error_responses(400, 403, 404)})
@router.head("/files/{store_name}/{key:path}", include_in_schema=False)
async def signed(store_name: StoreName, key: SignedKey, ctx: ContextDep,
                 expires: Expires = "", sig: Signature = "") -> Response:
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
