"""Format detection looks at content only; the registry's tables follow from it; HEIF and JPEG
XL headers give their displayed size without a decode."""

import struct

import pillow_jxl
import pytest
import pyvips

from imagehost.errors import InvalidImage, InvalidKey, LimitExceeded, UnsupportedFormat
from imagehost.imaging.foreign import FOREIGN_DECODERS, decode_heif, decode_jxl
from imagehost.imaging.formats import (
    FORMATS,
    KEY_FORMATS,
    LOADERS,
    UPLOAD_FORMATS,
    ImageFormat,
    content_type_of,
    format_named,
    format_of_path,
    sniff_format,
)
from imagehost.imaging.jxl import JxlHeader, JxlHeaderError, read_jxl_header
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import configure_libvips
from imagehost.service.naming import check_original_key, new_image_key
from tests import imagegen

configure_libvips(1)
LIMITS = ImageLimits(max_bytes=30_000_000, max_pixels=50_000_000, max_frames=500,
                     max_svg_side=10_000, max_svg_bytes=5_000_000, max_svg_elements=100_000)
HEIC = imagegen.heic_with_exif(96, 64, orientation=6)   # shown 64x96, red block top right
AVIF = imagegen.avif_with_exif(96, 64)
JXL = imagegen.jxl_with_exif(96, 64)
JXL_JPEG = imagegen.jxl_recompressed_jpeg(96, 64, orientation=6)  # shown 64x96


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    brands = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands + b"\x00" * 16


@pytest.mark.parametrize(("data", "expected"), [
    (imagegen.photo_jpeg(32, 24), ImageFormat.JPEG),
    (imagegen.photo_png(32, 24), ImageFormat.PNG),
    (imagegen.animated_gif(32, 24, 2), ImageFormat.GIF),
    (imagegen.still_webp(32, 24), ImageFormat.WEBP),
    (imagegen.svg(), ImageFormat.SVG),
    (HEIC, ImageFormat.HEIC),
    (AVIF, ImageFormat.AVIF),
    (JXL, ImageFormat.JXL),
    (JXL_JPEG, ImageFormat.JXL),
    (imagegen.jxl_header_bomb(), ImageFormat.JXL),
    (ftyp(b"mif1", b"mif1", b"heic"), ImageFormat.HEIC),
    (ftyp(b"heix", b"mif1"), ImageFormat.HEIC),
    (ftyp(b"msf1", b"hevc"), ImageFormat.HEIC),
    (ftyp(b"mif1", b"miaf", b"avif"), ImageFormat.AVIF),
    (ftyp(b"avis", b"msf1"), ImageFormat.AVIF),
    (ftyp(b"mif1", b"miaf"), ImageFormat.HEIF),
    (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c -->\n'
     b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"'
     b' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg width="1" height="1"/>',
     ImageFormat.SVG),
])
def test_accepted_formats_are_sniffed_from_content(data: bytes, expected: ImageFormat) -> None:
    assert sniff_format(data) is expected


@pytest.mark.parametrize(("data", "name"), [
    (imagegen.tiff(16, 16), "TIFF"),
    (imagegen.bmp_like_garbage(), "BMP"),
    (b"%PDF-1.7\n", "PDF"),
    (imagegen.text_file(), "(unknown)"),
    (b'<?xml version="1.0"?><html><svg/></html>', "(unknown)"),
    (ftyp(b"isom", b"mp41"), "ISO media"),
])
def test_other_content_is_refused_and_named(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedFormat, match=r"Unsupported image format " + f"{name}"
                       .replace("(", r"\(").replace(")", r"\)")):
        sniff_format(data)


def test_empty_body_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        sniff_format(b"")


def test_upload_formats_loaders_and_key_formats_follow_from_the_registry() -> None:
    assert set(UPLOAD_FORMATS) == set(ImageFormat)
    assert LOADERS == ("VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadNsgif",
                       "VipsForeignLoadWebp", "VipsForeignLoadSvg", "VipsForeignLoadHeif")
    assert KEY_FORMATS == (ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.GIF,
                           ImageFormat.WEBP, ImageFormat.SVG)
    assert set(FOREIGN_DECODERS) == {ImageFormat.HEIC, ImageFormat.HEIF, ImageFormat.JXL}
    for fmt in (ImageFormat.HEIC, ImageFormat.HEIF, ImageFormat.AVIF, ImageFormat.JXL):
        assert fmt.served_as is ImageFormat.JPEG
        assert FORMATS[fmt].saver is None or fmt is ImageFormat.AVIF


def test_names_extensions_and_content_types_of_the_new_formats() -> None:
    assert format_named("heic") is ImageFormat.HEIC
    assert format_named(".heif") is ImageFormat.HEIF
    assert format_named("jxl") is ImageFormat.JXL
    assert format_of_path("a/IMG_1.HEIC") is ImageFormat.HEIC
    assert format_of_path("b.hif") is ImageFormat.HEIC
    assert format_of_path("c.jxl") is ImageFormat.JXL
    assert content_type_of("a/IMG_1.heic") == "image/heic"
    assert content_type_of("a/b.heif") == "image/heif"
    assert content_type_of("x.jxl") == "image/jxl"
    assert content_type_of("x.avif") == "image/avif"


def test_c2corg_keys_keep_the_web_formats() -> None:
    assert new_image_key(ImageFormat.JPEG, 1_700_000_000).endswith(".jpg")
    for ext in ("jpg", "png", "gif", "webp", "svg"):
        assert check_original_key(f"1700000000_0123456789.{ext}")
    for ext in ("heic", "avif", "jxl", "jpeg"):
        with pytest.raises(InvalidKey):
            check_original_key(f"1700000000_0123456789.{ext}")


@pytest.mark.parametrize(("data", "fmt", "size"), [
    (HEIC, ImageFormat.HEIC, (64, 96)),
    (AVIF, ImageFormat.AVIF, (96, 64)),
    (JXL, ImageFormat.JXL, (96, 64)),
    (JXL_JPEG, ImageFormat.JXL, (64, 96)),
])
def test_probe_gives_the_displayed_size(data: bytes, fmt: ImageFormat,
                                        size: tuple[int, int]) -> None:
    info = probe_image(data, fmt, LIMITS)
    assert (info.format, (info.width, info.height), info.orientation) == (fmt, size, 1)


@pytest.mark.parametrize("decode", [decode_heif, decode_jxl])
def test_decoders_give_the_displayed_pixels_with_their_exif(decode) -> None:
    data = HEIC if decode is decode_heif else JXL_JPEG
    image = decode(data)
    assert (image.width, image.height) == (64, 96)
    top_right, top_left = image.getpoint(63, 0), image.getpoint(0, 0)
    assert top_right[0] > 200 and max(top_right[1:]) < 60, top_right
    assert max(top_left[1:]) > 100, top_left  # the photo, not the block
    assert image.get("exif-ifd0-Make").startswith("imagehost-tests")
    assert not image.get_typeof("orientation")  # oriented already: nothing left to apply


def test_jxl_pixels_and_exif_box_without_the_jpeg_path() -> None:
    image = decode_jxl(JXL)
    assert (image.width, image.height, image.bands) == (96, 64, 3)
    red = image.getpoint(2, 2)
    assert red[0] > 200 and max(red[1:]) < 60, red
    assert image.get("exif-ifd0-Model").startswith(imagegen.PHOTO_EXIF_MODEL)


def test_decoders_strip_row_padding() -> None:
    """pillow-heif may hand rows with a stride wider than the pixels."""
    from imagehost.imaging.foreign import _from_rows

    rows = bytes(range(5)) * 3 + b"\xff" + bytes(range(5, 10)) * 3 + b"\xff"
    image = _from_rows(rows, 5, 2, 3, 1, 16)
    assert (image.width, image.height, image.bands) == (5, 2, 3)
    assert image.getpoint(1, 0) == [3.0, 4.0, 0.0] and image.getpoint(0, 1) == [5.0, 6.0, 7.0]


def test_jxl_header_reads_sizes_orientation_alpha_and_refuses_garbage() -> None:
    header = read_jxl_header(JXL)
    assert (header.width, header.height, header.orientation) == (96, 64, 1)
    assert not header.animated and not header.has_alpha
    assert read_jxl_header(JXL_JPEG).orientation == 6
    rgba = pillow_jxl.Encoder(mode="RGBA", lossless=False, quality=80)(
        bytes(48 * 32 * 4), 48, 32, jpeg_encode=False)
    assert read_jxl_header(rgba) == JxlHeader(48, 32, 1, animated=False, has_alpha=True)
    bomb = read_jxl_header(imagegen.jxl_header_bomb(20000, 30000))
    assert (bomb.width, bomb.height) == (20000, 30000)
    many_boxes = b"\x00\x00\x00\x0cJXL \r\n\x87\n" + b"\x00\x00\x00\x08free" * 100_000
    for data in (b"\xff\x0a", b"\xff\x0a\x00", b"\x00\x00\x00\x0cJXL \r\n\x87\n", many_boxes):
        with pytest.raises(JxlHeaderError):
            read_jxl_header(data)


@pytest.mark.parametrize("bomb", [
    imagegen.heif_header_bomb(imagegen.heic_with_exif(64, 64, orientation=1)),
    imagegen.heif_header_bomb(imagegen.avif_with_exif(64, 64)),
    imagegen.jxl_header_bomb(),
])
def test_header_bombs_are_refused_from_the_header(bomb: bytes) -> None:
    with pytest.raises(LimitExceeded, match="20000x20000"):
        probe_image(bomb, sniff_format(bomb), LIMITS)


@pytest.mark.parametrize("data", [HEIC, JXL])
def test_truncated_photos_are_invalid_images(data: bytes) -> None:
    broken = imagegen.truncated(data, 0.6)
    with pytest.raises(InvalidImage):
        info = probe_image(broken, sniff_format(broken), LIMITS)
        FOREIGN_DECODERS[info.format](broken)


def test_avif_is_decoded_by_libvips() -> None:
    image = pyvips.Image.new_from_buffer(AVIF, "", fail_on="error")
    assert (image.width, image.height) == (96, 64) and image.avg() > 0
