"""Derived images on demand: cached, and rendered from the smallest good enough source."""

from __future__ import annotations

import json
import posixpath
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.errors import LimitExceeded, NotFound
from imagehost.imaging.derivation import Derivation
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.metadata import describe
from imagehost.imaging.probe import ImageInfo, probe_image
from imagehost.imaging.render import render_derivation
from imagehost.imaging.variants import Resize, VariantSpec, variant_key
from imagehost.service.derived_cache import DerivedCache, cache_key
from imagehost.service.records import RecordContext, read_original, store_for


@dataclass(frozen=True)
class DerivedOptions:
    avif_effort: int = 0
    quality: Mapping[str, int] | None = None
    expose_gps: bool = False
    url_lifetime: float = 172800.0


@dataclass(frozen=True)
class DerivedContext:
    records: RecordContext
    cache: DerivedCache
    options: DerivedOptions


@dataclass(frozen=True)
class DerivedImage:
    data: bytes
    content_type: str
    key: str
    """The cache key; its last part is the canonical derivation name."""
    source: str
    """Where the bytes came from: memory, disk, store, or rendered from <key>."""

    @property
    def etag(self) -> str:
        return '"' + self.key.split("/", 2)[-1].replace("/", "-") + '"'


def derive_image(record: ImageRecord, derivation: Derivation, ctx: DerivedContext) -> DerivedImage:
    key = cache_key(record.id, record.sha256, derivation.canonical_name())
    cached = ctx.cache.get(key)
    if cached is not None:
        return DerivedImage(cached[0], derivation.content_type, key, cached[1])
    original_info = record_info(record)
    source_key = choose_source(record, derivation, ctx.records)
    data_source = store_for(ImageStatus(record.status), ctx.records.stores)
    try:
        data = data_source.get(source_key)
    except NotFound:
        source_key, data = record.key, read_original(record, ctx.records)
    source_info = probe_image(data, sniff_format(data), ctx.records.policy.limits)
    rendered = render_derivation(data, source_info, original_info, derivation,
                                 avif_effort=ctx.options.avif_effort)
    ctx.cache.put(key, rendered)
    return DerivedImage(rendered, derivation.content_type, key, f"rendered from {source_key}")


def stored_variant(record: ImageRecord, suffix: str, ctx: RecordContext) -> tuple[bytes, str]:
    """A configured eager variant, straight from the store (no decode)."""
    spec = next((s for s in ctx.policy.specs if s.suffix == suffix), None)
    if spec is None:
        raise NotFound(f"No variant {suffix!r}; configured: "
                       f"{', '.join(s.suffix for s in ctx.policy.specs)}.")
    key = variant_key(record.key, spec)
    data = store_for(ImageStatus(record.status), ctx.stores).get(key)
    return data, spec.output_format(ImageFormat(record.format)).content_type


def image_metadata(record: ImageRecord, ctx: DerivedContext) -> dict[str, Any]:
    name = f"meta{'-gps' if ctx.options.expose_gps else ''}.json"
    key = cache_key(record.id, record.sha256, name)
    cached = ctx.cache.get(key)
    if cached is not None:
        return json.loads(cached[0])
    data = read_original(record, ctx.records)
    meta = {"id": record.id, "file": record.key,
            **describe(data, probe_image(data, sniff_format(data), ctx.records.policy.limits),
                       expose_gps=ctx.options.expose_gps)}
    ctx.cache.put(key, json.dumps(meta).encode())
    return meta


def temporary_url(record: ImageRecord, derivation: Derivation,
                  ctx: DerivedContext) -> dict[str, Any]:
    """A temporary URL of the derived object in the cache store (rendered first if needed)."""
    derived = derive_image(record, derivation, ctx)
    if not ctx.cache.in_store(derived.key):
        ctx.cache.store.put(derived.key, derived.data, derived.content_type)
    lifetime = ctx.options.url_lifetime
    expires = datetime.fromtimestamp(int(time.time() + lifetime), UTC)
    return {"url": ctx.cache.store.signed_url(derived.key, lifetime),
            "expires": expires.isoformat(), "etag": derived.etag}


def choose_source(record: ImageRecord, derivation: Derivation, ctx: RecordContext) -> str:
    """The source ladder: the smallest stored variant that is a plain downscale of the
    original (same aspect ratio, no crop) and still at least as large as what the
    derivation needs; else the original."""
    if record.format == ImageFormat.SVG.value or not derivation.resizes:
        return record.key
    needed = _needed_size(derivation, record.width, record.height)
    best: tuple[int, str] | None = None
    for spec in ctx.policy.specs:
        size = _plain_downscale(spec, record.width, record.height)
        if size is None or size[0] < needed[0] or size[1] < needed[1]:
            continue
        if size == (record.width, record.height):
            continue
        if best is None or size[0] * size[1] < best[0]:
            best = (size[0] * size[1], variant_key(record.key, spec))
    return best[1] if best else record.key


def record_info(record: ImageRecord) -> ImageInfo:
    fmt = ImageFormat(record.format)
    return ImageInfo(fmt, record.width, record.height, 1, 1, False)


def _needed_size(derivation: Derivation, width: int, height: int) -> tuple[int, int]:
    if derivation.fit == "cover" and derivation.gravity == "attention":
        return Resize(derivation.width, derivation.height, "cover").target(width, height)
    return derivation.resize_step().target(width, height)


def _plain_downscale(spec: VariantSpec, width: int, height: int) -> tuple[int, int] | None:
    if len(spec.steps) != 1 or not isinstance(spec.steps[0], Resize):
        return None
    step = spec.steps[0]
    if step.fit != "inside" or spec.format is not None:
        return None
    return step.target(width, height)



def archive_derived(records: list[ImageRecord],
                    derivation_for: Callable[[ImageRecord], Derivation] | None,
                    ctx: DerivedContext, *, max_bytes: int) -> IO[bytes]:
    """A zip of each record's derived image (or original) named by its canonical derivation
    name, spooled to disk; LimitExceeded beyond `max_bytes`."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
    total = 0
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for record in records:
            if derivation_for is None:
                name, data = record.key, read_original(record, ctx.records)
            else:
                derivation = derivation_for(record)
                derived = derive_image(record, derivation, ctx)
                stem = posixpath.splitext(record.key)[0]
                name, data = f"{stem}+{derivation.canonical_name()}", derived.data
            total += len(data)
            if total > max_bytes:
                break
            archive.writestr(name, data)
    if total > max_bytes:
        spool.close()
        raise LimitExceeded(f"The archive would exceed {max_bytes} bytes (archive_max_bytes); "
                            "narrow the filter.")
    spool.seek(0)
    return spool
