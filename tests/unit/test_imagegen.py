"""Checks that every tests.imagegen generator produces what it promises."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator

import pytest
import pyvips

from imagehost.imaging.render import configure_libvips
from tests import imagegen as gen


@pytest.fixture(autouse=True)
def every_loader() -> Iterator[None]:
    """These tests read TIFF and AVIF too: lift imagehost's process-wide loader allowlist."""
    pyvips.operation_block_set("VipsForeignLoad", False)
    yield
    configure_libvips(1)

SVG_NS = "{http://www.w3.org/2000/svg}"


def sniff(data: bytes) -> str | None:
    """Format name from magic bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(gen.PNG_SIGNATURE):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    if data.lstrip().startswith((b"<?xml", b"<svg")):
        return "svg"
    return None


def header(data: bytes, **kwargs: object) -> pyvips.Image:
    """Lazily opened image: header only, pixels are not decoded."""
    return pyvips.Image.new_from_buffer(data, "", **kwargs)


def decode(data: bytes, fail_on: str) -> bytes:
    """Fully decode ``data`` (by re-encoding it as PNG) with the given fail_on level."""
    return header(data, fail_on=fail_on).write_to_buffer(".png")


def pages(data: bytes) -> list[pyvips.Image]:
    """All pages of an animated image, decoded."""
    image = header(data, n=-1)
    height = image.get("page-height")
    return [image.crop(0, i * height, image.width, height) for i in range(image.get("n-pages"))]


def assert_pages_differ(frames: list[pyvips.Image]) -> None:
    for i, a in enumerate(frames):
        for b in frames[i + 1 :]:
            assert (a - b).abs().avg() > 2, "two animation frames look the same"


def test_photo_jpeg() -> None:
    data = gen.photo_jpeg(320, 240)
    image = header(data)
    assert sniff(data) == "jpeg"
    assert (image.width, image.height, image.bands) == (320, 240, 3)
    assert image.get("vips-loader") == "jpegload_buffer"
    decode(data, fail_on="warning")
    assert image.deviate() > 10, "photo must not be a flat colour"
    assert len(data) > 320 * 240 * 0.1, "photo must compress like a photo (grain), not a gradient"
    assert len(gen.photo_jpeg(320, 240, quality=95)) > len(gen.photo_jpeg(320, 240, quality=50))


def test_photo_jpeg_makes_24_megapixels() -> None:
    data = gen.photo_jpeg(6000, 4000)
    image = header(data)
    assert (image.width, image.height) == (6000, 4000)
    assert image.deviate() > 10, "photo must not be a flat colour"


@pytest.mark.parametrize("alpha", [False, True])
def test_photo_png(alpha: bool) -> None:
    data = gen.photo_png(200, 150, alpha=alpha)
    image = header(data)
    assert sniff(data) == "png"
    assert (image.width, image.height, image.bands) == (200, 150, 4 if alpha else 3)
    decode(data, fail_on="warning")
    assert image[:3].deviate() > 10
    if alpha:
        band = image[3]
        assert band.max() == 255 and band.min() < 10, "alpha must range opaque..transparent"
        assert band.deviate() > 30, "alpha must really vary"


def test_animated_gif() -> None:
    data = gen.animated_gif(64, 48, frames=4)
    image = header(data)
    assert sniff(data) == "gif"
    assert (image.width, image.height, image.get("n-pages")) == (64, 48, 4)
    assert header(data, n=-1).height == 48 * 4
    assert_pages_differ(pages(data))
    assert header(gen.animated_gif(32, 32)).get("n-pages") == 5


def test_animated_webp() -> None:
    data = gen.animated_webp(64, 48)
    image = header(data)
    assert sniff(data) == "webp"
    assert (image.width, image.height, image.get("n-pages")) == (64, 48, 3)
    assert_pages_differ(pages(data))


def test_still_webp() -> None:
    data = gen.still_webp(120, 80)
    image = header(data)
    assert sniff(data) == "webp"
    assert (image.width, image.height, image.bands) == (120, 80, 3)
    assert not image.get_typeof("n-pages") or image.get("n-pages") == 1
    decode(data, fail_on="warning")


def test_tiff() -> None:
    data = gen.tiff(90, 70)
    image = header(data)
    assert sniff(data) == "tiff"
    assert (image.width, image.height, image.bands) == (90, 70, 3)
    assert image.get("vips-loader") == "tiffload_buffer"
    decode(data, fail_on="warning")


def test_avif() -> None:
    try:
        data = gen.avif(96, 64)
    except pyvips.Error as exc:
        pytest.skip(f"this libvips build cannot encode AVIF (heifsave compression=av1): {exc}")
    image = header(data)
    assert sniff(data) == "avif"
    assert (image.width, image.height) == (96, 64)
    assert image.get("heif-compression") == "av1"
    decode(data, fail_on="warning")


@pytest.mark.parametrize("script", [False, True])
def test_svg_renders(script: bool) -> None:
    data = gen.svg(240, 160, script=script)
    assert sniff(data) == "svg"
    root = ET.fromstring(data)  # well-formed XML
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}text") is not None and root.find(f"{SVG_NS}circle") is not None
    image = header(data, fail_on="error")
    assert (image.width, image.height) == (240, 160)
    assert image.get("vips-loader") == "svgload_buffer"
    assert image.deviate() > 10, "shapes must actually render"
    assert header(gen.svg()).width == 400 and header(gen.svg()).height == 300


def test_plain_svg_is_not_hostile() -> None:
    text = gen.svg().decode()
    assert not [m for m in gen.SVG_HOSTILE_MARKERS if m in text]
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/", "")


@pytest.mark.parametrize(
    "construct",
    [
        "<script>",
        "onload=",
        "onclick=",
        "<foreignObject",
        '<div xmlns="http://www.w3.org/1999/xhtml">',
        '<image href="http://example.com/x.png"',
        'xlink:href="javascript:',
        '<use href="http://evil/x.svg#a"',
        'style="fill:url(http://evil/bg.png)',
        '<?xml-stylesheet href="http://evil/s.css"',
        *gen.SVG_HOSTILE_MARKERS,
    ],
)
def test_hostile_svg_contains(construct: str) -> None:
    assert construct in gen.svg(script=True).decode()


def test_svg_bomb_size_header() -> None:
    data = gen.svg_bomb_size()
    assert sniff(data) == "svg" and len(data) < 1024
    image = header(data)  # lazy: never render this
    assert (image.width, image.height) == (100000, 100000)


_LOAD_STDIN = """
import sys, pyvips
try:
    image = pyvips.Image.new_from_buffer(sys.stdin.buffer.read(), "")
    print("LOADED", image.width, image.height)
except pyvips.Error as exc:
    print("REFUSED", str(exc).replace("\\n", " "))
"""


def test_svg_entity_bomb() -> None:
    data = gen.svg_entity_bomb()
    text = data.decode()
    assert sniff(data) == "svg" and len(data) < 2048
    assert "<!DOCTYPE svg [" in text and text.count("<!ENTITY") == 10
    assert text.count("&lol8;") == 10 and "&lol9;</text>" in text  # 10**9 x "lol" if expanded
    # Parsing expands entities, so do it in a child process that may be killed.
    child = subprocess.run(
        [sys.executable, "-c", _LOAD_STDIN], input=data, capture_output=True, timeout=60
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith(b"REFUSED"), child.stdout


def test_jpeg_with_exif() -> None:
    data = gen.jpeg_with_exif(160, 120)
    assert sniff(data) == "jpeg"
    assert gen.exif_orientation(data) == 6
    assert gen.has_exif_gps(data)
    stored = header(data)
    assert (stored.width, stored.height) == (160, 120)
    assert stored.getpoint(5, 5)[:3] == pytest.approx([255, 0, 0], abs=40)  # red top-left
    assert stored.getpoint(155, 115)[:3] != pytest.approx([255, 0, 0], abs=40)
    upright = header(data, autorotate=True)  # orientation 6: rotate 90 degrees clockwise
    assert (upright.width, upright.height) == (120, 160)
    assert upright.getpoint(114, 5)[:3] == pytest.approx([255, 0, 0], abs=40)  # now top-right
    assert upright.getpoint(5, 5)[:3] != pytest.approx([255, 0, 0], abs=40)


def test_jpeg_with_exif_options() -> None:
    data = gen.jpeg_with_exif(64, 48, orientation=3, gps=False)
    assert gen.exif_orientation(data) == 3
    assert not gen.has_exif_gps(data)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".avif"])
def test_exif_helpers_see_metadata_libvips_keeps(suffix: str) -> None:
    """So that 'metadata was stripped' assertions on these output formats are not vacuous."""
    image = header(gen.jpeg_with_exif(64, 48))
    try:
        kept = image.write_to_buffer(suffix)
    except pyvips.Error as exc:
        pytest.skip(f"this libvips build cannot write {suffix}: {exc}")
    assert gen.exif_orientation(kept) == 6 and gen.has_exif_gps(kept)
    stripped = image.write_to_buffer(suffix, keep="none")
    assert gen.exif_orientation(stripped) is None and not gen.has_exif_gps(stripped)


@pytest.mark.parametrize("make", [gen.photo_jpeg, gen.photo_png, gen.still_webp, gen.tiff])
def test_exif_helpers_report_absence(make: Callable[[int, int], bytes]) -> None:
    data = make(32, 32)
    assert gen.exif_orientation(data) is None
    assert not gen.has_exif_gps(data)


def test_truncated_slices() -> None:
    data = bytes(range(200))
    assert gen.truncated(data) == data[:100]
    assert gen.truncated(data, keep=0.25) == data[:50]
    with pytest.raises(ValueError):
        gen.truncated(data, keep=1.0)


@pytest.mark.parametrize("fail_on", ["truncated", "error", "warning"])
@pytest.mark.parametrize("make", [gen.photo_jpeg, gen.photo_png], ids=["jpeg", "png"])
def test_truncated_image_fails(make: Callable[[int, int], bytes], fail_on: str) -> None:
    data = gen.truncated(make(320, 240))
    image = header(data)  # the header is intact, only the pixel data is cut
    assert (image.width, image.height) == (320, 240)
    with pytest.raises(pyvips.Error):
        decode(data, fail_on=fail_on)


@pytest.mark.parametrize("fail_on", ["none", "truncated", "error", "warning"])
def test_corrupt_jpeg_fails(fail_on: str) -> None:
    data = gen.corrupt_jpeg(320, 240)
    assert sniff(data) == "jpeg"
    assert (header(data).width, header(data).height) == (320, 240)
    with pytest.raises(pyvips.Error, match="Invalid JPEG file structure"):
        decode(data, fail_on=fail_on)


def test_corrupt_jpeg_non_fatal_only_warns() -> None:
    data = gen.corrupt_jpeg(320, 240, fatal=False)
    assert sniff(data) == "jpeg"
    decode(data, fail_on="error")  # libjpeg only *warns* about damaged baseline scan data
    with pytest.raises(pyvips.Error, match="Corrupt JPEG data"):
        decode(data, fail_on="warning")


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, body, stored crc) of every chunk after the signature."""
    chunks, pos = [], len(gen.PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 8 + length
        (crc,) = struct.unpack(">I", data[end : end + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : end], crc))
        pos = end + 4
    return chunks


def test_png_pixel_bomb() -> None:
    data = gen.png_pixel_bomb()
    assert sniff(data) == "png" and len(data) < 100_000
    chunks = png_chunks(data)
    assert [kind for kind, _, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert all(zlib.crc32(kind + body) == crc for kind, body, crc in chunks)
    image = header(data)  # lazy: never decode this
    assert (image.width, image.height, image.bands) == (100000, 100000, 3)
    assert header(gen.png_pixel_bomb(5000, 7000)).height == 7000


def test_jpeg_header_bomb() -> None:
    data = gen.jpeg_header_bomb()
    assert sniff(data) == "jpeg" and len(data) < 10_000
    image = header(data)  # lazy: never decode this
    assert (image.width, image.height) == (30000, 30000)
    custom = header(gen.jpeg_header_bomb(width=65000, height=1234))
    assert (custom.width, custom.height) == (65000, 1234)


def test_gif_frame_bomb() -> None:
    data = gen.gif_frame_bomb()
    assert sniff(data) == "gif" and len(data) < 100_000
    image = header(data)
    assert (image.width, image.height, image.get("n-pages")) == (2, 2, 1000)
    assert header(gen.gif_frame_bomb(frames=20, width=3, height=4)).get("n-pages") == 20


def test_bmp_like_garbage() -> None:
    data = gen.bmp_like_garbage()
    assert data.startswith(b"BM") and len(data) == 512
    assert data[2:] != bytes(510)
    with pytest.raises(pyvips.Error):
        decode(data, fail_on="none")


def test_text_file() -> None:
    data = gen.text_file()
    assert sniff(data) is None
    assert all(32 <= b < 127 or b == 10 for b in data), "must be plain ASCII text"
    with pytest.raises(pyvips.Error):
        header(data)


@pytest.mark.parametrize(
    "make",
    [
        lambda: gen.photo_jpeg(64, 48),
        lambda: gen.photo_png(64, 48, alpha=True),
        lambda: gen.animated_gif(32, 24, frames=3),
        lambda: gen.animated_webp(32, 24),
        lambda: gen.still_webp(32, 24),
        lambda: gen.tiff(32, 24),
        lambda: gen.svg(script=True),
        lambda: gen.jpeg_with_exif(32, 24),
        lambda: gen.corrupt_jpeg(64, 48),
        gen.png_pixel_bomb,
        gen.jpeg_header_bomb,
        gen.gif_frame_bomb,
        gen.bmp_like_garbage,
    ],
)
def test_deterministic(make: Callable[[], bytes]) -> None:
    assert make() == make()
