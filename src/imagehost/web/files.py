"""Serving stored objects: /active (published) and /files (signed, temporary)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, RedirectResponse, Response

from imagehost.errors import Forbidden, NotFound
from imagehost.storage.keys import content_type_for, validate_key
from imagehost.storage.local import LocalStore
from imagehost.web.schemas import error_responses
from imagehost.web.state import Services, services

router = APIRouter(tags=["files"])
ServicesDep = Annotated[Services, Depends(services)]


@router.get("/active/{key:path}", responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The published object (local store)."},
    302: {"description": "Redirect to the bucket's public URL (object stores)."},
    **error_responses(400, 404)})
@router.head("/active/{key:path}", include_in_schema=False)
async def active_file(key: str, svc: ServicesDep) -> Response:
    """A published object: the local active folder, or a redirect to the bucket's public URL."""
    store = svc.stores.active
    if not isinstance(store, LocalStore):
        return RedirectResponse(store.public_url(validate_key(key)), status_code=302)
    return _file(store, key, svc.settings.cache_control)


@router.get("/files/{store_name}/{key:path}", responses={
    200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The object."},
    **error_responses(400, 403, 404)})
@router.head("/files/{store_name}/{key:path}", include_in_schema=False)
async def signed_file(store_name: str, key: str, svc: ServicesDep,
                      expires: Annotated[str, Query()] = "",
                      sig: Annotated[str, Query()] = "") -> Response:
    """An object of a local store through a temporary signed URL (403 if tampered or expired)."""
    store = svc.stores.named().get(store_name)
    if not isinstance(store, LocalStore):
        raise NotFound(f"No local store {store_name!r}.")
    if not svc.stores.signer.verify(store_name, validate_key(key), expires, sig):
        raise Forbidden("The signature is invalid or has expired.")
    return _file(store, key, "private, max-age=60")


def _file(store: LocalStore, key: str, cache_control: str) -> FileResponse:
    path = store.path(key)
    if not path.is_file():
        raise NotFound(f"No object {key!r}.")
    return FileResponse(path, media_type=content_type_for(key),
                        headers={"Cache-Control": cache_control})
