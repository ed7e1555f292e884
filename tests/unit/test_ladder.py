"""The ladder: which steps an original gets, in which format, which step a miss renders from,
and that a render from a step equals a render from the original.

Equality is measured as PSNR between the two renders' pixels, alpha premultiplied (what is
under a transparent pixel cannot be seen): at least 35 dB for every format, orientation,
alpha, profile and animation case below (measured: 37 dB at worst, the animated GIF, whose
frames are quantized twice; 46 dB median), and at least 32 dB for thumbnails, whose
sharpening (libvips `sharpen`, on outputs up to 400 px) amplifies the last difference at hard
edges (measured: 34 dB at worst). Both renders always have the same size, bands and frames.
"""

from __future__ import annotations

import functools
import math

import pytest
import pyvips

from imagehost.config import load_settings
from imagehost.errors import ConfigError
from imagehost.imaging.derivation import Derivation, parse_derivation, resolve
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.ladder import (
    LadderStep,
    ladder_format,
    ladder_steps,
    source_step,
)
from imagehost.imaging.probe import ImageInfo, probe_image
from imagehost.imaging.render import RenderedStep, render_derivation, render_variants
from imagehost.jobs.reindex import is_original
from imagehost.service.ladder import ladder_key, ladder_side, possible_ladder_keys
from tests import imagegen

SETTINGS = load_settings({})
PSNR_BOUND = 35.0
THUMBNAIL_PSNR_BOUND = 32.0
SIDES = (512, 128)
"""Smaller than the default 1024 and 256, so that the test images stay small."""


# -- geometry, format, choice -------------------------------------------------------------------

@pytest.mark.parametrize(("size", "steps"), [
    ((2000, 1333), [LadderStep(1024, 1024, 682), LadderStep(256, 256, 171)]),
    ((1333, 2000), [LadderStep(1024, 682, 1024), LadderStep(256, 171, 256)]),
    ((6000, 4000), [LadderStep(1024, 1024, 683), LadderStep(256, 256, 171)]),
    ((1200, 800), [LadderStep(256, 256, 171)]),     # 960k pixels < 2 x 699k
    ((1449, 1000), [LadderStep(1024, 1024, 707), LadderStep(256, 256, 177)]),
    ((1024, 100), [LadderStep(256, 256, 25)]),      # no step as large as the original
    ((300, 200), []),                               # 60k pixels < 2 x 44k
])
def test_an_original_gets_the_steps_it_has_at_least_twice_the_pixels_of(
        size: tuple[int, int], steps: list[LadderStep]) -> None:
    assert list(ladder_steps(*size, (256, 1024))) == steps


def test_no_sides_is_no_ladder() -> None:
    assert ladder_steps(6000, 4000, ()) == ()


@pytest.mark.parametrize(("raw", "sides"), [
    ("1024,256", (1024, 256)), ("256, 1024,1024", (1024, 256)), ("", ()), ("512", (512,))])
def test_ladder_sides_is_a_comma_list_of_sides(raw: str, sides: tuple[int, ...]) -> None:
    assert load_settings({"LADDER_SIDES": raw}).ladder_sides == sides


@pytest.mark.parametrize("raw", ["x", "1024,big", "8", "100000"])
def test_a_bad_ladder_side_stops_start_up_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match="LADDER_SIDES"):
        load_settings({"LADDER_SIDES": raw})


@pytest.mark.parametrize(("original", "alpha", "step"), [
    (ImageFormat.JPEG, False, ImageFormat.JPEG),
    (ImageFormat.PNG, True, ImageFormat.PNG),
    (ImageFormat.GIF, True, ImageFormat.GIF),
    (ImageFormat.WEBP, True, ImageFormat.WEBP),
    (ImageFormat.HEIC, False, ImageFormat.JPEG),
    (ImageFormat.AVIF, True, ImageFormat.PNG),
    (ImageFormat.JXL, False, ImageFormat.JPEG),
    (ImageFormat.SVG, False, None),
])
def test_steps_keep_the_originals_format_where_browsers_read_it(
        original: ImageFormat, alpha: bool, step: ImageFormat | None) -> None:
    assert ladder_format(original, alpha) is step


def test_a_miss_takes_the_smallest_step_at_least_1_5x_the_output_on_both_axes() -> None:
    steps = ladder_steps(4000, 3000, (1024, 256))       # 1024x768, 256x192
    assert source_step(steps, (170, 128)).side == 256    # 255x192 fits 256x192
    assert source_step(steps, (171, 128)).side == 1024   # 256.5 wide does not
    assert source_step(steps, (512, 384)).side == 1024
    assert source_step(steps, (683, 512)) is None        # 1024.5 wide: the original
    assert source_step((), (10, 10)) is None


def test_step_keys_cannot_be_taken_for_images_or_variants() -> None:
    key = ladder_key("plots/site-4/cam1.jpg", 1024)
    assert key == "plots/site-4/cam1.jpg.ladder-1024"
    assert ladder_side(key) == 1024
    assert ladder_side("plots/site-4/cam1.jpg") is None
    assert ladder_side("1_2BI.jpg") is None
    assert not is_original(key, ("BI", "MI", "SI"))
    assert is_original("plots/site-4/cam1.jpg", ("BI", "MI", "SI"))
    assert ladder_key("a/" + "x" * 250 + ".jpg", 256) is None   # over 255 bytes a segment
    assert possible_ladder_keys("1_2.png", (1024, 256), (1200, 800)) == ["1_2.png.ladder-256"]
    assert possible_ladder_keys("1_2.png", (1024, 256)) == ["1_2.png.ladder-1024",
                                                            "1_2.png.ladder-256"]


# -- renders from a step equal renders from the original -----------------------------------------

def _webp_with_alpha(width: int, height: int) -> bytes:
    image = pyvips.Image.new_from_buffer(imagegen.photo_png(width, height, alpha=True), "")
    return image.webpsave_buffer(Q=85, keep="none")


def _jpeg_with_profile(width: int, height: int) -> bytes:
    """A photo in Display P3, its profile embedded."""
    photo = pyvips.Image.new_from_buffer(imagegen.photo_jpeg(width, height), "")
    return photo.icc_transform("p3", input_profile="srgb").jpegsave_buffer(Q=90, keep="icc")


ORIGINALS = {
    "jpeg": lambda: imagegen.photo_jpeg(1600, 1200),
    "png": lambda: imagegen.photo_png(1200, 800),
    "png-alpha": lambda: imagegen.photo_png(1200, 800, alpha=True),
    "webp": lambda: imagegen.still_webp(1200, 800),
    "webp-alpha": lambda: _webp_with_alpha(1200, 800),
    "gif-animated": lambda: imagegen.animated_gif(1200, 800, frames=3),
    "webp-animated": lambda: imagegen.animated_webp(1200, 800, frames=3),
    "jpeg-icc": lambda: _jpeg_with_profile(1200, 800),
    "heic-orientation-6": lambda: imagegen.heic_with_exif(1200, 800, orientation=6, gps=False),
    **{f"jpeg-orientation-{o}": (lambda o=o: imagegen.jpeg_with_exif(1200, 800, orientation=o,
                                                                     gps=False))
       for o in range(1, 9)},
}
QUERIES = {
    "fit": [("w", "200")],
    "cover": [("w", "200"), ("h", "200"), ("fit", "cover")],
    "pad": [("w", "200"), ("h", "200"), ("fit", "pad")],
    "fill": [("w", "200"), ("h", "100"), ("fit", "fill")],
    "attention": [("w", "150"), ("h", "150"), ("fit", "cover"), ("gravity", "attention")],
    "png": [("w", "200"), ("format", "png")],
    "webp": [("w", "200"), ("format", "webp")],
    "small": [("w", "80")],
    "thumbnail": [("w", "80"), ("thumbnail", "true")],
}


def _info(data: bytes) -> ImageInfo:
    return probe_image(data, sniff_format(data), SETTINGS.limits)


def _derivation(query: list[tuple[str, str]], source: ImageFormat) -> Derivation:
    parsed = parse_derivation(query, max_side=SETTINGS.derived_max_side,
                              thumbnail_size=SETTINGS.thumbnail_size,
                              thumbnail_enhancements=SETTINGS.thumbnail_enhancements)
    return resolve(parsed, source, "", quality=SETTINGS.derived_quality, focal=None)


def _decoded(data: bytes) -> pyvips.Image:
    animated = data[:3] == b"GIF" or data[8:12] == b"WEBP"
    return pyvips.Image.new_from_buffer(data, "n=-1" if animated else "")


def _seen(image: pyvips.Image) -> pyvips.Image:
    """Pixels as they look: alpha premultiplied, alpha kept as a band."""
    return image.premultiply() if image.hasalpha() else image.cast("float")


def _visible(image: pyvips.Image) -> pyvips.Image:
    """Without an alpha band that is opaque everywhere: libwebp's animation encoder adds one
    to frames it blends over the previous, depending on their content."""
    if image.hasalpha() and image[image.bands - 1].min() == 255:
        return image.extract_band(0, n=image.bands - 1)
    return image


def psnr(a: pyvips.Image, b: pyvips.Image) -> float:
    mse = ((_seen(a) - _seen(b)) ** 2).avg()
    return math.inf if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def _steps(data: bytes, info: ImageInfo) -> tuple[RenderedStep, ...]:
    return render_variants(data, info, (), ladder=SIDES).ladder


@functools.cache
def _original(name: str) -> tuple[bytes, ImageInfo, tuple[RenderedStep, ...]]:
    data = ORIGINALS[name]()
    info = _info(data)
    return data, info, _steps(data, info)


@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_steps_are_upright_and_keep_alpha_frames_and_profile(name: str) -> None:
    data, info, steps = _original(name)
    assert [s.step for s in steps] == list(ladder_steps(info.width, info.height, SIDES))
    assert steps, name
    source = _decoded(data)
    for step in steps:
        step_info = _info(step.data)
        assert step.format is ladder_format(info.format, info.has_alpha)
        assert (step_info.width, step_info.height) == (step.step.width, step.step.height)
        assert step_info.orientation == 1
        assert step_info.pages == info.pages
        decoded = _decoded(step.data)
        assert _visible(decoded).hasalpha() == _visible(source).hasalpha(), name
        for field in ("exif-data", "xmp-data"):
            assert not decoded.get_typeof(field), (name, field)
        if source.get_typeof("icc-profile-data"):
            assert decoded.get("icc-profile-data") == source.get("icc-profile-data")


ORIENTATION_QUERIES = ("cover", "fit", "thumbnail")
"""Orientations change where pixels go, not how they are resized: fewer queries suffice."""


@pytest.mark.parametrize(("name", "query"), [
    (name, query) for name in sorted(ORIGINALS) for query in sorted(QUERIES)
    if "orientation" not in name or query in ORIENTATION_QUERIES])
def test_a_render_from_a_step_equals_the_render_from_the_original(name: str, query: str) -> None:
    data, info, steps = _original(name)
    derivation = _derivation(QUERIES[query], info.format)
    needed = derivation.resize_step().target(info.width, info.height)
    chosen = source_step([s.step for s in steps], needed)
    assert chosen is not None, (name, query)  # every query here can use a step
    step = next(s for s in steps if s.step == chosen)
    from_original = render_derivation(data, info, info, derivation, avif_effort=0)
    from_step = render_derivation(step.data, _info(step.data), info, derivation, avif_effort=0)
    a, b = _visible(_decoded(from_original)), _visible(_decoded(from_step))
    assert (b.width, b.height, b.bands) == (a.width, a.height, a.bands), (name, query)
    assert _info(from_step).pages == _info(from_original).pages
    bound = THUMBNAIL_PSNR_BOUND if query == "thumbnail" else PSNR_BOUND
    assert psnr(a, b) >= bound, (name, query, psnr(a, b))


def test_an_svg_has_no_ladder() -> None:
    data = imagegen.svg(4000, 3000)
    assert _steps(data, _info(data)) == ()
