"""GET /images/{id}/image decided: the original, a stored variant, metadata, a temporary URL,
or a derived size and format, cached in three tiers, rendered from the smallest good enough
source, once per concurrent burst. The route and the memory-hit fast path both call
`serve_derived` and only turn its answer into a response."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.errors import BadRequest, NotFound
from imagehost.imaging.derivation import (
    Derivation,
    negotiates,
    parse_derivation,
    query_flag,
    resolve,
)
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.ladder import source_step
from imagehost.imaging.metadata import describe
from imagehost.imaging.probe import ImageInfo, probe_image
from imagehost.imaging.render import render_derivation
from imagehost.imaging.variants import Resize, variant_key
from imagehost.service.access import ANONYMOUS, Caller
from imagehost.service.context import ServiceContext
from imagehost.service.derived_cache import cache_key
from imagehost.service.ladder import recorded_steps
from imagehost.service.records import get_record, read_original
from imagehost.service.url_signing import verify
from imagehost.tracing import span

IMAGE_PATH = "/images/{record_id}/image"
SIGNATURE_PARAMETERS = ("sig", "expires")
_UNSIGNED = {"variant", "preset"}
_NOT_DERIVED = {"variant", "meta", "url"}


def asks_for_derivation(params: list[tuple[str, str]]) -> bool:
    """Whether `params` ask for a derived image (not the original, a variant, meta or url)."""
    return bool(params) and _NOT_DERIVED.isdisjoint(k for k, _ in params)


@dataclass(frozen=True)
class ImageRequest:
    record_id: int
    params: list[tuple[str, str]]
    accept: str = ""
    if_none_match: str = ""
    caller: Caller = ANONYMOUS
    client: str = ""
    """Who RATE_LIMIT_RENDERS counts a render against (rate_limits.client_of)."""
    base_url: str = ""
    """scheme://host[:port] the client reached (for temporary URLs without SERVICE_URL)."""


@dataclass(frozen=True)
class ImageAnswer:
    """What the route answers: bytes (or JSON) with headers, or a 304."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str | None = None
    json: Any = None
    """Set for meta=true and url=true."""
    source: str | None = None
    """For metrics: memory, disk, store, rendered, coalesced or variant."""
    after: Callable[[], Awaitable[None]] | None = None
    """Work to run once the answer is sent (a render's writes to the disk and cache store)."""


@dataclass(frozen=True)
class DerivedImage:
    data: bytes
    content_type: str
    key: str
    """The cache key; its last part is the canonical derivation name."""
    source: str
    """Where the bytes came from: memory, disk, store, or rendered from <key>."""
    written: Future[None] | None = None
    """A render's writes below the memory tier while they run (derive_image's write_behind)."""


@dataclass(frozen=True)
class DerivedPlan:
    """What a derived request resolves to before any image work."""

    derivation: Derivation
    key: str
    headers: Mapping[str, str]
    """Shared by every answer of the plan (PlanCache): copied, never changed."""


async def serve_derived(ctx: ServiceContext, request: ImageRequest, *,
                        memory_only: bool = False,
                        write_behind: bool = False) -> ImageAnswer | None:
    """The answer to `request`. With `memory_only`, None whenever the answer would need a
    read or a render (the caller then goes the slow way), so it never blocks. With
    `write_behind`, a render's writes below the memory tier are the answer's `after` (the
    caller runs it once the answer is sent)."""
    record = ctx.record_cache.get(request.record_id)
    if record is None:
        if memory_only:
            return None
        generation = ctx.record_cache.generation
        record = await ctx.pool.run(get_record, ctx, request.record_id)
        ctx.record_cache.put(record, read_at=generation)
    request.caller.require_image(published=record.status == ImageStatus.ACTIVE.value)
    params = checked_params(ctx, record.id, request.params)
    names = {k for k, _ in params}
    if memory_only and (not names or not _NOT_DERIVED.isdisjoint(names)):
        return None
    if not names:
        return await _original(ctx, record, request.if_none_match)
    if "variant" in names:
        return await _variant(ctx, record, params, request.if_none_match)
    meta, url = _flag(params, "meta"), _flag(params, "url")
    plan = _plan(ctx, record, params, request.accept)
    if meta:
        return ImageAnswer(json=await ctx.pool.run(image_metadata, ctx, record))
    if url:
        return ImageAnswer(json=await ctx.pool.run(temporary_url, ctx, record,
                                                   plan.derivation, request.base_url))
    answer = _answer_without_work(ctx, plan, request.if_none_match)
    if answer is not None or memory_only:
        return answer
    leader = not ctx.single_flight.pending(plan.key)
    if leader and (wait := ctx.rate_limits.renders.wait(request.client)):
        answer = await _answer_from_cache(ctx, plan)
        if answer is None:
            raise ctx.rate_limits.renders.refusal(wait)
        return answer
    derived: DerivedImage = await ctx.single_flight.run(
        plan.key, lambda: ctx.pool.run(derive_image, ctx, record, plan.derivation,
                                       write_behind=write_behind))
    origin = derived.source.split(" ", 1)[0] if leader else "coalesced"
    written = derived.written if leader else None
    return ImageAnswer(headers={**plan.headers, "X-Imagehost-Source": origin},
                       body=derived.data, content_type=derived.content_type, source=origin,
                       after=None if written is None else functools.partial(_written, written))


async def _written(writes: Future[None]) -> None:
    await asyncio.wrap_future(writes)


def checked_params(ctx: ServiceContext, record_id: int,
                   params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The signature checked (when URL_SIGNING_KEY is set), then dropped; a preset expanded."""
    key = ctx.settings.url_signing_key
    if key and any(k not in _UNSIGNED for k, _ in params):
        verify(key, IMAGE_PATH.format(record_id=record_id), params)
    return _expand_preset(ctx, [(k, v) for k, v in params if k not in SIGNATURE_PARAMETERS])


def derived_plan(ctx: ServiceContext, record: ImageRecord, params: list[tuple[str, str]],
                 accept: str) -> DerivedPlan:
    """The resolved derivation, its cache key, and the response headers (ETag is the key)."""
    parsed = parse_request_derivation(ctx, params)
    derivation = resolve_for(ctx, parsed, record, accept)
    key = cache_key(record.id, record.sha256, derivation.canonical_name())
    headers = {"ETag": etag_of(key),
               "Cache-Control": _cache_control(record, ctx.settings.derived_cache_control)}
    if negotiates(parsed):
        headers["Vary"] = "Accept"
    return DerivedPlan(derivation, key, headers)


def _plan(ctx: ServiceContext, record: ImageRecord, params: list[tuple[str, str]],
          accept: str) -> DerivedPlan:
    """`derived_plan` of the request, kept in `ctx.plans` while `record` is current."""
    asked = tuple(params)
    plan = ctx.plans.get(record, asked, accept)
    if plan is None:
        plan = derived_plan(ctx, record, [(k, v) for k, v in params if k not in ("meta", "url")],
                            accept)
        ctx.plans.put(record, asked, accept, plan)
    return plan


def parse_request_derivation(ctx: ServiceContext, params: list[tuple[str, str]]) -> Derivation:
    settings = ctx.settings
    return parse_derivation(params, max_side=settings.derived_max_side,
                            thumbnail_size=settings.thumbnail_size,
                            thumbnail_enhancements=settings.thumbnail_enhancements)


def resolve_for(ctx: ServiceContext, derivation: Derivation, record: ImageRecord,
                accept: str) -> Derivation:
    """`derivation` for this record: its format, focal point and the quality defaults."""
    return resolve(derivation, ImageFormat(record.format),
                   accept if negotiates(derivation) else "",
                   quality=ctx.settings.derived_quality, focal=focal_point(record))


def etag_of(key: str) -> str:
    return '"' + key.split("/", 2)[-1].replace("/", "-") + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    return (etag in {p.strip().removeprefix("W/") for p in if_none_match.split(",")}
            or if_none_match == "*")


def derive_image(ctx: ServiceContext, record: ImageRecord, derivation: Derivation, *,
                 write_behind: bool = False) -> DerivedImage:
    """From a cache tier, else rendered and cached; with `write_behind`, a render is in the
    memory tier at once and written below it on the cache's writer thread (`written`)."""
    key = cache_key(record.id, record.sha256, derivation.canonical_name())
    cached = ctx.cache.get(key)
    if cached is not None:
        return DerivedImage(cached[0], derivation.content_type, key, cached[1])
    source_key = choose_source(ctx, record, derivation)
    try:
        data = ctx.store_for(record.status).get(source_key)
    except NotFound:
        source_key, data = record.key, read_original(ctx, record)
    with ctx.cache.rendering():
        with span("image.decode"):
            source_info = probe_image(data, sniff_format(data), ctx.policy.limits)
        with span("image.render"):
            rendered = render_derivation(data, source_info, record_info(record), derivation,
                                         avif_effort=ctx.settings.avif_effort,
                                         full_effort_pixels=ctx.settings.full_effort_pixels)
        written = ctx.cache.put(key, rendered, later=write_behind)
    return DerivedImage(rendered, derivation.content_type, key, f"rendered from {source_key}",
                        written)


def stored_variant(ctx: ServiceContext, record: ImageRecord, suffix: str) -> tuple[bytes, str]:
    """A configured eager variant, straight from the store (no decode)."""
    spec = next((s for s in ctx.policy.specs if s.suffix == suffix), None)
    if spec is None:
        raise NotFound(f"No variant {suffix!r}; configured: "
                       f"{', '.join(s.suffix for s in ctx.policy.specs)}.")
    data = ctx.store_for(record.status).get(variant_key(record.key, spec))
    return data, spec.output_format(ImageFormat(record.format)).content_type


def image_metadata(ctx: ServiceContext, record: ImageRecord) -> dict[str, Any]:
    expose_gps = ctx.settings.expose_gps
    key = cache_key(record.id, record.sha256, f"meta{'-gps' if expose_gps else ''}.json")
    cached = ctx.cache.get(key)
    if cached is not None:
        return json.loads(cached[0])
    data = read_original(ctx, record)
    meta = {"id": record.id, "file": record.key,
            **describe(data, probe_image(data, sniff_format(data), ctx.policy.limits),
                       expose_gps=expose_gps)}
    ctx.cache.put(key, json.dumps(meta).encode())
    return meta


def temporary_url(ctx: ServiceContext, record: ImageRecord, derivation: Derivation,
                  base_url: str = "") -> dict[str, Any]:
    """A temporary URL of the derived object in the cache store (rendered first if needed);
    a root-relative one (the local store without SERVICE_URL) is put on `base_url`."""
    derived = derive_image(ctx, record, derivation)
    store = ctx.cache.store
    if not store.exists(derived.key):
        ctx.cache.put_in_store(derived.key, derived.data)
    lifetime = ctx.settings.signed_url_lifetime
    expires = datetime.fromtimestamp(int(time.time() + lifetime), UTC)
    url = store.signed_url(derived.key, lifetime)
    if url.startswith("/"):
        url = base_url.rstrip("/") + url
    return {"url": url, "expires": expires.isoformat(), "etag": etag_of(derived.key)}


def choose_source(ctx: ServiceContext, record: ImageRecord, derivation: Derivation) -> str:
    """The ladder: the smallest step of the original at least 1.5x the output on both axes
    (imaging/ladder.py); else the original."""
    if not record.ladder or not derivation.resizes:
        return record.key
    needed = _needed_size(derivation, record.width, record.height)
    steps = dict(recorded_steps(record))
    chosen = source_step(list(steps), needed)
    return steps[chosen] if chosen is not None else record.key


def record_info(record: ImageRecord) -> ImageInfo:
    return ImageInfo(ImageFormat(record.format), record.width, record.height, 1, 1, False)


def focal_point(record: ImageRecord) -> tuple[float, float] | None:
    """data.focal as {x, y} or [x, y] in 0..1, else None."""
    focal = record.data.get("focal") if isinstance(record.data, dict) else None
    try:
        if isinstance(focal, dict):
            x, y = float(focal["x"]), float(focal["y"])
        elif isinstance(focal, list | tuple) and len(focal) == 2:
            x, y = float(focal[0]), float(focal[1])
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return (x, y) if 0 <= x <= 1 and 0 <= y <= 1 else None


async def _original(ctx: ServiceContext, record: ImageRecord, if_none_match: str) -> ImageAnswer:
    headers = {"ETag": f'"{record.sha256}"',
               "Cache-Control": _cache_control(record, ctx.settings.cache_control)}
    if etag_matches(if_none_match, headers["ETag"]):
        return ImageAnswer(304, headers)
    data = await ctx.pool.run(read_original, ctx, record)
    return ImageAnswer(headers=headers, body=data,
                       content_type=ImageFormat(record.format).content_type)


async def _variant(ctx: ServiceContext, record: ImageRecord, params: list[tuple[str, str]],
                   if_none_match: str) -> ImageAnswer:
    if len(params) != 1:
        raise BadRequest("variant takes no other parameters.")
    suffix = params[0][1]
    headers = {"ETag": f'"{record.sha256[:16]}-{suffix}"',
               "Cache-Control": _cache_control(record, ctx.settings.derived_cache_control)}
    if etag_matches(if_none_match, headers["ETag"]):
        return ImageAnswer(304, headers)
    data, content_type = await ctx.pool.run(stored_variant, ctx, record, suffix)
    return ImageAnswer(headers=headers, body=data, content_type=content_type, source="variant")


def _answer_without_work(ctx: ServiceContext, plan: DerivedPlan,
                         if_none_match: str) -> ImageAnswer | None:
    """A 304, or the bytes from the memory tier; None when the image must be fetched."""
    if etag_matches(if_none_match, plan.headers["ETag"]):
        return ImageAnswer(304, plan.headers)
    memory = ctx.cache.memory
    data = memory.get(plan.key) if memory is not None else None
    if data is None:
        return None
    return ImageAnswer(headers={**plan.headers, "X-Imagehost-Source": "memory"}, body=data,
                       content_type=plan.derivation.content_type, source="memory")


async def _answer_from_cache(ctx: ServiceContext, plan: DerivedPlan) -> ImageAnswer | None:
    """The bytes from the disk or store tier, for a client out of renders: a hit never
    counts."""
    cached = await ctx.pool.run(ctx.cache.get, plan.key)
    if cached is None:
        return None
    data, tier = cached
    return ImageAnswer(headers={**plan.headers, "X-Imagehost-Source": tier}, body=data,
                       content_type=plan.derivation.content_type, source=tier)


def _cache_control(record: ImageRecord, public: str) -> str:
    """Only published images may sit in shared caches."""
    return public if record.status == ImageStatus.ACTIVE.value else "private, no-store"


def _expand_preset(ctx: ServiceContext,
                   params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    presets = [v for k, v in params if k == "preset"]
    if not presets:
        return params
    if len(params) != 1:
        raise BadRequest("preset takes no other parameters.")
    configured = ctx.settings.derived_presets
    query = configured.get(presets[0])
    if query is None:
        raise NotFound(f"No preset {presets[0]!r}; configured: "
                       f"{', '.join(configured) or 'none'}.")
    return parse_qsl(query)


def _flag(params: list[tuple[str, str]], name: str) -> bool:
    values = [v for k, v in params if k == name]
    return bool(values) and query_flag(name, values[-1])


def _needed_size(derivation: Derivation, width: int, height: int) -> tuple[int, int]:
    if derivation.fit == "cover" and derivation.gravity == "attention":
        return Resize(derivation.width, derivation.height, "cover").target(width, height)
    return derivation.resize_step().target(width, height)
