"""Rendering: exact variant sizes, no metadata, animation kept, limits before decode."""

import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
import pyvips

from imagehost.config import load_settings
from imagehost.errors import InvalidImage, LimitExceeded
from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.render import configure_libvips
from imagehost.imaging.variants import parse_resizing_config
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import ProcessedImage, process_upload
from tests import imagegen

configure_libvips(1)
SETTINGS = load_settings({})
POLICY = ImagePolicy.from_settings(SETTINGS)


def render(data: bytes, policy: ImagePolicy = POLICY) -> ProcessedImage:
    return process_upload(data, policy)


def sizes(processed: ProcessedImage) -> dict[str, tuple[int, int]]:
    out = {}
    for variant in processed.rendered.variants:
        image = pyvips.Image.new_from_buffer(variant.data, "")
        out[variant.spec.suffix] = (image.width, image.height)
    return out


@pytest.mark.parametrize(("width", "height", "expected"), [
    (6000, 4000, {"BI": (1500, 1000), "MI": (400, 267), "SI": (200, 200)}),
    (1000, 3000, {"BI": (500, 1500), "MI": (133, 400), "SI": (200, 200)}),
    (640, 480, {"BI": (640, 480), "MI": (400, 300), "SI": (200, 200)}),
    (120, 90, {"BI": (120, 90), "MI": (120, 90), "SI": (200, 200)}),
    (4000, 300, {"BI": (1500, 113), "MI": (400, 30), "SI": (200, 200)}),
])
def test_jpeg_variants_have_exact_c2corg_dimensions(
        width: int, height: int, expected: dict[str, tuple[int, int]]) -> None:
    processed = render(imagegen.photo_jpeg(width, height))
    assert sizes(processed) == expected
    assert all(v.data[:3] == b"\xff\xd8\xff" for v in processed.rendered.variants)


def test_24_megapixel_photo_renders_from_one_decode() -> None:
    processed = render(imagegen.photo_jpeg(6000, 4000))
    assert sizes(processed) == {"BI": (1500, 1000), "MI": (400, 267), "SI": (200, 200)}
    assert processed.info.width == 6000


def test_variants_carry_no_exif_or_gps_and_are_upright() -> None:
    upload = imagegen.jpeg_with_exif(300, 200, orientation=6, gps=True)
    assert imagegen.has_exif_gps(upload)
    processed = render(upload)
    assert not imagegen.has_exif_gps(processed.original)  # ORIGINAL_METADATA=strip-private
    assert imagegen.exif_orientation(processed.original) == 6  # not turned without AUTO_ORIENT
    assert imagegen.jpeg_scan(processed.original) == imagegen.jpeg_scan(upload)
    for variant in processed.rendered.variants:
        assert not imagegen.has_exif_gps(variant.data)
        assert imagegen.exif_orientation(variant.data) in (None, 1)
        assert b"Exif" not in variant.data[:200]
    assert sizes(processed)["BI"] == (200, 300)   # orientation 6: displayed portrait


def test_auto_orient_rotates_the_jpeg_original() -> None:
    upload = imagegen.jpeg_with_exif(300, 200, orientation=6, gps=True)
    policy = ImagePolicy.from_settings(load_settings({"AUTO_ORIENT_ORIGINAL": "1"}))
    processed = render(upload, policy)
    original = pyvips.Image.new_from_buffer(processed.original, "")
    assert (original.width, original.height) == (200, 300)
    assert imagegen.exif_orientation(processed.original) in (None, 1)
    assert sizes(processed)["BI"] == (200, 300)


def test_png_keeps_alpha_and_format() -> None:
    processed = render(imagegen.photo_png(800, 600, alpha=True))
    for variant in processed.rendered.variants:
        assert variant.format is ImageFormat.PNG
        assert variant.data.startswith(b"\x89PNG")
        assert pyvips.Image.new_from_buffer(variant.data, "").bands == 4
    assert sizes(processed)["SI"] == (200, 200)


def test_animated_gif_variants_stay_animated() -> None:
    processed = render(imagegen.animated_gif(300, 150, frames=6))
    assert processed.info.pages == 6
    for variant in processed.rendered.variants:
        image = pyvips.Image.new_from_buffer(variant.data, "", n=-1)
        assert variant.data[:6] in (b"GIF89a", b"GIF87a")
        assert image.get("n-pages") == 6
    si = pyvips.Image.new_from_buffer(processed.rendered.variants[2].data, "", n=-1)
    assert (si.width, si.get("page-height")) == (200, 200)
    mi = pyvips.Image.new_from_buffer(processed.rendered.variants[1].data, "", n=-1)
    assert (mi.width, mi.get("page-height")) == (300, 150)


def test_animated_webp_variants_stay_animated() -> None:
    processed = render(imagegen.animated_webp(400, 300, frames=3))
    variant = processed.rendered.variants[1]
    assert variant.data[8:12] == b"WEBP"
    assert pyvips.Image.new_from_buffer(variant.data, "", n=-1).get("n-pages") == 3


def test_svg_variants_are_jpeg_on_white() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">'
           b'<rect x="300" y="0" width="100" height="300" fill="black"/></svg>')
    processed = render(svg)
    assert processed.info.format is ImageFormat.SVG
    bi = processed.rendered.variants[0]
    assert bi.format is ImageFormat.JPEG and bi.data[:3] == b"\xff\xd8\xff"
    image = pyvips.Image.new_from_buffer(bi.data, "")
    assert (image.width, image.height) == (400, 300)
    assert image.getpoint(10, 10)[0] > 245       # transparent areas became white
    assert image.getpoint(390, 10)[0] < 10


def test_native_specs_render_their_format_and_fit() -> None:
    specs = parse_resizing_config(
        '[{"suffix": "W", "width": 320, "height": 320, "format": "webp", "quality": 70},'
        ' {"suffix": "C", "width": 100, "height": 50, "fit": "cover", "gravity": "west"},'
        ' {"suffix": "F", "width": 64, "height": 64, "fit": "fill"}]')
    policy = ImagePolicy(specs, SETTINGS.limits, auto_orient=False)
    processed = render(imagegen.photo_jpeg(800, 400), policy)
    assert processed.rendered.variants[0].data[8:12] == b"WEBP"
    assert sizes(processed) == {"W": (320, 160), "C": (100, 50), "F": (64, 64)}


@pytest.mark.parametrize(("data", "limit"), [
    (imagegen.png_pixel_bomb(), "max_pixels"),
    (imagegen.jpeg_header_bomb(), "max_pixels"),
    (imagegen.gif_frame_bomb(frames=600), "max_frames"),
    (imagegen.svg_bomb_size(), "max_svg_side"),
])
def test_bombs_are_refused_from_the_header(data: bytes, limit: str) -> None:
    with pytest.raises(LimitExceeded, match=limit):
        render(data)


def test_byte_limit_is_checked_first() -> None:
    policy = ImagePolicy(POLICY.specs, replace(SETTINGS.limits, max_bytes=1000),
                         auto_orient=False)
    with pytest.raises(LimitExceeded, match="max_upload_bytes"):
        render(imagegen.photo_jpeg(300, 300), policy)


def test_animation_pixels_count_every_frame() -> None:
    policy = ImagePolicy(POLICY.specs, replace(SETTINGS.limits, max_pixels=100 * 100 * 4),
                         auto_orient=False)
    render(imagegen.animated_gif(100, 100, frames=4), policy)
    with pytest.raises(LimitExceeded, match="5 frames"):
        render(imagegen.animated_gif(100, 100, frames=5), policy)


@pytest.mark.parametrize("data", [
    imagegen.truncated(imagegen.photo_jpeg(800, 600)),
    imagegen.corrupt_jpeg(800, 600),
    imagegen.truncated(imagegen.photo_png(400, 300), 0.3),
    imagegen.truncated(imagegen.animated_gif(200, 200), 0.5),
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
])
def test_truncated_and_corrupt_images_are_invalid(data: bytes) -> None:
    with pytest.raises(InvalidImage):
        render(data)


def _derive(data: bytes, **params: str) -> pyvips.Image:
    from imagehost.imaging.derivation import parse_derivation, resolve
    from imagehost.imaging.formats import sniff_format
    from imagehost.imaging.probe import probe_image
    from imagehost.imaging.render import render_derivation

    info = probe_image(data, sniff_format(data), POLICY.limits)
    derivation = resolve(parse_derivation(params.items(), max_side=4096, thumbnail_size=50,
                                          thumbnail_enhancements=()),
                         info.format, "", quality=SETTINGS.derived_quality, focal=None)
    return pyvips.Image.new_from_buffer(
        render_derivation(data, info, info, derivation, avif_effort=0), "")


@pytest.mark.parametrize(("params", "expected"), [
    ({"w": "512", "h": "512"}, (512, 341)),      # DCT scale 1/2: 1000x667, then resized
    ({"w": "180"}, (180, 120)),                   # 1/8: 250x167
    ({"w": "300", "h": "100", "fit": "fill"}, (300, 100)),
    ({"w": "100", "h": "100", "fit": "cover"}, (100, 100)),
    ({"w": "1999"}, (1999, 1332)),                # no scale: just under the source
])
def test_jpeg_scaled_decode_gives_exact_sizes(params: dict[str, str],
                                              expected: tuple[int, int]) -> None:
    image = _derive(imagegen.photo_jpeg(2000, 1333), **params)
    assert (image.width, image.height) == expected


def test_jpeg_scaled_decode_follows_exif_orientation() -> None:
    # stored 1600x800, displayed 800x1600: a 1/4 scale, and the red block ends top-right
    image = _derive(imagegen.jpeg_with_exif(1600, 800, orientation=6, gps=False), w="200")
    assert (image.width, image.height) == (200, 400)
    corner = image.crop(170, 5, 25, 40)
    assert corner.extract_band(0).avg() > 200 and corner.extract_band(1).avg() < 80
    other = image.crop(5, 5, 25, 40)
    assert other.extract_band(1).avg() > corner.extract_band(1).avg() + 40


def test_jpeg_scaled_decode_matches_a_full_decode_closely() -> None:
    data = imagegen.photo_jpeg(2000, 1333, quality=95)
    scaled = _derive(data, w="400", format="png")
    full = pyvips.Image.new_from_buffer(data, "").thumbnail_image(400, height=267, size="force")
    difference = (scaled.cast("float") - full.cast("float")).abs().avg()
    assert (scaled.width, scaled.height) == (400, 267)
    assert difference < 3.0      # mean absolute error on 0..255


def test_corrupt_jpeg_with_scaled_decode_is_invalid_image() -> None:
    with pytest.raises(InvalidImage):
        _derive(imagegen.corrupt_jpeg(2000, 1333), w="200")


def test_libvips_logs_reach_python_logging_from_warnings_up_only() -> None:
    """libvips' INFO lines (about ten per render) would each take the GIL from a libvips
    thread; its warnings still reach logging. In a child interpreter: pytest's log capture
    changes when libvips' deferred warnings are let out."""
    script = textwrap.dedent("""
        import logging, sys
        import pyvips
        from imagehost.imaging.render import configure_libvips
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout,
                            format="%(levelname)s %(message)s")
        configure_libvips(1)
        source = pyvips.Image.gaussnoise(256, 192).cast("uchar").jpegsave_buffer(Q=90)
        pyvips.Image.thumbnail_buffer(source, 32).jpegsave_buffer()
        pyvips.Image.new_from_buffer(source[: len(source) // 2], "", fail=False).avg()
    """)
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, timeout=60).stdout.splitlines()
    vips = [line for line in shown if " VIPS: " in line]
    assert vips and all(line.startswith("WARNING VIPS: ") for line in vips), vips
    assert "premature end of JPEG" in "\n".join(vips)
