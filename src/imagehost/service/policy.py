"""What the use cases need to know about processing, extracted once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from imagehost.config import Settings
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.privacy import STRIP_PRIVATE, MetadataMode
from imagehost.imaging.variants import VariantSpec, variant_key


@dataclass(frozen=True)
class ImagePolicy:
    specs: tuple[VariantSpec, ...]
    limits: ImageLimits
    auto_orient: bool
    original_metadata: MetadataMode = STRIP_PRIVATE
    """What of an uploaded original's metadata is stored (ORIGINAL_METADATA)."""
    ladder_sides: tuple[int, ...] = ()
    """The longest sides of the ladder's steps (LADDER_SIDES); empty: no ladder."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ImagePolicy:
        return cls(settings.resizing_config, settings.limits, settings.auto_orient_original,
                   settings.original_metadata, settings.ladder_sides)

    def variant_keys(self, original_key: str) -> list[str]:
        return [variant_key(original_key, spec) for spec in self.specs]
