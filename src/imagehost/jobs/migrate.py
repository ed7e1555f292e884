"""migrate: v5 originals -> active store + catalog, with variants."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.errors import ConfigError
from imagehost.jobs.sources import OriginalSource, build_source
from imagehost.service.context import ServiceContext
from imagehost.service.naming import check_original_key
from imagehost.service.processing import process_upload
from imagehost.service.storing import catalog_stored_image, store_image

# The first archive id per (filename, has_svg), as the reference did, in pages by that id.
_PAGE = {
    "ASC": text("SELECT id, filename, has_svg FROM (SELECT min(image_archive_id) AS id, "
                "filename, has_svg FROM app_images_archives GROUP BY filename, has_svg) AS v5 "
                "WHERE id > :after ORDER BY id ASC LIMIT :size"),
    "DESC": text("SELECT id, filename, has_svg FROM (SELECT min(image_archive_id) AS id, "
                 "filename, has_svg FROM app_images_archives GROUP BY filename, has_svg) AS v5 "
                 "WHERE id < :after ORDER BY id DESC LIMIT :size"),
}


class MigrateJob:
    name = "migrate"

    def __init__(self, source: OriginalSource | None = None) -> None:
        self._source = source

    def source(self, ctx: ServiceContext) -> OriginalSource:
        if self._source is None:
            self._source = build_source(ctx.settings)
        return self._source

    def check(self, params: dict[str, Any], ctx: ServiceContext) -> None:
        self.source(ctx)
        if params.get("key"):
            return
        url = ctx.settings.v5_database_url
        if not url:
            raise ConfigError("V5_DATABASE_URL is not set: migrate lists the v5 images from "
                              "that database; set it (postgresql://user:password@host/db) "
                              "or give --key")
        engine = _v5_engine(url)
        try:
            with engine.connect() as connection:
                connection.execute(_PAGE["ASC"], {"after": 0, "size": 1})
        except DBAPIError as exc:
            shown = make_url(url).render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            raise ConfigError(f"V5_DATABASE_URL={shown}: cannot read app_images_archives "
                              f"({reason}); start that database, or correct "
                              "V5_DATABASE_URL") from None
        finally:
            engine.dispose()

    def list_keys(self, params: dict[str, Any], ctx: ServiceContext) -> Iterator[str]:
        if params.get("key"):
            yield params["key"]
            return
        url = ctx.settings.v5_database_url
        assert url, "checked by check()"
        order = params.get("order") or ctx.settings.v5_order
        engine = _v5_engine(url)
        after = 0 if order == "ASC" else 2**62
        try:
            while True:
                with engine.connect() as connection:
                    rows = connection.execute(_PAGE[order], {"after": after, "size": 500}).all()
                if not rows:
                    return
                for archive_id, filename, has_svg in rows:
                    after = archive_id
                    yield v5_key(filename, bool(has_svg))
        finally:
            engine.dispose()

    def process(self, key: str, params: dict[str, Any], ctx: ServiceContext,
                dry_run: bool = False) -> ItemState:
        check_original_key(key)
        active = ctx.stores.active
        if key.endswith(".svg") and not dry_run:
            base = posixpath.splitext(key)[0]
            for stale in (f"{base}.jpg", f"{base}.png"):
                active.delete(stale)
        wanted = [key, *ctx.policy.variant_keys(key)]
        if not params.get("force") and all(active.exists(k) for k in wanted):
            return self._ensure_recorded(key, ctx, dry_run)
        if dry_run:
            return ItemState.DONE
        processed = process_upload(self.source(ctx).fetch(key), ctx.policy, orient=False)
        store_image(ctx, key, processed, ImageStatus.ACTIVE, now=datetime.now(UTC))
        return ItemState.DONE


    @staticmethod
    def _ensure_recorded(key: str, ctx: ServiceContext, dry_run: bool) -> ItemState:
        """Already in active: skipped, unless a run died between the store and the catalog."""
        record = ctx.records.by_file(key)
        if record is not None and record.status == ImageStatus.ACTIVE.value:
            return ItemState.SKIPPED
        if not dry_run:
            catalog_stored_image(ctx, key, ctx.stores.active.get(key), ImageStatus.ACTIVE,
                                 datetime.now(UTC))
        return ItemState.DONE


def _v5_engine(url: str) -> Engine:
    try:
        return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"V5_DATABASE_URL={url!r}: not a usable database URL ({exc}); "
                          "e.g. postgresql://user:password@host/c2corg") from None


def v5_key(filename: str, has_svg: bool) -> str:
    return posixpath.splitext(filename)[0] + ".svg" if has_svg else filename
