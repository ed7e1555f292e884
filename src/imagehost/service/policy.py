"""What the use cases need to know about processing, extracted once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from imagehost.config import Settings
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.variants import VariantSpec, variant_key


@dataclass(frozen=True)
class ImagePolicy:
    specs: tuple[VariantSpec, ...]
    limits: ImageLimits
    auto_orient: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> ImagePolicy:
        return cls(settings.resizing_config, settings.limits, settings.auto_orient_original)

    def variant_keys(self, original_key: str) -> list[str]:
        return [variant_key(original_key, spec) for spec in self.specs]
