"""Rendering: decode an original once, then encode every variant from that decode."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyvips

from imagehost.errors import BadRequest, InvalidImage
from imagehost.imaging.derivation import Derivation
from imagehost.imaging.foreign import FOREIGN_DECODERS
from imagehost.imaging.formats import LOADERS, ImageFormat
from imagehost.imaging.ladder import LadderStep, ladder_format, ladder_steps
from imagehost.imaging.metadata import placeholder_color
from imagehost.imaging.probe import ImageInfo
from imagehost.imaging.variants import (
    Crop,
    Extent,
    Resize,
    VariantConfigError,
    VariantSpec,
    gravity_offset,
)

WHITE = [255, 255, 255]
LADDER_JPEG_QUALITY = 90
LADDER_WEBP_QUALITY = 95
# a step is an intermediate that misses decode: encode speed counts more than size (zlib 1
# with the sub filter is 3x faster than 6 with adaptive filters, for 1.6x the bytes)
LADDER_SAVE_OPTIONS: dict[ImageFormat, dict[str, Any]] = {
    # 4:2:0 as every derived JPEG is (libvips keeps full chroma from Q 90): a miss decodes
    # 20% fewer bytes, 13% less CPU per render from a 1024 px step
    ImageFormat.JPEG: {"Q": LADDER_JPEG_QUALITY, "subsample_mode": "on"},
    ImageFormat.PNG: {"compression": 1, "filter": "sub"},
    # every frame a key frame: libwebp's sub-frame blending would add an alpha band
    ImageFormat.WEBP: {"Q": LADDER_WEBP_QUALITY, "effort": 0, "kmax": 1},
    ImageFormat.GIF: {"effort": 1},
}


def libvips_version() -> str:
    return ".".join(str(pyvips.version(part)) for part in range(3))


def configure_libvips(concurrency: int) -> None:
    """Process-wide libvips set-up: only the loaders we accept (libvips would otherwise sniff
    dozens of formats), no operation cache (uploads never repeat, and the cache would pin
    their buffers), and `concurrency` threads per image (0: libvips' default)."""
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in LOADERS:
        pyvips.operation_block_set(loader, False)
    pyvips.cache_set_max(0)
    if concurrency:
        pyvips.concurrency_set(concurrency)
    _log_warnings_only()


def _log_warnings_only() -> None:
    """pyvips hands every libvips log level to Python logging: about ten INFO lines per
    render ("thumbnailing ...", "threadpool completed"), each taking the GIL from a libvips
    thread only for logging to drop it. Keep warnings and errors (GLib's own handler drops
    the rest, or prints them with G_MESSAGES_DEBUG=VIPS)."""
    handler = getattr(pyvips, "_log_handler_id", None)
    if not handler:
        return
    flags = pyvips.GLogLevelFlags
    domain = b"VIPS"
    pyvips.glib_lib.g_log_remove_handler(domain, handler)
    pyvips._log_handler_id = pyvips.glib_lib.g_log_set_handler(
        domain, flags.LEVEL_WARNING | flags.LEVEL_CRITICAL | flags.LEVEL_ERROR
        | flags.FLAG_FATAL | flags.FLAG_RECURSION, pyvips._log_handler_cb, pyvips.ffi.NULL)


@dataclass(frozen=True)
class RenderedVariant:
    spec: VariantSpec
    format: ImageFormat
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class RenderedStep:
    """A step of the ladder (imaging/ladder.py)."""

    step: LadderStep
    format: ImageFormat
    data: bytes


@dataclass(frozen=True)
class RenderResult:
    variants: tuple[RenderedVariant, ...]
    original: bytes | None
    """Re-encoded original when it had to change (auto-orientation), else None."""
    seconds: float
    ladder: tuple[RenderedStep, ...] = ()
    color: str | None = None
    """The image's dominant colour, as #rrggbb."""


def render_variants(data: bytes, info: ImageInfo, specs: Sequence[VariantSpec],
                    *, orient_original: bool = False,
                    ladder: Sequence[int] = ()) -> RenderResult:
    """Decode `data` once at the largest scale any variant or step of the ladder (its
    longest sides) needs, then encode every variant and step."""
    started = time.perf_counter()
    rotate_original = orient_original and info.format is ImageFormat.JPEG and info.orientation != 1
    step_format = ladder_format(info.format, info.has_alpha)
    steps = ladder_steps(info.width, info.height, ladder) if step_format else ()
    try:
        if rotate_original:
            base = _load_full(data, info).autorot().copy_memory()
            original: bytes | None = encode(base, ImageFormat.JPEG, quality=95,
                                             keep_metadata=True)
        else:
            base = _load_base(data, info, specs, steps)
            original = None
        variants = tuple(_render_one(base, info, spec) for spec in specs)
        resized = [_resize_to(base, step.width, step.height).copy_memory() for step in steps]
        rendered_steps = tuple(RenderedStep(step, step_format, encode_step(image, step_format))
                               for step, image in zip(steps, resized, strict=True))
        # from the smallest image at hand: the 256 px step costs a tenth of the base
        color = placeholder_color(resized[-1] if resized else base)
    except pyvips.Error as exc:
        raise InvalidImage(f"Bad format: the image cannot be decoded ({_detail(exc)}).") from None
    return RenderResult(variants, original, time.perf_counter() - started, rendered_steps, color)


def render_ladder(data: bytes, info: ImageInfo, sides: Sequence[int]) -> RenderResult:
    """Only the ladder (and the colour) of a stored original (`imagehost resize --ladder`)."""
    return render_variants(data, info, (), ladder=sides)


def encode_step(image: pyvips.Image, fmt: ImageFormat) -> bytes:
    """A step of the ladder: high quality, upright, its ICC profile kept and nothing else of
    the metadata, alpha and frames as they are."""
    if fmt not in LADDER_SAVE_OPTIONS:
        raise InvalidImage(f"Cannot encode a ladder step as {fmt.value}.")
    if not fmt.spec.alpha and image.hasalpha():
        image = image.flatten(background=WHITE)
    if not _profile_fits(image):
        image = image.copy()
        image.remove("icc-profile-data")
    return getattr(image, f"{fmt.spec.saver}_buffer")(**LADDER_SAVE_OPTIONS[fmt], keep="icc")


_PROFILE_BANDS = {b"RGB ": 3, b"GRAY": 1, b"CMYK": 4}


def _profile_fits(image: pyvips.Image) -> bool:
    """Whether the ICC profile the image carries (if any) describes its pixels: libvips turns
    CMYK into sRGB while decoding, and leaves the CMYK profile attached."""
    if not image.get_typeof("icc-profile-data"):
        return True
    profile = image.get("icc-profile-data")
    colour_bands = image.bands - (1 if image.hasalpha() else 0)
    return _PROFILE_BANDS.get(bytes(profile[16:20])) == colour_bands


def apply_edit(data: bytes, info: ImageInfo, *, crop: Crop | None = None,
               rotation: int = 0) -> bytes:
    """Crop and/or rotate an original (every frame), re-encoded in its own format."""
    try:
        image = _load_full(data, info).autorot()
        if crop is not None:
            left, top, width, height = crop.region(image.width, _page_height(image))
            image = _per_page(image, lambda p: p.extract_area(left, top, width, height))
        if rotation:
            angle = {90: "d90", -90: "d270", 270: "d270", 180: "d180"}[rotation]
            image = _per_page(image, lambda p: p.rot(angle))
        return encode(image, info.format, quality=95, keep_metadata=True)
    except VariantConfigError as exc:
        raise BadRequest(f"Invalid crop: {exc}.") from None
    except pyvips.Error as exc:
        raise InvalidImage(f"Bad format: the image cannot be decoded ({_detail(exc)}).") from None


def convert_original(data: bytes, info: ImageInfo, fmt: ImageFormat, *, quality: int) -> bytes:
    """The original re-encoded in `fmt`, upright (its orientation applied, the EXIF's set to
    1), its EXIF, XMP and ICC profile kept."""
    try:
        image = _load_full(data, info).autorot().copy()
        image.set_type(pyvips.GValue.gint_type, "orientation", 1)
        return encode(image, fmt, quality=quality, keep_metadata=True)
    except pyvips.Error as exc:
        raise InvalidImage(f"Bad format: the image cannot be decoded ({_detail(exc)}).") from None


def encode(image: pyvips.Image, fmt: ImageFormat, *, quality: int,
           keep_metadata: bool = False, effort: int | None = None, fast: bool = False) -> bytes:
    """Encode with the format's saver and options from the registry (with `fast`, its fast
    options); an image with alpha is flattened on white for a format that cannot carry it."""
    spec = fmt.spec
    if spec.saver is None:
        raise InvalidImage(f"Cannot encode {fmt.value}.")
    if not spec.alpha and image.hasalpha():
        image = image.flatten(background=WHITE)
    options: dict[str, Any] = {**spec.save_options, **(spec.fast_save_options if fast else {}),
                               "keep": "all" if keep_metadata else "none"}
    if spec.quality:
        options["Q"] = quality
    if effort is not None:
        options["effort"] = effort
    return getattr(image, f"{spec.saver}_buffer")(**options)


def _load_options(info: ImageInfo) -> str:
    return "fail_on=error,n=-1" if info.animated else "fail_on=error"


def _load_full(data: bytes, info: ImageInfo) -> pyvips.Image:
    decode = FOREIGN_DECODERS.get(info.format)
    if decode is not None:
        return decode(data)
    return pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "",
                                        fail_on="error", **({"n": -1} if info.animated else {}))


def _load_base(data: bytes, info: ImageInfo, specs: Sequence[VariantSpec],
               steps: Sequence[LadderStep] = ()) -> pyvips.Image:
    """The oriented image at the smallest resolution that still serves every variant and
    step of the ladder."""
    scales = [*(spec.source_scale(info.width, info.height) for spec in specs),
              *(max(step.width / info.width, step.height / info.height) for step in steps)]
    scale = min(1.0, max(scales, default=1.0))
    width = max(1, math.ceil(info.width * scale))
    height = max(1, math.ceil(info.height * scale))
    return _thumbnail(data, info, (width, height), _load_options(info), size="down").copy_memory()


def _shrunk(data: bytes, info: ImageInfo, width: int, options: str,
            **thumbnail: Any) -> pyvips.Image:
    """libvips' `thumbnail` of encoded bytes, shrinking on load; a format libvips cannot decode
    is decoded whole by its own decoder, then shrunk."""
    decode = FOREIGN_DECODERS.get(info.format)
    if decode is not None:
        return decode(data).thumbnail_image(width, **thumbnail)
    # a Source reads the caller's bytes in place; *_buffer calls would copy the whole upload
    return pyvips.Image.thumbnail_source(pyvips.Source.new_from_memory(data), width,
                                         option_string=options, **thumbnail)


def _render_one(base: pyvips.Image, info: ImageInfo, spec: VariantSpec) -> RenderedVariant:
    image = base
    logical = (info.width, info.height)
    for step in spec.steps:
        if isinstance(step, Crop):
            image, logical = _crop(image, logical, step)
        elif isinstance(step, Resize):
            logical = step.target(*logical)
            image = _resize_to(image, *logical)
        elif isinstance(step, Extent):
            image = _resize_to(image, *logical)
            image = _extent(image, step)
            logical = (image.width, _page_height(image))
    image = _resize_to(image, *logical)
    fmt = spec.output_format(info.format)
    data = encode(image, fmt, quality=spec.quality)
    return RenderedVariant(spec, fmt, data, image.width, _page_height(image))


def _resize_to(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    if image.width == width and _page_height(image) == height:
        return image
    return image.thumbnail_image(width, height=height, size="force")


def _crop(image: pyvips.Image, logical: tuple[int, int],
          step: Crop) -> tuple[pyvips.Image, tuple[int, int]]:
    left, top, width, height = step.region(*logical)
    sx, sy = image.width / logical[0], _page_height(image) / logical[1]
    box = (int(left * sx), int(top * sy), max(1, round(width * sx)), max(1, round(height * sy)))
    return _per_page(image, lambda p: p.extract_area(*box)), (width, height)


def _extent(image: pyvips.Image, step: Extent) -> pyvips.Image:
    width, height = step.target(image.width, _page_height(image))

    def one(page: pyvips.Image) -> pyvips.Image:
        left, top = gravity_offset(step.gravity, page.width, page.height, width, height)
        if left >= 0 and top >= 0:
            return page.extract_area(left, top, width, height)
        background = [*WHITE, 255] if page.bands == 4 else [255] * page.bands
        return page.gravity(_vips_gravity(step.gravity), width, height,
                            extend="background", background=background)

    return _per_page(image, one)


def _per_page(image: pyvips.Image, operation) -> pyvips.Image:
    page_height = _page_height(image)
    pages = image.height // page_height
    if pages <= 1:
        return operation(image)
    frames = [operation(image.extract_area(0, i * page_height, image.width, page_height))
              for i in range(pages)]
    joined = pyvips.Image.arrayjoin(frames, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    return joined


def _page_height(image: pyvips.Image) -> int:
    if image.get_typeof("page-height"):
        page_height = int(image.get("page-height"))
        if 0 < page_height <= image.height and image.height % page_height == 0:
            return page_height
    return image.height


_VIPS_GRAVITY = {"centre": "centre", "north": "north", "south": "south", "east": "east",
                 "west": "west", "northeast": "north-east", "northwest": "north-west",
                 "southeast": "south-east", "southwest": "south-west"}


def _vips_gravity(gravity: str) -> str:
    return _VIPS_GRAVITY[gravity]


def _detail(exc: pyvips.Error) -> str:
    lines = (exc.detail or exc.message or "").strip().splitlines()
    return lines[-1] if lines else "unreadable"


def render_derivation(source: bytes, source_info: ImageInfo, original: ImageInfo,
                      derivation: Derivation, *, avif_effort: int,
                      full_effort_pixels: int | None = None) -> bytes:
    """Render `derivation` of `original` from `source`: the original itself, or a step of its
    ladder (upright, ICC profile, alpha and frames kept) at least 1.5x the output (a smaller
    decode). Sizes are computed on the original's dimensions, so the output is the same
    whichever source is used."""
    animated = source_info.animated and derivation.format in ("gif", "webp")
    options = "fail_on=error,n=-1" if animated else "fail_on=error"
    target = (derivation.resize_step().target(original.width, original.height)
              if derivation.resizes else (original.width, original.height))
    try:
        if derivation.fit == "cover" and derivation.gravity == "attention":
            image = _shrunk(source, source_info, derivation.width, options,
                            height=derivation.height, crop="attention",
                            size="both" if derivation.enlarge else "down")
        else:
            image = _thumbnail(source, source_info, target, options)
            if derivation.fit == "cover":
                image = _cover_crop(image, derivation)
            elif derivation.fit == "pad" and derivation.width and derivation.height:
                image = _pad(image, derivation)
        if derivation.thumbnail is not None:
            image = _enhance(image, derivation.thumbnail)
        return encode_output(image, derivation.format, derivation.quality or 80, avif_effort,
                             full_effort_pixels)
    except pyvips.Error as exc:
        raise InvalidImage(f"Bad format: the image cannot be decoded ({_detail(exc)}).") from None


def _thumbnail(source: bytes, info: ImageInfo, target: tuple[int, int],
               options: str, *, size: str = "force") -> pyvips.Image:
    """Decode and resize to `target` (`size` down: to fit inside it). A JPEG loads at the
    largest DCT scale (1/2, 1/4, 1/8) still at least `target`, as thumbor's draft and imgproxy
    do: libvips' own thumbnail keeps a factor of 2 in hand, so a 1500 px source fitted into
    512 px would decode in full, for 2.4x the decode and resize time (bench/README.md has the
    quality cost: about 40 dB PSNR), and a 24 MP upload's 1500 px base would decode at half
    size, for 30% more time and 10 MB more memory than at a quarter."""
    shrink = min(info.width / max(1, target[0]), info.height / max(1, target[1]))
    factor = next((f for f in (8, 4, 2) if shrink >= f), 1)
    if info.format is not ImageFormat.JPEG or factor == 1:
        return _shrunk(source, info, target[0], options, height=target[1], size=size)
    image = pyvips.Image.new_from_source(pyvips.Source.new_from_memory(source), options,
                                         access="sequential", shrink=factor)
    return image.thumbnail_image(target[0], height=target[1], size=size)


def encode_output(image: pyvips.Image, fmt: str, quality: int, avif_effort: int,
                  full_effort_pixels: int | None = None) -> bytes:
    """A derived image: frames kept only for a format that animates; an output larger than
    `full_effort_pixels` (per frame) gets the format's fast options (None: never)."""
    output = ImageFormat(fmt)
    if not output.animatable and _page_height(image) != image.height:
        image = image.extract_area(0, 0, image.width, _page_height(image))
    effort = avif_effort if output is ImageFormat.AVIF else None
    fast = (full_effort_pixels is not None
            and image.width * _page_height(image) > full_effort_pixels)
    return encode(image, output, quality=quality, effort=effort, fast=fast)


def _cover_crop(image: pyvips.Image, derivation: Derivation) -> pyvips.Image:
    width = min(derivation.width or image.width, image.width)
    height = min(derivation.height or _page_height(image), _page_height(image))
    if "," in derivation.gravity:
        fx, fy = (float(v) for v in derivation.gravity.split(","))
        left = min(max(0, round(fx * image.width - width / 2)), image.width - width)
        top = min(max(0, round(fy * _page_height(image) - height / 2)),
                  _page_height(image) - height)
    else:
        left, top = gravity_offset(derivation.gravity, image.width, _page_height(image),
                                   width, height)
    return _per_page(image, lambda p: p.extract_area(left, top, width, height))


def _pad(image: pyvips.Image, derivation: Derivation) -> pyvips.Image:
    assert derivation.width and derivation.height
    transparent = derivation.format in ("png", "webp", "avif", "gif")
    if transparent and not image.hasalpha():
        image = image.bandjoin_const([255]) if image.bands in (1, 3) else image
    gravity = derivation.gravity if derivation.gravity in _VIPS_GRAVITY else "centre"

    def one(page: pyvips.Image) -> pyvips.Image:
        background = ([0] * page.bands if transparent else [255] * page.bands)
        return page.gravity(_vips_gravity(gravity), derivation.width, derivation.height,
                            extend="background", background=background)

    return _per_page(image, one)


def _enhance(image: pyvips.Image, enhancements: tuple[str, ...]) -> pyvips.Image:
    if "equalise" in enhancements:
        alpha = image[image.bands - 1] if image.hasalpha() else None
        colour = image.extract_band(0, n=image.bands - 1) if alpha is not None else image
        colour = colour.hist_equal()
        image = colour.bandjoin(alpha) if alpha is not None else colour
    if "sharpen" in enhancements and max(image.width, _page_height(image)) <= 400:
        image = image.sharpen(sigma=0.7).cast("uchar")
    return image
