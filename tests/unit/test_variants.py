"""Variant specs: c2corg convert arguments and the native form, with ImageMagick geometry."""

import pytest

from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.variants import (
    DEFAULT_RESIZING_CONFIG,
    Crop,
    Extent,
    Resize,
    VariantConfigError,
    parse_crop_geometry,
    parse_resizing_config,
    parse_variant,
    variant_key,
)

DEFAULTS = {spec.suffix: spec for spec in parse_resizing_config(DEFAULT_RESIZING_CONFIG)}


@pytest.mark.parametrize(("suffix", "source", "expected"), [
    ("BI", (6000, 4000), (1500, 1000)),
    ("BI", (4000, 6000), (1000, 1500)),
    ("BI", (1200, 800), (1200, 800)),      # shrink only: smaller images keep their size
    ("BI", (1500, 1500), (1500, 1500)),
    ("MI", (6000, 4000), (400, 267)),
    ("MI", (300, 100), (300, 100)),
    ("MI", (10000, 100), (400, 4)),
    ("SI", (6000, 4000), (200, 200)),      # ^ then centre extent: exactly 200x200
    ("SI", (50, 30), (200, 200)),          # no >: small images are enlarged
    ("SI", (3000, 100), (200, 200)),
])
def test_default_variants_follow_imagemagick_geometry(
        suffix: str, source: tuple[int, int], expected: tuple[int, int]) -> None:
    assert DEFAULTS[suffix].output_size(*source) == expected


def test_default_config_is_c2corg_bi_mi_si_at_quality_90() -> None:
    assert list(DEFAULTS) == ["BI", "MI", "SI"]
    assert {spec.quality for spec in DEFAULTS.values()} == {90}
    assert DEFAULTS["SI"].steps == (Resize(200, 200, "cover", "always"),
                                    Extent(200, 200, "centre", pad=True))


@pytest.mark.parametrize(("geometry", "source", "expected"), [
    ("100x100", (50, 25), (100, 50)),       # no flag: enlarge and shrink
    ("100x100<", (50, 25), (100, 50)),      # < enlarges small images
    ("100x100<", (400, 200), (400, 200)),   # ... and leaves large ones
    ("100x50!", (400, 400), (100, 50)),     # ! ignores the aspect ratio
    ("200", (400, 100), (200, 50)),          # width only
    ("x50", (400, 100), (200, 50)),          # height only
    ("100x100^", (400, 200), (200, 100)),   # ^ fills the box
])
def test_resize_flags(geometry: str, source: tuple[int, int], expected: tuple[int, int]) -> None:
    spec = parse_variant({"suffix": "X", "convert": ["-resize", geometry]})
    assert spec.output_size(*source) == expected


def test_thumbnail_crop_and_gravity_arguments_are_understood() -> None:
    spec = parse_variant({"suffix": "T", "convert": [
        "-auto-orient", "-crop", "100x50+10+5", "+repage", "-thumbnail", "40x40>",
        "-gravity", "SouthEast", "-extent", "40x10", "-strip", "-quality", "70"]})
    assert spec.quality == 70
    assert spec.steps == (Crop(100, 50, 10, 5, "northwest"), Resize(40, 40, "inside", "never"),
                          Extent(40, 10, "southeast", pad=True))
    assert spec.output_size(400, 300) == (40, 10)


def test_unsupported_convert_arguments_are_named() -> None:
    with pytest.raises(VariantConfigError, match=r"-sharpen 0x1 -colorspace Gray"):
        parse_resizing_config('[{"suffix": "A", "convert": ["-resize", "10x10", "-sharpen", '
                              '"0x1", "-colorspace", "Gray"]}]')


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "not valid JSON"),
    ('{"suffix": "A"}', "JSON list"),
    ('[{"suffix": "1A", "width": 10}]', "suffix"),
    ('[{"suffix": "A", "width": 10}, {"suffix": "A", "width": 5}]', "duplicate suffixes A"),
    ('[{"suffix": "A", "convert": ["-resize", "50%"]}]', "resize geometry '50%'"),
    ('[{"suffix": "A", "convert": ["-resize"]}]', "-resize needs a value"),
    ('[{"suffix": "A", "convert": ["-quality", "0"]}]', "quality"),
    ('[{"suffix": "A", "width": 10, "fit": "stretch"}]', "fit 'stretch'"),
    ('[{"suffix": "A", "width": 10, "fit": "cover"}]', "needs both width and height"),
    ('[{"suffix": "A", "height": 10, "colour": "red"}]', "unknown keys colour"),
    ('[{"suffix": "A", "width": 10, "format": "bmp"}]', "format 'bmp'"),
    ('[{"suffix": "A", "width": 10, "gravity": "up"}]', "gravity 'up'"),
])
def test_invalid_configurations_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(VariantConfigError, match=message):
        parse_resizing_config(text)


def test_native_form() -> None:
    cover, inside, fill = parse_resizing_config(
        '[{"suffix": "C", "width": 300, "height": 100, "fit": "cover", "gravity": "north"},'
        ' {"suffix": "I", "width": 300, "height": 300, "enlarge": true, "format": "webp",'
        '  "quality": 60},'
        ' {"suffix": "F", "width": 30, "height": 10, "fit": "fill"}]')
    assert cover.output_size(1000, 1000) == (300, 100)
    assert cover.output_size(200, 50) == (200, 50)      # no enlarge: crop what exists, no pad
    assert inside.output_size(100, 50) == (300, 150)
    assert inside.output_format(ImageFormat.PNG) is ImageFormat.WEBP
    assert inside.quality == 60
    assert fill.output_size(1000, 1000) == (30, 10)


@pytest.mark.parametrize(("original", "suffix", "expected"), [
    ("1475660224_882910455.jpg", "BI", "1475660224_882910455BI.jpg"),
    ("x.png", "MI", "xMI.png"),
    ("x.gif", "SI", "xSI.gif"),
    ("x.svg", "BI", "xBI.jpg"),
    ("plots/site-4/cam1.webp", "MI", "plots/site-4/cam1MI.webp"),
])
def test_variant_keys_follow_c2corg_naming(original: str, suffix: str, expected: str) -> None:
    assert variant_key(original, DEFAULTS[suffix]) == expected


def test_native_format_changes_the_variant_extension() -> None:
    spec = parse_variant({"suffix": "W", "width": 10, "format": "webp"})
    assert variant_key("1_2.jpg", spec) == "1_2W.webp"


def test_crop_geometry_and_its_bounds() -> None:
    crop = parse_crop_geometry("200x100+10+20")
    assert crop.region(1000, 800) == (10, 20, 200, 100)
    assert crop.region(100, 100) == (10, 20, 90, 80)   # clipped like ImageMagick
    with pytest.raises(VariantConfigError, match="outside"):
        crop.region(5, 5)
    with pytest.raises(VariantConfigError):
        parse_crop_geometry("200x100+a")
