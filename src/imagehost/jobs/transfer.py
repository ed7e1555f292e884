"""transfer: copy every object of this service's stores to the stores another configuration
describes (local -> S3, S3 -> Swift, ...), verified by size and SHA-256."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagehost.catalog.models import ItemState
from imagehost.config import load_settings
from imagehost.errors import StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.runtime import build_stores_for
from imagehost.service.context import ServiceContext
from imagehost.storage.factory import Stores

ROLES = ("incoming", "active", "cache")


class TransferJob:
    name = "transfer"

    def __init__(self) -> None:
        self._targets: dict[str, Stores] = {}

    def target(self, params: dict[str, Any]) -> Stores:
        path = params["to"]
        if path not in self._targets:
            self._targets[path] = build_stores_for(load_settings({}, Path(path)))
        return self._targets[path]

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        self.target(params)

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        for role in params.get("roles") or ROLES:
            for info in ctx.stores.named()[role].list(params.get("prefix") or ""):
                yield f"{role}:{info.key}"

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        role, _, object_key = key.partition(":")
        source = ctx.stores.named()[role]
        target = self.target(params).named()[role]
        data = source.get(object_key)
        digest = hashlib.sha256(data).hexdigest()
        existing = target.head(object_key)
        if existing is not None and existing.size == len(data) and \
                hashlib.sha256(target.get(object_key)).hexdigest() == digest:
            return ItemState.SKIPPED
        if dry_run:
            return ItemState.DONE
        target.put(object_key, data, content_type_of(object_key))
        copied = target.get(object_key)
        if len(copied) != len(data) or hashlib.sha256(copied).hexdigest() != digest:
            raise StoreUnavailable(f"{key}: the copy does not match (size or checksum)")
        return ItemState.DONE
