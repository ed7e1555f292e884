"""Format detection looks at content only."""

import pytest

from imagehost.errors import InvalidImage, UnsupportedFormat
from imagehost.imaging.formats import ImageFormat, sniff_format
from tests import imagegen


@pytest.mark.parametrize(("data", "expected"), [
    (imagegen.photo_jpeg(32, 24), ImageFormat.JPEG),
    (imagegen.photo_png(32, 24), ImageFormat.PNG),
    (imagegen.animated_gif(32, 24, 2), ImageFormat.GIF),
    (imagegen.still_webp(32, 24), ImageFormat.WEBP),
    (imagegen.svg(), ImageFormat.SVG),
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
])
def test_other_content_is_refused_and_named(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedFormat, match=r"Unsupported image format " + f"{name}"
                       .replace("(", r"\(").replace(")", r"\)")):
        sniff_format(data)


def test_avif_is_refused_as_avif() -> None:
    data = imagegen.avif(16, 16)
    with pytest.raises(UnsupportedFormat, match="AVIF"):
        sniff_format(data)


def test_empty_body_is_invalid() -> None:
    with pytest.raises(InvalidImage, match="empty"):
        sniff_format(b"")
