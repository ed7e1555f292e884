"""From uploaded bytes to a checked original and its rendered variants."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.probe import ImageInfo, check_size, probe_image
from imagehost.imaging.render import RenderResult, render_variants
from imagehost.imaging.svg import sanitize_svg
from imagehost.imaging.variants import variant_key
from imagehost.service.policy import ImagePolicy


@dataclass(frozen=True)
class ProcessedImage:
    original: bytes
    info: ImageInfo
    rendered: RenderResult

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.original).hexdigest()

    def variant_objects(self, key: str) -> list[tuple[str, bytes, str]]:
        return [(variant_key(key, v.spec), v.data, v.format.content_type)
                for v in self.rendered.variants]


def process_upload(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Sniff, sanitize, check limits from the header, then render all variants at once."""
    check_size(len(data), policy.limits)
    fmt = sniff_format(data)
    if fmt is ImageFormat.SVG:
        data = sanitize_svg(data)
    info = probe_image(data, fmt, policy.limits)
    rendered = render_variants(data, info, policy.specs, orient_original=policy.auto_orient)
    return ProcessedImage(rendered.original or data, info, rendered)


def process_original(data: bytes, policy: ImagePolicy) -> ProcessedImage:
    """Render variants of an already stored (trusted) original, without re-orienting it."""
    fmt = sniff_format(data)
    info = probe_image(data, fmt, policy.limits)
    return ProcessedImage(data, info, render_variants(data, info, policy.specs))
