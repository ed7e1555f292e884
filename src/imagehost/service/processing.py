"""From uploaded bytes to a checked original and its rendered variants."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.privacy import strip_metadata
from imagehost.imaging.probe import ImageInfo, check_size, probe_image
from imagehost.imaging.render import RenderResult, render_variants
from imagehost.imaging.svg import sanitize_svg
from imagehost.imaging.variants import variant_key
from imagehost.service.policy import ImagePolicy

StoredObject = tuple[str, bytes, str]
"""key, bytes, Content-Type"""


@dataclass(frozen=True)
class ProcessedImage:
    original: bytes
    info: ImageInfo
    rendered: RenderResult

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.original).hexdigest()

    def variant_objects(self, key: str) -> list[StoredObject]:
        return [(variant_key(key, v.spec), v.data, v.format.content_type)
                for v in self.rendered.variants]

    def objects(self, key: str) -> list[StoredObject]:
        """Every object of the image under `key`: the variants, then the original (written
        last, so that an original in a store always has its variants)."""
        return [*self.variant_objects(key),
                (key, self.original, self.info.format.content_type)]


def process_upload(data: bytes, policy: ImagePolicy, *, orient: bool | None = None
                   ) -> ProcessedImage:
    """Sniff, sanitize, check limits from the header, then render all variants at once, and
    strip the original's metadata as ORIGINAL_METADATA says (the variants carry none).
    `orient` overrides the policy's auto-orientation of the original (jobs keep originals as
    they were stored)."""
    check_size(len(data), policy.limits)
    fmt = sniff_format(data)
    if fmt is ImageFormat.SVG:
        data = sanitize_svg(data, policy.limits)
    info = probe_image(data, fmt, policy.limits)
    rendered = render_variants(data, info, policy.specs,
                               orient_original=policy.auto_orient if orient is None else orient)
    original = strip_metadata(rendered.original or data, info.format, policy.original_metadata)
    return ProcessedImage(original, info, rendered)


def process_original(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Render variants of an already stored (trusted) original, without re-orienting it."""
    fmt = sniff_format(data)
    info = probe_image(data, fmt, policy.limits)
    return ProcessedImage(data, info, render_variants(data, info, policy.specs))
