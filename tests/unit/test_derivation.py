"""Derivation parameters: one canonical name per output, strict validation, and resolve()
(format negotiation, the source's own format, default qualities, the focal point)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from imagehost.config import load_settings
from imagehost.errors import BadRequest
from imagehost.imaging.derivation import (
    Derivation,
    negotiates,
    parse_derivation,
    resolve,
)
from imagehost.imaging.formats import ImageFormat

MAX_SIDE = 4096
QUALITY = load_settings({}).derived_quality


def parse(query: str, **options) -> Derivation:
    kwargs = {"max_side": MAX_SIDE, "thumbnail_size": 50, "thumbnail_enhancements": ("sharpen",)}
    return parse_derivation(parse_qsl(query, keep_blank_values=True), **(kwargs | options))


def resolved(query: str, source: ImageFormat = ImageFormat.JPEG, accept: str = "",
             focal: tuple[float, float] | None = None, quality=None) -> Derivation:
    return resolve(parse(query), source, accept, quality=QUALITY if quality is None else quality,
                   focal=focal)


def name(query: str, source: ImageFormat = ImageFormat.JPEG, accept: str = "",
         focal: tuple[float, float] | None = None) -> str:
    return resolved(query, source, accept, focal).canonical_name()


# every group: different spellings of one output
EQUIVALENT = {
    "order": ["w=200&h=100&fit=cover&gravity=north&format=webp&quality=70",
              "quality=70&format=webp&gravity=north&fit=cover&h=100&w=200",
              "fit=cover&w=200&quality=70&h=100&format=webp&gravity=north"],
    "xsize/ysize": ["w=300&h=120", "xsize=300&ysize=120", "xsize=300&h=120", "h=120&xsize=300"],
    "kind/format and jpg/jpeg": ["w=64&format=jpeg", "w=64&format=jpg", "w=64&kind=jpeg",
                                 "w=64&kind=jpg", "w=64&format=JPEG", "w=64&format=jpeg&kind=jpeg",
                                 "w=64"],  # the JPEG source's own format
    "center/centre": ["w=90&h=90&fit=cover&gravity=center", "w=90&h=90&fit=cover&gravity=centre",
                      "w=90&h=90&fit=cover&gravity=CENTER", "w=90&h=90&fit=cover"],
    "default quality": ["w=120", "w=120&quality=82"],
    "default webp quality": ["w=120&format=webp", "w=120&format=webp&quality=80"],
    "fit with one side": ["w=200", "w=200&fit=inside", "w=200&fit=cover", "w=200&fit=fill",
                          "w=200&fit=pad", "w=200&fit=cover&gravity=south"],
    "fit with height only": ["h=75", "h=75&fit=cover", "ysize=75&fit=pad"],
    "gravity ignored for inside": ["w=200&h=100", "w=200&h=100&gravity=north",
                                   "w=200&h=100&fit=inside&gravity=attention",
                                   "w=200&h=100&gravity=0.1,0.9"],
    "gravity ignored for fill": ["w=200&h=100&fit=fill", "w=200&h=100&fit=fill&gravity=south",
                                 "w=200&h=100&fit=fill&gravity=focal"],
    "enlarge spelled false": ["w=2000", "w=2000&enlarge=false", "w=2000&enlarge=0",
                              "w=2000&enlarge=no", "w=2000&enlarge=off", "w=2000&enlarge=OFF"],
    "enlarge spelled true": ["w=2000&enlarge=true", "w=2000&enlarge=1", "w=2000&enlarge=yes",
                             "w=2000&enlarge=on", "w=2000&enlarge=On", "w=2000&enlarge=TRUE"],
    "no resize resets fit": ["format=png", "format=png&fit=cover&gravity=north&enlarge=true",
                             "kind=png&fit=pad"],
    "same duplicate": ["w=200", "w=200&w=200", "w=200&xsize=200"],
    "focal point spelling": ["w=50&h=50&fit=cover&gravity=0.25,0.5",
                             "w=50&h=50&fit=cover&gravity=0.250,0.50",
                             "w=50&h=50&fit=cover&gravity=.25,.5"],
    "thumbnail": ["thumbnail=true", "thumbnail=1", "thumbnail=yes&w=50&h=50",
                  "thumbnail=on", "thumbnail=true&xsize=50"],
    "control parameters ignored": ["w=10", "w=10&meta=false&url=false&sig=abc&expires=1"],
}


@pytest.mark.parametrize("group", sorted(EQUIVALENT))
def test_equivalent_spellings_share_one_canonical_name(group: str) -> None:
    names = {query: name(query) for query in EQUIVALENT[group]}
    assert len(set(names.values())) == 1, names


def test_canonical_names_spell_out_every_default() -> None:
    assert name("w=200") == "w200_inside_q82.jpg"
    assert name("w=200&h=100&fit=cover") == "w200_h100_cover_g-centre_q82.jpg"
    assert name("w=200&h=100&fit=pad&enlarge=1&format=png") == \
        "w200_h100_pad_enlarge_g-centre_q90.png"
    assert name("format=webp") == "q80.webp"
    assert name("thumbnail=true") == "thumb-sharpen_w50_h50_inside_q82.jpg"
    assert name("w=50&h=50&fit=cover&gravity=0.25,0.5") == "w50_h50_cover_g-0.25_0.5_q82.jpg"


# every query: a different output, so a different name
DIFFERENT = [
    "", "w=200", "w=201", "h=200", "w=200&h=100", "w=200&h=101", "w=200&h=100&fit=cover",
    "w=200&h=100&fit=fill", "w=200&h=100&fit=pad", "w=200&enlarge=true",
    "w=200&h=100&fit=pad&enlarge=true", "w=200&h=100&fit=cover&gravity=north",
    "w=200&h=100&fit=cover&gravity=south", "w=200&h=100&fit=cover&gravity=attention",
    "w=200&h=100&fit=cover&gravity=0.2,0.3", "w=200&h=100&fit=cover&gravity=0.3,0.2",
    "w=200&h=100&fit=pad&gravity=west", "w=200&format=png", "w=200&format=webp",
    "w=200&format=avif", "w=200&format=gif", "w=200&quality=50", "w=200&quality=83",
    "thumbnail=true", "w=50&h=50", "thumbnail=true&w=80",
]


def test_different_outputs_have_different_names() -> None:
    names = [name(query) for query in DIFFERENT]
    duplicates = {n: [q for q in DIFFERENT if name(q) == n] for n in names if names.count(n) > 1}
    assert not duplicates


def test_thumbnail_names_carry_the_enhancements() -> None:
    plain = parse("thumbnail=true", thumbnail_enhancements=())
    both = parse("thumbnail=true", thumbnail_enhancements=("sharpen", "equalise"))
    sharpen = parse("thumbnail=true")
    names = {resolve(d, ImageFormat.JPEG, "", quality=QUALITY, focal=None).canonical_name()
             for d in (plain, both, sharpen)}
    assert len(names) == 3
    assert parse("thumbnail=true", thumbnail_size=64).width == 64


@pytest.mark.parametrize("query", [
    "foo=1", "width=100", "w=100&size=3", "W=100",
    "w=0", "w=-1", "w=4097", "w=99999", "w=abc", "w=1.5", "h=0", "h=4097", "ysize=0",
    "quality=0", "quality=101", "quality=-5", "quality=high", "quality=", "w=", "h=",
    "xsize=",
    "fit=contain", "fit=", "w=10&h=10&fit=crop",
    "gravity=middle", "gravity=1.5,0.5", "gravity=0.5,-0.1", "gravity=0.5,1.01",
    "gravity=0.5", "gravity=a,b", "gravity=", "gravity=0.5,0.5,0.5",
    "format=tiff", "format=bmp", "kind=svg", "format=",
    "enlarge=maybe", "thumbnail=perhaps", "enlarge=", "enlarge=y", "thumbnail=2",
    "w=100&w=200", "w=100&xsize=200", "h=1&ysize=2", "format=png&kind=jpeg",
    "format=jpg&format=png", "quality=50&quality=60",
])
def test_invalid_parameters_are_bad_requests(query: str) -> None:
    with pytest.raises(BadRequest):
        parse(query)


def test_limits_are_inclusive() -> None:
    assert parse("w=4096&h=1").width == 4096
    assert parse("quality=1").quality == 1
    assert parse("quality=100").quality == 100
    assert parse("w=10&h=10&fit=cover&gravity=0,1").gravity == "0,1"
    with pytest.raises(BadRequest):
        parse("w=101", max_side=100)


def test_ignored_parameters_are_skipped() -> None:
    assert parse_derivation([("w", "10"), ("file", "plots/")], max_side=MAX_SIDE,
                            thumbnail_size=50, thumbnail_enhancements=(),
                            ignore=("file",)).width == 10
    with pytest.raises(BadRequest):
        parse("w=10&file=plots/")


@pytest.mark.parametrize(("accept", "expected"), [
    ("image/avif,image/webp,*/*", "avif"),
    ("image/webp,image/avif", "avif"),
    ("image/avif;q=0.9, image/webp;q=0.8", "avif"),
    ("IMAGE/WEBP, */*;q=0.5", "webp"),
    ("image/webp,*/*", "webp"),
    ("image/png,image/*;q=0.8,*/*;q=0.5", "jpeg"),
    ("*/*", "jpeg"),
    ("", "jpeg"),
])
def test_auto_format_follows_accept(accept: str, expected: str) -> None:
    derivation = parse("w=100&format=auto")
    assert negotiates(derivation)
    out = resolve(derivation, ImageFormat.PNG, accept, quality=QUALITY, focal=None)
    assert out.format == expected
    assert out.quality == {"avif": 55, "webp": 80, "jpeg": 82}[expected]
    assert out.content_type == f"image/{expected}"


@pytest.mark.parametrize("query", ["w=100", "w=100&format=png", "w=100&kind=gif"])
def test_accept_is_ignored_without_format_auto(query: str) -> None:
    derivation = parse(query)
    assert not negotiates(derivation)
    with_accept = resolve(derivation, ImageFormat.PNG, "image/avif,image/webp",
                          quality=QUALITY, focal=None)
    without = resolve(derivation, ImageFormat.PNG, "", quality=QUALITY, focal=None)
    assert with_accept == without
    assert with_accept.format in ("png", "gif")


@pytest.mark.parametrize(("source", "expected"), [
    (ImageFormat.JPEG, "jpeg"), (ImageFormat.PNG, "png"), (ImageFormat.GIF, "gif"),
    (ImageFormat.WEBP, "webp"), (ImageFormat.SVG, "png"),
])
def test_no_format_keeps_the_source_format(source: ImageFormat, expected: str) -> None:
    out = resolved("w=100", source=source, accept="image/avif")
    assert out.format == expected
    assert name("w=100", source=source).endswith("." + {"jpeg": "jpg"}.get(expected, expected))


@pytest.mark.parametrize(("fmt", "quality"), [
    ("jpeg", 82), ("webp", 80), ("avif", 55), ("png", 90), ("gif", 100),
])
def test_default_quality_per_format(fmt: str, quality: int) -> None:
    assert QUALITY[fmt] == quality
    assert resolved(f"format={fmt}").quality == quality


def test_configured_and_explicit_quality() -> None:
    configured = load_settings({"DERIVED_QUALITY": "jpeg:70"}).derived_quality
    assert resolved("format=jpeg", quality=configured).quality == 70
    assert resolved("format=webp", quality=configured).quality == 80   # the others keep theirs
    assert resolved("format=jpeg&quality=40", quality=configured).quality == 40


def test_focal_gravity_takes_the_records_focal_point() -> None:
    assert resolved("w=50&h=50&fit=cover&gravity=focal", focal=(0.25, 0.75)).gravity == \
        "0.25,0.75"
    assert resolved("w=50&h=50&fit=cover&gravity=focal", focal=None).gravity == "0.5,0.5"
    assert resolved("w=50&h=50&fit=pad&gravity=focal", focal=(0.1, 0.2)).gravity == "0.1,0.2"
    assert name("w=50&h=50&fit=cover&gravity=focal", focal=(0.25, 0.75)) == \
        name("w=50&h=50&fit=cover&gravity=0.25,0.75")
    assert name("w=50&h=50&fit=cover&gravity=focal", focal=(0.25, 0.75)) != \
        name("w=50&h=50&fit=cover&gravity=focal", focal=(0.75, 0.25))
    # no crop, no focal point
    assert resolved("w=50&h=50&gravity=focal", focal=(0.25, 0.75)).gravity == "centre"


@pytest.mark.parametrize(("query", "size"), [
    ("", (400, 300)),
    ("format=png", (400, 300)),
    ("w=200", (200, 150)),
    ("h=150", (200, 150)),
    ("w=30", (30, 23)),
    ("w=100&h=100", (100, 75)),
    ("w=100&h=100&fit=cover", (100, 100)),
    ("w=100&h=100&fit=fill", (100, 100)),
    ("w=100&h=100&fit=pad", (100, 100)),
    ("w=800", (400, 300)),
    ("w=800&enlarge=true", (800, 600)),
    ("h=600&enlarge=1", (800, 600)),
    ("w=800&h=800&fit=pad", (800, 800)),
    ("w=1000&h=100&fit=cover", (400, 100)),
    ("w=1000&h=100&fit=cover&enlarge=true", (1000, 100)),
    ("thumbnail=true", (50, 38)),
])
def test_output_size(query: str, size: tuple[int, int]) -> None:
    assert resolved(query).output_size(400, 300) == size
