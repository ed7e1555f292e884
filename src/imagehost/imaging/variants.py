"""Variant specifications: parsing (c2corg `convert` arguments or native form), naming, geometry.

A variant is a short pipeline of steps (crop, resize, extent) applied to the oriented original,
then encoded with a quality and a format. Geometry is computed exactly as ImageMagick would on
the original's dimensions, so the output sizes do not depend on how the pixels were obtained.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from imagehost.errors import UnsupportedFormat
from imagehost.imaging.formats import ImageFormat, format_named
from imagehost.values import InvalidValue, parse_json

Fit = Literal["inside", "cover", "fill"]
Upscale = Literal["always", "never", "only"]

GRAVITIES = (
    "centre", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest",
)
_GRAVITY_ALIASES = {"center": "centre"}
VARIANT_FORMATS = (ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.GIF, ImageFormat.WEBP)
_RESIZE_GEOMETRY = re.compile(r"^(\d+)?(?:x(\d+))?([><^!]*)$")
_CROP_GEOMETRY = re.compile(r"^(\d+)x(\d+)([+-]\d+)?([+-]\d+)?$")


class VariantConfigError(ValueError):
    """A variant configuration that cannot be honoured; the message names what is wrong."""


@dataclass(frozen=True)
class Resize:
    width: int | None
    height: int | None
    fit: Fit = "inside"
    upscale: Upscale = "always"

    def target(self, width: int, height: int) -> tuple[int, int]:
        """The size ImageMagick gives `width`x`height` for this geometry."""
        sx = self.width / width if self.width else None
        sy = self.height / height if self.height else None
        if self.fit == "fill" and sx and sy:
            scale_x, scale_y = sx, sy
        else:
            scales = [s for s in (sx, sy) if s]
            scale_x = scale_y = max(scales) if self.fit == "cover" else min(scales)
        growing = scale_x > 1 or scale_y > 1
        shrinking = scale_x < 1 or scale_y < 1
        if (self.upscale == "never" and not shrinking) or (self.upscale == "only" and not growing):
            return width, height
        return _round(width * scale_x), _round(height * scale_y)

    def scale(self, width: int, height: int) -> float:
        tw, th = self.target(width, height)
        return max(tw / width, th / height)


@dataclass(frozen=True)
class Extent:
    """Crop (and, with `pad`, pad with white) to exactly width x height around `gravity`."""

    width: int
    height: int
    gravity: str = "centre"
    pad: bool = True

    def target(self, width: int, height: int) -> tuple[int, int]:
        if self.pad:
            return self.width, self.height
        return min(self.width, width), min(self.height, height)


@dataclass(frozen=True)
class Crop:
    """ImageMagick `-crop WxH+X+Y` (offsets relative to `gravity`), clipped to the image."""

    width: int
    height: int
    x: int = 0
    y: int = 0
    gravity: str = "northwest"

    def region(self, width: int, height: int) -> tuple[int, int, int, int]:
        left, top = gravity_offset(self.gravity, width, height, self.width, self.height)
        left, top = left + self.x, top + self.y
        right, bottom = min(width, left + self.width), min(height, top + self.height)
        left, top = max(0, left), max(0, top)
        if right <= left or bottom <= top:
            raise VariantConfigError(f"crop {self.width}x{self.height}+{self.x}+{self.y} "
                                     f"is outside a {width}x{height} image")
        return left, top, right - left, bottom - top


Step = Resize | Extent | Crop


@dataclass(frozen=True)
class VariantSpec:
    suffix: str
    steps: tuple[Step, ...]
    quality: int = 90
    format: ImageFormat | None = None
    """Output format; None keeps the original's (SVG originals give JPEG, photo formats
    browsers may not show give their `served_as`)."""
    source: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The configuration this spec was parsed from, for display."""

    def output_format(self, original: ImageFormat) -> ImageFormat:
        if self.format is not None:
            return self.format
        return ImageFormat.JPEG if original is ImageFormat.SVG else original.served_as

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        for step in self.steps:
            if isinstance(step, Crop):
                _, _, width, height = step.region(width, height)
            else:
                width, height = step.target(width, height)
        return width, height

    def source_scale(self, width: int, height: int) -> float:
        """The largest fraction of the original's resolution this variant needs (<= 1)."""
        for step in self.steps:
            if isinstance(step, Resize):
                return min(1.0, step.scale(width, height))
            if isinstance(step, Crop):
                _, _, width, height = step.region(width, height)
            else:
                return 1.0
        return 1.0


def variant_key(original_key: str, spec: VariantSpec) -> str:
    """c2corg naming: `<base><SUFFIX><ext>`, `.svg` (and `.heic`, `.avif`, `.jxl`) originals
    giving `.jpg` variants."""
    base, ext = posixpath.splitext(original_key)
    fmt = spec.output_format(format_named(ext))
    return f"{base}{spec.suffix}.{fmt.extension}"


def gravity_offset(gravity: str, width: int, height: int, box_w: int,
                   box_h: int) -> tuple[int, int]:
    dx, dy = width - box_w, height - box_h
    left = 0 if "west" in gravity else dx if "east" in gravity else dx // 2
    top = 0 if "north" in gravity else dy if "south" in gravity else dy // 2
    return left, top


def parse_resizing_config(text: str) -> tuple[VariantSpec, ...]:
    """Parse RESIZING_CONFIG: a JSON list of c2corg (`suffix` + `convert`) or native entries."""
    try:
        entries = parse_json(text)
    except InvalidValue as exc:
        raise VariantConfigError(str(exc)) from None
    return parse_variant_entries(entries)


def parse_variant_entries(entries: Any) -> tuple[VariantSpec, ...]:
    if not isinstance(entries, list):
        raise VariantConfigError("expected a JSON list of variants")
    specs = tuple(parse_variant(entry) for entry in entries)
    suffixes = [s.suffix for s in specs]
    duplicates = sorted({s for s in suffixes if suffixes.count(s) > 1})
    if duplicates:
        raise VariantConfigError(f"duplicate suffixes {', '.join(duplicates)}")
    return specs


def parse_variant(entry: Any) -> VariantSpec:
    if not isinstance(entry, dict):
        raise VariantConfigError(f"each variant must be an object, not {entry!r}")
    suffix = entry.get("suffix")
    if not isinstance(suffix, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", suffix):
        raise VariantConfigError(f"suffix {suffix!r} must be letters, digits, _ or - "
                                 "starting with a letter")
    if "convert" in entry:
        return _parse_convert(entry)
    return _parse_native(entry)


def _parse_convert(entry: dict[str, Any]) -> VariantSpec:
    args = entry["convert"]
    extra = sorted(set(entry) - {"suffix", "convert"})
    if extra:
        raise VariantConfigError(f"variant {entry['suffix']}: unknown keys {', '.join(extra)}")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise VariantConfigError(f"variant {entry['suffix']}: convert must be a list of strings")
    steps: list[Step] = []
    quality = 90
    gravity = "northwest"
    unsupported: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("-resize", "-thumbnail"):
            steps.append(_parse_resize_geometry(_operand(it, arg, entry)))
        elif arg == "-gravity":
            gravity = _parse_gravity(_operand(it, arg, entry))
        elif arg == "-extent":
            steps.append(_parse_extent(_operand(it, arg, entry), gravity))
        elif arg == "-crop":
            steps.append(_parse_crop(_operand(it, arg, entry), gravity))
        elif arg == "-quality":
            quality = _parse_quality(_operand(it, arg, entry))
        elif arg in ("-strip", "-auto-orient", "+repage"):
            continue
        else:
            unsupported.append(arg)
    if unsupported:
        raise VariantConfigError(
            f"variant {entry['suffix']}: unsupported convert arguments {' '.join(unsupported)} "
            "(supported: -resize, -thumbnail, -gravity, -extent, -crop, +repage, -quality, "
            "-strip, -auto-orient)"
        )
    return VariantSpec(entry["suffix"], tuple(steps), quality, None, dict(entry))


_NATIVE_KEYS = {"suffix", "width", "height", "fit", "enlarge", "gravity", "quality", "format"}


def _parse_native(entry: dict[str, Any]) -> VariantSpec:
    name = entry["suffix"]
    extra = sorted(set(entry) - _NATIVE_KEYS)
    if extra:
        raise VariantConfigError(f"variant {name}: unknown keys {', '.join(extra)} "
                                 f"(allowed: {', '.join(sorted(_NATIVE_KEYS))}, or convert)")
    width, height = entry.get("width"), entry.get("height")
    for label, value in (("width", width), ("height", height)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 1 <= value <= 16384):
            raise VariantConfigError(f"variant {name}: {label} must be an integer 1..16384")
    if width is None and height is None:
        raise VariantConfigError(f"variant {name}: give width, height or both")
    fit = entry.get("fit", "inside")
    if fit not in ("inside", "cover", "fill"):
        raise VariantConfigError(f"variant {name}: fit {fit!r} is not one of inside, cover, fill")
    if fit != "inside" and (width is None or height is None):
        raise VariantConfigError(f"variant {name}: fit {fit} needs both width and height")
    enlarge = entry.get("enlarge", False)
    if not isinstance(enlarge, bool):
        raise VariantConfigError(f"variant {name}: enlarge must be true or false")
    gravity = _parse_gravity(entry.get("gravity", "centre"))
    quality = _parse_quality(entry.get("quality", 90))
    fmt = entry.get("format")
    output = None
    if fmt is not None:
        try:
            output = format_named(str(fmt), VARIANT_FORMATS)
        except UnsupportedFormat:
            raise VariantConfigError(f"variant {name}: format {fmt!r} is not one of "
                                     f"{', '.join(VARIANT_FORMATS)}") from None
    upscale: Upscale = "always" if enlarge else "never"
    steps: list[Step] = [Resize(width, height, fit, upscale)]
    if fit == "cover":
        steps.append(Extent(width, height, gravity, pad=False))
    return VariantSpec(name, tuple(steps), quality, output, dict(entry))


def _operand(it: Any, arg: str, entry: dict[str, Any]) -> str:
    value = next(it, None)
    if value is None:
        raise VariantConfigError(f"variant {entry['suffix']}: {arg} needs a value")
    return value


def _parse_resize_geometry(text: str) -> Resize:
    match = _RESIZE_GEOMETRY.match(text)
    if not match or not (match.group(1) or match.group(2)):
        raise VariantConfigError(f"unsupported resize geometry {text!r} "
                                 "(use W, xH or WxH with optional >, <, ^ or !)")
    width = int(match.group(1)) if match.group(1) else None
    height = int(match.group(2)) if match.group(2) else None
    flags = match.group(3)
    if width == 0 or height == 0:
        raise VariantConfigError(f"resize geometry {text!r} has a zero side")
    fit: Fit = "fill" if "!" in flags else "cover" if "^" in flags else "inside"
    upscale: Upscale = "never" if ">" in flags else "only" if "<" in flags else "always"
    return Resize(width, height, fit, upscale)


def _parse_extent(text: str, gravity: str) -> Extent:
    match = _CROP_GEOMETRY.match(text)
    if not match or match.group(3) or match.group(4):
        raise VariantConfigError(f"unsupported extent geometry {text!r} (use WxH)")
    return Extent(int(match.group(1)), int(match.group(2)), gravity, pad=True)


def _parse_crop(text: str, gravity: str) -> Crop:
    match = _CROP_GEOMETRY.match(text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise VariantConfigError(f"unsupported crop geometry {text!r} (use WxH+X+Y)")
    x = int(match.group(3) or 0)
    y = int(match.group(4) or 0)
    return Crop(int(match.group(1)), int(match.group(2)), x, y, gravity)


def parse_crop_geometry(text: str) -> Crop:
    """A publish/recrop `crop` parameter: `WxH+X+Y` from the top-left corner."""
    return _parse_crop(text.strip(), "northwest")


def _parse_gravity(value: Any) -> str:
    name = str(value).lower()
    name = _GRAVITY_ALIASES.get(name, name)
    if name not in GRAVITIES:
        raise VariantConfigError(f"gravity {value!r} is not one of {', '.join(GRAVITIES)}")
    return name


def _parse_quality(value: Any) -> int:
    try:
        quality = int(value)
    except (TypeError, ValueError):
        raise VariantConfigError(f"quality {value!r} is not an integer 1..100") from None
    if not 1 <= quality <= 100:
        raise VariantConfigError(f"quality {value!r} is not an integer 1..100")
    return quality


def _round(value: float) -> int:
    return max(1, math.floor(value + 0.5))


DEFAULT_RESIZING_CONFIG = (
    '[{"suffix": "BI", "convert": ["-resize", "1500x1500>", "-quality", "90"]},'
    ' {"suffix": "MI", "convert": ["-resize", "400x400>", "-quality", "90"]},'
    ' {"suffix": "SI", "convert": ["-resize", "200x200^", "-gravity", "center",'
    ' "-extent", "200x200", "-quality", "90"]}]'
)


def largest_first(specs: Sequence[VariantSpec], width: int, height: int) -> list[VariantSpec]:
    return sorted(specs, key=lambda s: s.source_scale(width, height), reverse=True)
