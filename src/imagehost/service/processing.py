"""From uploaded bytes to a checked original and its rendered variants."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.privacy import strip_metadata
from imagehost.imaging.probe import ImageInfo, check_size, probe_image
from imagehost.imaging.render import RenderedStep, RenderResult, render_ladder, render_variants
from imagehost.imaging.svg import sanitize_svg
from imagehost.imaging.variants import variant_key
from imagehost.memory import release_freed_memory
from imagehost.service.ladder import ladder_key
from imagehost.service.policy import ImagePolicy
from imagehost.tracing import span

StoredObject = tuple[str, bytes, str]
"""key, bytes, Content-Type"""
BACKGROUND_DIGEST_BYTES = 1_000_000
"""Originals at least this large are hashed in a thread of their own (hashlib releases the
GIL) while the variants are written: 10-30 ms of a large upload off its critical path."""


@dataclass(frozen=True)
class ProcessedImage:
    original: bytes
    info: ImageInfo
    rendered: RenderResult
    ladder: tuple[RenderedStep, ...] = ()
    """The ladder of `original` (none when the variants were made from an edited copy)."""
    digest: Future[str] | None = field(default=None, compare=False, repr=False)
    """The original's SHA-256 being computed, if started (see BACKGROUND_DIGEST_BYTES)."""

    @property
    def sha256(self) -> str:
        if self.digest is not None:
            return self.digest.result()
        return hashlib.sha256(self.original).hexdigest()

    def variant_objects(self, key: str) -> list[StoredObject]:
        return [(variant_key(key, v.spec), v.data, v.format.content_type)
                for v in self.rendered.variants]

    def ladder_objects(self, key: str) -> list[StoredObject]:
        return [(step_key, step.data, step.format.content_type) for step in self.ladder
                if (step_key := ladder_key(key, step.step.side)) is not None]

    def objects(self, key: str) -> list[StoredObject]:
        """Every object of the image under `key`: the variants and the ladder, then the
        original (written last, so that an original in a store always has them)."""
        return [*self.variant_objects(key), *self.ladder_objects(key),
                (key, self.original, self.info.format.content_type)]


def process_upload(data: bytes, policy: ImagePolicy, *, orient: bool | None = None
                   ) -> ProcessedImage:
    """Sniff, sanitize, check limits from the header, then render all variants at once, and
    strip the original's metadata as ORIGINAL_METADATA says (the variants carry none).
    `orient` overrides the policy's auto-orientation of the original (jobs keep originals as
    they were stored)."""
    with span("image.decode"):
        check_size(len(data), policy.limits)
        fmt = sniff_format(data)
        if fmt is ImageFormat.SVG:
            data = sanitize_svg(data, policy.limits)
        info = probe_image(data, fmt, policy.limits)
    with span("image.render"):
        rendered = render_variants(data, info, policy.specs, orient_original=(
            policy.auto_orient if orient is None else orient), ladder=policy.ladder_sides)
    original = strip_metadata(rendered.original or data, info.format, policy.original_metadata)
    release_freed_memory()  # the decode's buffers: resident memory back to before the upload
    return ProcessedImage(original, info, rendered, rendered.ladder, _digest(original))


def _digest(data: bytes) -> Future[str] | None:
    """The SHA-256 of a large `data`, started in a thread of its own."""
    if len(data) < BACKGROUND_DIGEST_BYTES:
        return None
    digest: Future[str] = Future()
    threading.Thread(target=lambda: digest.set_result(hashlib.sha256(data).hexdigest()),
                     name="imagehost-digest", daemon=True).start()
    return digest


def process_original(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Render variants of an already stored (trusted) original, without re-orienting it."""
    fmt = sniff_format(data)
    info = probe_image(data, fmt, policy.limits)
    return ProcessedImage(data, info, render_variants(data, info, policy.specs))


def process_ladder(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Only the ladder of an already stored original (decoded at the largest step's size)."""
    fmt = sniff_format(data)
    info = probe_image(data, fmt, policy.limits)
    rendered = render_ladder(data, info, policy.ladder_sides)
    return ProcessedImage(data, info, rendered, rendered.ladder)
