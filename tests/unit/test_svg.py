"""SVG originals are kept only after sanitizing: nothing that runs code or fetches a URL stays,
internal text entities (Adobe Illustrator's namespaces) are expanded, and documents too big,
too deep or drawing too many copies are refused before librsvg reads them."""

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace

import pytest
import pyvips

from imagehost.config import load_settings
from imagehost.errors import InvalidImage, LimitExceeded
from imagehost.imaging.svg import MAX_DEPTH, MAX_ENTITIES, sanitize_svg
from tests import imagegen

LIMITS = load_settings({}).limits
SVG = "{http://www.w3.org/2000/svg}"
AI = "{http://ns.adobe.com/AdobeIllustrator/10.0/}"
HOSTILE_MARKERS = [b"<script", b"onload", b"onclick", b"foreignObject", b"http://",
                   b"javascript:", b"xml-stylesheet", b"@import"]


def sanitize(data: bytes, **limits: int) -> bytes:
    return sanitize_svg(data, replace(LIMITS, **limits))


def document(body: str, doctype: str = "") -> bytes:
    return (doctype + '<svg xmlns="http://www.w3.org/2000/svg" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="20">'
            + body + "</svg>").encode()


def elements(data: bytes) -> list[ET.Element]:
    return list(ET.fromstring(data).iter())


def test_defaults_are_5_mb_and_50000_elements() -> None:
    assert (LIMITS.max_svg_bytes, LIMITS.max_svg_elements) == (5_000_000, 50_000)


# ---------------------------------------------------------------------------- what is removed


def test_hostile_constructs_are_removed() -> None:
    hostile = imagegen.svg(script=True)
    assert all(marker in hostile for marker in HOSTILE_MARKERS[:6])
    clean = sanitize(hostile)
    without_namespaces = re.sub(rb'xmlns(:\w+)?="[^"]*"', b"", clean)
    for marker in HOSTILE_MARKERS:
        assert marker not in without_namespaces, marker


def test_drawing_survives_sanitizing() -> None:
    original = imagegen.svg(400, 300)
    clean = sanitize(original)
    assert b"<svg" in clean and b"<rect" in clean
    image = pyvips.Image.new_from_buffer(clean, "")
    assert (image.width, image.height) == (400, 300)
    hostile = pyvips.Image.new_from_buffer(sanitize(imagegen.svg(script=True)), "")
    assert hostile.width == 400


def test_local_references_and_raster_data_uris_are_kept() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           b'<defs><rect id="r" width="5" height="5"/></defs><use xlink:href="#r"/>'
           b'<image href="data:image/png;base64,iVBORw0KGgo="/>'
           b'<image href="data:image/svg+xml;base64,PHN2Zz4="/>'
           b'<rect style="fill:url(#g);stroke:url(http://evil/x)"/>'
           b'<rect fill="url( \'#g\' )" stroke="url(data:image/png;base64,iVBORw0KGgo=)"/></svg>')
    clean = sanitize(svg)
    assert b'href="#r"' in clean
    assert b"data:image/png" in clean
    assert b"data:image/svg+xml" not in clean
    assert b"url(#g)" in clean and b"evil" not in clean
    assert b"url( '#g' )" in clean and b"url(data:image/png;base64,iVBORw0KGgo=)" in clean


def test_animation_of_href_is_removed() -> None:
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg"><a><set attributeName="href" '
           b'to="javascript:alert(1)"/><animate attributeName="x" to="3"/></a></svg>')
    clean = sanitize(svg)
    assert b"javascript" not in clean and b"animate" in clean


@pytest.mark.parametrize("name", list(imagegen.SVG_BEACONS))
def test_every_external_reference_is_removed(name: str) -> None:
    """fill/filter/mask/marker/cursor url(), CSS escapes, unclosed url(), image-set(), text
    hidden after a child of <style>, <set>/<animate> values, xml:base: none of them is left,
    and the drawing is."""
    data = imagegen.svg_beacon(name)
    assert b"beacon.example" in data
    clean = sanitize(data)
    assert b"beacon.example" not in clean
    assert b'fill="#3a6ea5"' in clean
    assert pyvips.Image.new_from_buffer(clean, "").width == 40


def test_css_escapes_are_decoded_and_nothing_fetches() -> None:
    clean = sanitize(document(
        "<style>text { font-family: \\5FAE\\8F6F\\96C5\\9ED1 } rect { fill: u\\72l(#g) }"
        "@\\69mport url(#x); svg { background: \\75 rl(http://a.example/) }</style>"))
    style = ET.fromstring(clean).find(f"{SVG}style")
    assert style is not None and style.text is not None
    assert "font-family: 微软雅黑" in style.text and "fill: url(#g)" in style.text
    assert "import" not in style.text and "a.example" not in style.text
    assert "\\" not in style.text


def test_text_after_a_removed_element_stays() -> None:
    clean = sanitize(document('<text x="0" y="10">be<script>alert(1)</script>fore</text>'))
    text = ET.fromstring(clean).find(f"{SVG}text")
    assert text is not None and "".join(text.itertext()) == "before"


# ---------------------------------------------------------------------------- entities


def test_illustrator_entities_are_expanded() -> None:
    """Namespaces, requiredExtensions and styles declared as entities resolve as declared;
    `&st0;` inside the CDATA block stays text; the DOCTYPE is gone."""
    data = imagegen.svg_illustrator()
    assert b"<!ENTITY ns_svg" in data and b'xmlns="&ns_svg;"' in data
    clean = sanitize(data)
    assert b"<!DOCTYPE" not in clean and b"ENTITY" not in clean and b"&ns_" not in clean
    root = ET.fromstring(clean)
    assert root.tag == f"{SVG}svg"
    assert root.get(f"{AI}viewOrigin") == "50.3701 739.4658"
    shapes = [e for e in root.iter() if e.tag in (f"{SVG}rect", f"{SVG}text")]
    assert [e.get("style") for e in shapes] == [
        "fill:#E30613;stroke:none;", None,
        "fill:#FFFFFF;font-family:'MyriadPro-Regular';font-size:10;"]
    assert root.find(f".//{SVG}foreignObject") is None  # with its requiredExtensions
    assert root.find(f"{SVG}switch/{SVG}g") is not None
    pgf = root.find(f"{AI}pgf")
    assert pgf is not None and pgf.text is not None and pgf.text.rstrip().endswith("&st0;")
    assert root.find(".//{http://ns.adobe.com/SaveForWeb/1.0/}sliceSourceBounds") is not None
    assert root.find(".//{adobe:ns:meta/}xmpmeta") is not None


def test_illustrator_drawing_renders_its_colours() -> None:
    image = pyvips.Image.new_from_buffer(sanitize(imagegen.svg_illustrator(200, 100)), "")
    assert (image.width, image.height) == (200, 100)
    assert image.getpoint(50, 30)[:3] == list(map(float, imagegen.ILLUSTRATOR_RED))
    assert image.getpoint(150, 30)[:3] == list(map(float, imagegen.ILLUSTRATOR_BLUE))


@pytest.mark.parametrize("quote", ['"', "'"])
def test_entity_with_quotes_expands_inside_either_attribute_quote(quote: str) -> None:
    doctype = "<!DOCTYPE svg [<!ENTITY f \"font-family:'A B';\"><!ENTITY t 'say \"hi\"'>]>"
    clean = sanitize(document(f"<text style={quote}&f;{quote} id={quote}&t;{quote}>&t;</text>",
                              doctype))
    text = ET.fromstring(clean).find(f"{SVG}text")
    assert text is not None
    assert (text.get("style"), text.get("id"), text.text) == (
        "font-family:'A B';", 'say "hi"', 'say "hi"')


def test_first_declaration_wins_and_predefined_entities_stay() -> None:
    doctype = '<!DOCTYPE svg [<!ENTITY e "one"><!ENTITY e "two"><!ENTITY amp "X">]>'
    clean = sanitize(document("<text>&e;&amp;&lt;<!-- &e; --><![CDATA[&e;]]></text>", doctype))
    text = ET.fromstring(clean).find(f"{SVG}text")
    assert text is not None and text.text == "one&<&e;"


@pytest.mark.parametrize(("doctype", "body", "message"), [
    pytest.param('<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;",
                 "external", id="system"),
    pytest.param('<!DOCTYPE svg [<!ENTITY x PUBLIC "-//X//Y" "http://evil.example/x">]>',
                 "&x;", "external", id="public"),
    pytest.param('<!DOCTYPE svg [<!NOTATION gif SYSTEM "gif"><!ENTITY x SYSTEM "x.gif" '
                 "NDATA gif>]>", "", "external", id="unparsed"),
    pytest.param('<!DOCTYPE svg [<!ENTITY % p "<!ENTITY q \'Q\'>"> %p;]>', "&q;",
                 "parameter entity", id="parameter"),
    pytest.param('<!DOCTYPE svg [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>', "&b;",
                 "holds markup or references", id="nested-reference"),
    pytest.param('<!DOCTYPE svg [<!ENTITY a "&a;">]>', "&a;", "holds markup", id="recursive"),
    pytest.param('<!DOCTYPE svg [<!ENTITY s "&#60;script>alert(1)&#60;/script>">]>', "&s;",
                 "holds markup", id="markup-by-character-reference"),
    pytest.param('<!DOCTYPE svg [<!ENTITY s "&#38;#60;script>">]>', "&s;", "holds markup",
                 id="ampersand-by-character-reference"),
    pytest.param('<!DOCTYPE svg [<!ENTITY p "100&#37;">]>', "&p;", "holds markup",
                 id="percent"),
    pytest.param('<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
                 '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">', "<text>&nbsp;</text>",
                 "not declared", id="undeclared-with-external-subset"),
    pytest.param("<!DOCTYPE svg [" + "".join(f'<!ENTITY e{i} "{i}">'
                                             for i in range(MAX_ENTITIES + 1)) + "]>", "",
                 f"more than {MAX_ENTITIES} entities", id="too-many"),
])
def test_entities_other_than_internal_text_are_refused(doctype: str, body: str,
                                                       message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        sanitize(document(body, doctype))


def test_as_many_entities_as_allowed_expand() -> None:
    doctype = "<!DOCTYPE svg [" + "".join(f'<!ENTITY e{i} "{i}">'
                                          for i in range(MAX_ENTITIES)) + "]>"
    clean = sanitize(document(f"<text>&e{MAX_ENTITIES - 1};</text>", doctype))
    assert f"<text>{MAX_ENTITIES - 1}</text>".encode() in clean


def test_entity_expansion_past_max_svg_bytes_is_refused_before_it_happens() -> None:
    """One 100 KB entity referenced 60 times, in text and attributes, would make 6.1 MB."""
    doctype = f'<!DOCTYPE svg [<!ENTITY big "{"x" * 100_000}">]>'
    data = document(f"<desc>{'&big;' * 29}</desc><rect id='&big;' width='1'/>" * 2, doctype)
    assert len(data) < 110_000
    with pytest.raises(LimitExceeded, match=r"Expanding its entities .*\(max_svg_bytes\)"):
        sanitize(data)
    clean = sanitize(data, max_svg_bytes=6_200_000)
    assert clean.count(b"x" * 100_000) == 60


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_entity_expansion_is_counted_in_utf16_documents_too(encoding: str) -> None:
    doctype = f'<!DOCTYPE svg [<!ENTITY big "{"x" * 10_000}">]>'
    data = document("<desc>" + "&big;" * 60 + "</desc>", doctype).decode()
    encoded = data.replace("<!DOCTYPE", '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE', 1)
    assert sanitize(encoded.encode(encoding), max_svg_bytes=700_000)
    with pytest.raises(LimitExceeded, match="max_svg_bytes"):
        sanitize(encoded.encode(encoding), max_svg_bytes=500_000)


def test_billion_laughs_is_refused_at_its_first_nested_entity() -> None:
    with pytest.raises(InvalidImage, match="&lol1; holds markup or references"):
        sanitize(imagegen.svg_entity_bomb())


# ---------------------------------------------------------------------------- size and shape


@pytest.mark.parametrize(("data", "message"), [
    (b"<svg><unclosed></svg>", "well-formed"),
    (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', "root is not"),
])
def test_broken_documents_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        sanitize(data)


def test_svg_over_max_svg_bytes_is_refused_before_parsing() -> None:
    data = imagegen.svg()
    with pytest.raises(LimitExceeded, match=rf"{len(data)} bytes.*\(max_svg_bytes\) is "
                                            rf"{len(data) - 1}"):
        sanitize(data, max_svg_bytes=len(data) - 1)
    assert sanitize(data, max_svg_bytes=len(data))


def test_500000_elements_in_22_mb_are_refused_at_once() -> None:
    data = imagegen.svg_many_elements(500_000)
    assert len(data) > 20_000_000
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"\(max_svg_bytes\) is 5000000"):
        sanitize(data)
    assert time.perf_counter() - started < 0.5


def test_element_count_is_bounded_while_parsing() -> None:
    data = imagegen.svg_many_elements(60_000)
    assert len(data) < LIMITS.max_svg_bytes
    with pytest.raises(LimitExceeded, match=r"more than 50000 elements.*\(max_svg_elements\)"):
        sanitize(data)
    small = imagegen.svg_many_elements(99)  # 100 elements with the root
    assert len(elements(sanitize(small, max_svg_elements=100))) == 100
    with pytest.raises(LimitExceeded, match="max_svg_elements"):
        sanitize(small, max_svg_elements=99)


def test_deep_nesting_is_refused_without_recursion() -> None:
    """5000 nested groups (35 KB) made the recursive sanitizer raise RecursionError (a 500)."""
    with pytest.raises(InvalidImage, match=f"nested more than {MAX_DEPTH} deep"):
        sanitize(imagegen.svg_deep_nesting(5000))
    deepest = imagegen.svg_deep_nesting(MAX_DEPTH - 2)  # <svg>, the groups, <rect>
    assert len(elements(sanitize(deepest))) == MAX_DEPTH
    with pytest.raises(InvalidImage, match="nested"):
        sanitize(imagegen.svg_deep_nesting(MAX_DEPTH - 1))


# ---------------------------------------------------------------------------- copies drawn


@pytest.mark.parametrize("bomb", [
    pytest.param(imagegen.svg_use_bomb, id="use"),
    pytest.param(imagegen.svg_marker_bomb, id="marker-attributes"),
    pytest.param(lambda: imagegen.svg_marker_bomb(style_rules=True), id="marker-style-rules"),
    pytest.param(imagegen.svg_pattern_bomb, id="pattern-attributes"),
    pytest.param(lambda: imagegen.svg_pattern_bomb(style_rules=True), id="pattern-style-rules"),
])
def test_reference_bombs_are_refused_from_the_count(bomb: Callable[[], bytes]) -> None:
    data = bomb()
    assert len(data) < 4000 and len(elements(data)) < 200
    started = time.perf_counter()
    with pytest.raises(LimitExceeded, match=r"draw more than 50000 elements.*"
                                            r"\(max_svg_elements\)"):
        sanitize(data)
    assert time.perf_counter() - started < 0.5


def test_use_copies_are_counted_transitively() -> None:
    """Two levels of ten <use> each: 27 elements in the file, 678 drawn: svg, defs, l0 with
    its rect (2), l1 with ten uses of l0 (1 + 10 x 3), l2 with ten uses of l1 (1 + 10 x 32)
    and the last <use> of l2 (1 + 321)."""
    data = imagegen.svg_use_bomb(levels=2)
    assert len(elements(data)) == 27
    assert sanitize(data, max_svg_elements=678)
    with pytest.raises(LimitExceeded, match="max_svg_elements"):
        sanitize(data, max_svg_elements=677)


def test_a_repeated_id_counts_as_its_largest_element() -> None:
    """#a is an empty group and a group of 99 rects: ten uses of it draw 10 x (1 + 100)."""
    data = document('<g id="a"/><g id="a">' + '<rect width="1" height="1"/>' * 99 + "</g>"
                    + '<use href="#a"/>' * 10)
    assert len(elements(data)) == 112
    assert sanitize(data, max_svg_elements=1 + 1 + 100 + 10 * 101)
    with pytest.raises(LimitExceeded, match="max_svg_elements"):
        sanitize(data, max_svg_elements=1 + 1 + 100 + 10 * 101 - 1)


def test_markers_count_once_per_vertex() -> None:
    """A 10-vertex path whose marker holds a 10-vertex path with a one-rect marker."""
    data = imagegen.svg_marker_bomb(levels=1)
    assert sanitize(data, max_svg_elements=300)
    with pytest.raises(LimitExceeded, match="max_svg_elements"):
        sanitize(data, max_svg_elements=100)


def test_ordinary_references_pass() -> None:
    """Arrowheads on 1000 lines and a 100-stop gradient painting 1000 rects (gradients are
    paints, not copies) stay well within the default limit."""
    stops = "".join(f'<stop offset="{i / 100}"/>' for i in range(100))
    body = ('<defs><marker id="arrow" markerWidth="4" markerHeight="4"><path d="M0 0 L4 2 L0 4 z"/>'
            f'</marker><linearGradient id="g">{stops}</linearGradient></defs>'
            + '<line x2="9" y2="9" stroke="black" marker-end="url(#arrow)"/>' * 1000
            + '<rect width="1" height="1" fill="url(#g)"/>' * 1000)
    clean = sanitize(document(body))
    assert clean.count(b"url(#arrow)") == 1000 and clean.count(b"url(#g)") == 1000


@pytest.mark.parametrize("body", [
    pytest.param('<g id="a"><use href="#a"/></g>', id="use-of-an-ancestor"),
    pytest.param('<pattern id="p" width="2" height="2"><rect fill="url(#p)"/></pattern>',
                 id="pattern-painting-itself"),
    pytest.param('<style>.c { clip-path: url(#c) }</style><clipPath id="c"><rect class="c"/>'
                 "</clipPath>", id="clip-path-rule"),
])
def test_circular_references_are_refused(body: str) -> None:
    with pytest.raises(InvalidImage, match="circular reference"):
        sanitize(document(body))
