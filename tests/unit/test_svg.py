"""SVG originals are kept only after sanitizing."""

import re

import pytest
import pyvips

from imagehost.errors import InvalidImage
from imagehost.imaging.svg import sanitize_svg
from tests import imagegen

HOSTILE_MARKERS = [b"<script", b"onload", b"onclick", b"foreignObject", b"http://",
                   b"javascript:", b"xml-stylesheet", b"@import"]


def test_hostile_constructs_are_removed() -> None:
    hostile = imagegen.svg(script=True)
    assert all(marker in hostile for marker in HOSTILE_MARKERS[:6])
    clean = sanitize_svg(hostile)
    without_namespaces = re.sub(rb'xmlns(:\w+)?="[^"]*"', b"", clean)
    for marker in HOSTILE_MARKERS:
        assert marker not in without_namespaces, marker


def test_drawing_survives_sanitizing() -> None:
    original = imagegen.svg(400, 300)
    clean = sanitize_svg(original)
    assert b"<svg" in clean and b"<rect" in clean
    image = pyvips.Image.new_from_buffer(clean, "")
    assert (image.width, image.height) == (400, 300)
    hostile = pyvips.Image.new_from_buffer(sanitize_svg(imagegen.svg(script=True)), "")
    assert hostile.width == 400


def test_local_references_and_raster_data_uris_are_kept() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           b'<defs><rect id="r" width="5" height="5"/></defs><use xlink:href="#r"/>'
           b'<image href="data:image/png;base64,iVBORw0KGgo="/>'
           b'<image href="data:image/svg+xml;base64,PHN2Zz4="/>'
           b'<rect style="fill:url(#g);stroke:url(http://evil/x)"/></svg>')
    clean = sanitize_svg(svg)
    assert b'href="#r"' in clean
    assert b"data:image/png" in clean
    assert b"data:image/svg+xml" not in clean
    assert b"url(#g)" in clean and b"evil" not in clean


def test_animation_of_href_is_removed() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" '
           b'to="javascript:alert(1)"/><animate attributeName="x" to="3"/></a></svg>')
    clean = sanitize_svg(svg)
    assert b"javascript" not in clean and b"animate" in clean


@pytest.mark.parametrize(("data", "message"), [
    (imagegen.svg_entity_bomb(), "entities"),
    (b"<svg><unclosed></svg>", "well-formed"),
    (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "root is not"),
])
def test_dangerous_or_broken_documents_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        sanitize_svg(data)
