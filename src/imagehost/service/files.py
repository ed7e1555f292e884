"""Stored objects served as they are: /active (published) and /files (signed, temporary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imagehost.errors import Forbidden, NotFound
from imagehost.imaging.formats import content_type_of
from imagehost.service.context import ServiceContext
from imagehost.storage.keys import validate_key
from imagehost.storage.local import LocalStore

SIGNED_CACHE_CONTROL = "private, max-age=60"


@dataclass(frozen=True)
class StoredFile:
    """A file to send (local stores), or where the object lives (object stores)."""

    path: Path | None
    content_type: str
    cache_control: str
    redirect: str | None = None


def active_file(ctx: ServiceContext, key: str) -> StoredFile:
    """A published object: the local active folder, or the bucket's public URL."""
    store = ctx.stores.active
    if not isinstance(store, LocalStore):
        return StoredFile(None, content_type_of(key), ctx.settings.cache_control,
                          redirect=store.public_url(validate_key(key)))
    return _local_file(store, key, ctx.settings.cache_control)


def signed_file(ctx: ServiceContext, store_name: str, key: str, expires: str,
                signature: str) -> StoredFile:
    """An object of a local store through a temporary signed URL (403 if tampered or
    expired)."""
    store = ctx.stores.named().get(store_name)
    if not isinstance(store, LocalStore):
        raise NotFound(f"No local store {store_name!r}.")
    if not ctx.stores.signer.verify(store_name, validate_key(key), expires, signature):
        raise Forbidden("The signature is invalid or has expired.")
    return _local_file(store, key, SIGNED_CACHE_CONTROL)


def _local_file(store: LocalStore, key: str, cache_control: str) -> StoredFile:
    path = store.path(key)
    if not path.is_file():
        raise NotFound(f"No object {key!r}.")
    return StoredFile(path, content_type_of(key), cache_control)
