"""On-demand derivations: request parameters -> one normalised Derivation with a canonical name.

The canonical name is the cache key and the ETag: the same image and the same output give the
same name, whatever the parameter order, the aliases (xsize/w, kind/format, jpg/jpeg, center/
centre) or the defaults that were spelled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from imagehost.errors import BadRequest
from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.variants import GRAVITIES, Resize

Fit = Literal["inside", "cover", "fill", "pad"]
OutputFormat = Literal["jpeg", "png", "webp", "avif", "gif"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("jpeg", "png", "webp", "avif", "gif")
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "avif": "image/avif", "gif": "image/gif"}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif"}
SMART_GRAVITIES = ("attention", "focal")
_ALIASES = {"xsize": "w", "ysize": "h", "kind": "format"}
_FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "avif": "avif",
                   "gif": "gif", "auto": "auto"}
DERIVATION_PARAMETERS = ("w", "h", "xsize", "ysize", "fit", "enlarge", "gravity", "thumbnail",
                         "format", "kind", "quality")
CONTROL_PARAMETERS = ("meta", "url", "variant", "sig", "expires", "preset")


@dataclass(frozen=True)
class Derivation:
    width: int | None = None
    height: int | None = None
    fit: Fit = "inside"
    enlarge: bool = False
    gravity: str = "centre"
    """A compass gravity, attention, or a focal point "fx,fy" (fractions)."""
    thumbnail: tuple[str, ...] | None = None
    """Enhancements when this is a thumbnail, else None."""
    format: str = ""
    """An output format, auto (negotiated by Accept), or "" for the source's own."""
    quality: int | None = None

    @property
    def resizes(self) -> bool:
        return self.width is not None or self.height is not None

    def canonical_name(self) -> str:
        parts: list[str] = []
        if self.thumbnail is not None:
            parts.append("thumb" + ("-" + "-".join(self.thumbnail) if self.thumbnail else ""))
        if self.width:
            parts.append(f"w{self.width}")
        if self.height:
            parts.append(f"h{self.height}")
        if self.resizes:
            parts.append(self.fit)
            if self.enlarge:
                parts.append("enlarge")
            if self.fit in ("cover", "pad"):
                parts.append("g-" + self.gravity.replace(",", "_"))
        parts.append(f"q{self.quality}")
        return "_".join(parts) + "." + EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def resize_step(self) -> Resize:
        box_fit = "inside" if self.fit == "pad" else self.fit
        return Resize(self.width, self.height, box_fit,  # type: ignore[arg-type]
                      "always" if self.enlarge else "never")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        if not self.resizes:
            return width, height
        scaled = self.resize_step().target(width, height)
        if self.fit == "cover":
            return (min(self.width or scaled[0], scaled[0]),
                    min(self.height or scaled[1], scaled[1]))
        if self.fit == "pad" and self.width and self.height:
            return self.width, self.height
        return scaled


def parse_derivation(params: Iterable[tuple[str, str]], *, max_side: int,
                     thumbnail_size: int, thumbnail_enhancements: tuple[str, ...],
                     ignore: Iterable[str] = ()) -> Derivation:
    """Parse derivation parameters; unknown ones and out-of-range values are a 400."""
    skipped = set(ignore) | set(CONTROL_PARAMETERS)
    values: dict[str, str] = {}
    for name, value in params:
        if name in skipped:
            continue
        if name not in DERIVATION_PARAMETERS:
            raise BadRequest(f"Unknown parameter {name!r}; derivations take "
                             f"{', '.join(DERIVATION_PARAMETERS + CONTROL_PARAMETERS)}.")
        canonical = _ALIASES.get(name, name)
        if canonical in values and values[canonical] != value:
            raise BadRequest(f"Parameter {name!r} is given twice with different values.")
        values[canonical] = value
    width = _side(values, "w", max_side)
    height = _side(values, "h", max_side)
    thumbnail = _flag(values, "thumbnail")
    fit = values.get("fit", "inside")
    if fit not in ("inside", "cover", "fill", "pad"):
        raise BadRequest(f"Parameter 'fit': {fit!r} is not one of inside, cover, fill, pad.")
    gravity = _gravity(values.get("gravity", "centre"))
    derivation = Derivation(
        width=width, height=height, fit=fit,  # type: ignore[arg-type]
        enlarge=_flag(values, "enlarge"), gravity=gravity,
        format=_format(values["format"]) if "format" in values else "",
        quality=_quality(values.get("quality")))
    if thumbnail:
        derivation = replace(derivation, width=width or thumbnail_size,
                             height=height or thumbnail_size,
                             thumbnail=tuple(thumbnail_enhancements))
    return normalise(derivation)


def normalise(derivation: Derivation) -> Derivation:
    """One spelling per output: irrelevant options are reset to their defaults."""
    if not derivation.resizes:
        return replace(derivation, fit="inside", enlarge=False, gravity="centre")
    if derivation.width is None or derivation.height is None:
        derivation = replace(derivation, fit="inside")
    if derivation.fit in ("inside", "fill"):
        derivation = replace(derivation, gravity="centre")
    return derivation


def resolve(derivation: Derivation, source: ImageFormat, accept: str, *,
            quality: Mapping[str, int], focal: tuple[float, float] | None) -> Derivation:
    """Fill in what depends on the source and the request: the format (auto: AVIF or WebP by
    Accept, else JPEG; no format: the source's own), the quality, the focal point."""
    fmt = derivation.format or _source_format(source)
    if fmt == "auto":
        fmt = _auto_format(accept)
    gravity = derivation.gravity
    if gravity == "focal":
        x, y = focal if focal is not None else (0.5, 0.5)
        gravity = f"{x:g},{y:g}"
    default_quality = {"jpeg": 82, "webp": 80, "avif": 55, "png": 90, "gif": 100}
    chosen = derivation.quality or quality.get(fmt, default_quality[fmt])
    return replace(derivation, format=fmt, gravity=gravity, quality=chosen)


def negotiates(derivation: Derivation) -> bool:
    return derivation.format == "auto"


def _auto_format(accept: str) -> str:
    accepted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "image/avif" in accepted:
        return "avif"
    if "image/webp" in accepted:
        return "webp"
    return "jpeg"


def _source_format(source: ImageFormat) -> str:
    return "png" if source is ImageFormat.SVG else source.value


def _side(values: Mapping[str, str], name: str, max_side: int) -> int | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    try:
        side = int(raw)
    except ValueError:
        raise BadRequest(f"Parameter {name!r}: {raw!r} is not an integer.") from None
    if not 1 <= side <= max_side:
        raise BadRequest(f"Parameter {name!r}: must be 1..{max_side} (derived_max_side).")
    return side


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = values.get(name, "false").lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no", ""):
        return False
    raise BadRequest(f"Parameter {name!r}: expected true or false.")


def _gravity(raw: str) -> str:
    name = raw.strip().lower()
    name = {"center": "centre"}.get(name, name)
    if name in GRAVITIES or name in SMART_GRAVITIES:
        return name
    x, sep, y = name.partition(",")
    try:
        point = (float(x), float(y)) if sep else None
    except ValueError:
        point = None
    if point is None or not all(0 <= v <= 1 for v in point):
        raise BadRequest(f"Parameter 'gravity': {raw!r} is not a compass point "
                         f"({', '.join(GRAVITIES)}), attention, focal, or fx,fy in 0..1.")
    return f"{point[0]:g},{point[1]:g}"


def _format(raw: str) -> str:
    fmt = _FORMAT_ALIASES.get(raw.strip().lower())
    if fmt is None:
        raise BadRequest(f"Parameter 'format': {raw!r} is not one of jpeg, png, webp, avif, "
                         "gif, auto.")
    return fmt


def _quality(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        quality = int(raw)
    except ValueError:
        raise BadRequest(f"Parameter 'quality': {raw!r} is not an integer.") from None
    if not 1 <= quality <= 100:
        raise BadRequest("Parameter 'quality': must be 1..100.")
    return quality
