"""On-demand derivations: request parameters -> one normalised Derivation with a canonical name.

The canonical name is the cache key and the ETag: the same image and the same output give the
same name, whatever the parameter order, the aliases (xsize/w, kind/format, jpg/jpeg, center/
centre) or the defaults that were spelled out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from imagehost.errors import BadRequest, UnsupportedFormat
from imagehost.imaging.formats import OUTPUT_FORMATS, ImageFormat, format_named
from imagehost.imaging.variants import GRAVITIES, Resize
from imagehost.values import InvalidValue, parse_bool, parse_int

Fit = Literal["inside", "cover", "fill", "pad"]
FITS = ("inside", "cover", "fill", "pad")
SMART_GRAVITIES = ("attention", "focal")
AUTO = "auto"
_ALIASES = {"xsize": "w", "ysize": "h", "kind": "format"}
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
        return "_".join(parts) + "." + ImageFormat(self.format).extension

    @property
    def content_type(self) -> str:
        return ImageFormat(self.format).content_type

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
    if fit not in FITS:
        raise BadRequest(f"Parameter 'fit': {fit!r} is not one of {', '.join(FITS)}.")
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
    Accept, else JPEG; no format: the source's own), the quality (`quality` holds a default
    for every output format), the focal point."""
    fmt = derivation.format or _source_format(source)
    if fmt == AUTO:
        fmt = _auto_format(accept)
    gravity = derivation.gravity
    if gravity == "focal":
        x, y = focal if focal is not None else (0.5, 0.5)
        gravity = f"{x:g},{y:g}"
    chosen = derivation.quality or quality[fmt]
    return replace(derivation, format=fmt, gravity=gravity, quality=chosen)


def negotiates(derivation: Derivation) -> bool:
    return derivation.format == AUTO


def _auto_format(accept: str) -> str:
    accepted = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if "image/avif" in accepted:
        return "avif"
    if "image/webp" in accepted:
        return "webp"
    return "jpeg"


def _source_format(source: ImageFormat) -> str:
    return "png" if source is ImageFormat.SVG else source.served_as.value


def _side(values: Mapping[str, str], name: str, max_side: int) -> int | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        return parse_int(raw, 1, max_side)
    except InvalidValue as exc:
        raise BadRequest(f"Parameter {name!r}: {exc}.") from None


def _flag(values: Mapping[str, str], name: str) -> bool:
    return query_flag(name, values.get(name, "false"))


def query_flag(name: str, raw: str) -> bool:
    """A boolean query parameter; 400 naming it when it is not one."""
    try:
        return parse_bool(raw)
    except InvalidValue as exc:
        raise BadRequest(f"Parameter {name!r}: {exc}.") from None


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
    if raw.strip().lower() == AUTO:
        return AUTO
    try:
        return format_named(raw, OUTPUT_FORMATS).value
    except UnsupportedFormat:
        raise BadRequest(f"Parameter 'format': {raw!r} is not one of "
                         f"{', '.join((*OUTPUT_FORMATS, AUTO))}.") from None


def _quality(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return parse_int(raw, 1, 100)
    except InvalidValue as exc:
        raise BadRequest(f"Parameter 'quality': {exc}.") from None
