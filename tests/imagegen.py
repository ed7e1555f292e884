"""Deterministic generators of test images (valid, hostile and broken) as bytes."""

from __future__ import annotations

import io
import random
import struct
import zlib

import piexif
import pillow_heif
import pillow_jxl
import pyvips

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Substrings present in ``svg(script=True)``; a sanitiser must remove them all.
SVG_HOSTILE_MARKERS: tuple[str, ...] = (
    "<script",
    "onload=",
    "onclick=",
    "<foreignObject",
    'href="http://example.com/x.png"',
    'xlink:href="javascript:',
    '<use href="http://evil/x.svg#a"',
    "url(http://evil/bg.png)",
    '<?xml-stylesheet href="http://evil/s.css"',
)

_NOISE_TILE = 509  # prime, so the repeated noise never lines up with 8x8 JPEG blocks


def _ramp(length: int, phase: float) -> pyvips.Image:
    """A 1-pixel-high, 3-band ramp of ``length`` pixels: linear gradients plus a sine."""
    x = pyvips.Image.xyz(length, 1)[0] * (1.0 / length)
    wave = (x * 720 + phase).sin() * 50 + 60
    return (x * 200).bandjoin([wave, x * 90 + 20]).cast("uchar").copy_memory()


def _noise(width: int, height: int, seed: int, sigma: float = 8) -> pyvips.Image:
    """Seeded 3-band gaussian noise (signed char), built from a small repeated tile."""
    tw, th = min(_NOISE_TILE, width), min(_NOISE_TILE, height)
    tile = pyvips.Image.gaussnoise(tw, th * 3, sigma=sigma, seed=seed).cast("char")
    bands = [tile.crop(0, i * th, tw, th) for i in range(3)]
    tile = bands[0].bandjoin(bands[1:]).copy_memory()
    return tile.replicate(width // tw + 1, height // th + 1).crop(0, 0, width, height)


def _photo(width: int, height: int, seed: int = 0) -> pyvips.Image:
    """Photo-like uchar sRGB image: smooth separable gradients plus seeded grain."""
    row = _ramp(width, 0).embed(0, 0, width, height, extend="copy")
    col = _ramp(height, 90 + seed * 37).rot90().embed(0, 0, width, height, extend="copy")
    image = ((row + col) >> 1) + _noise(width, height, seed)
    return image.cast("uchar").copy(interpretation="srgb")


def _alpha(width: int, height: int) -> pyvips.Image:
    """A varying alpha band: a radial fade from opaque (centre) to ~transparent (corners)."""
    xy = pyvips.Image.xyz(width, height) - [width / 2, height / 2]
    dist = (xy[0] * xy[0] / (width * width / 4) + xy[1] * xy[1] / (height * height / 4)) ** 0.5
    return (255 - dist * 180).cast("uchar")


def _frame(width: int, height: int, index: int, frames: int) -> pyvips.Image:
    """One animation frame: photo with a black square that moves across the frame."""
    side = max(1, min(width, height) // 4)
    left = (width - side) * index // max(1, frames - 1)
    top = (height - side) // 2
    return _photo(width, height, seed=index).draw_rect([0, 0, 0], left, top, side, side, fill=True)


def _animation(strip: pyvips.Image, page_height: int, delay_ms: int = 100) -> pyvips.Image:
    """Tag a vertical ``strip`` of equal pages as a looping animation."""
    anim = strip.copy()
    anim.set_type(pyvips.GValue.gint_type, "page-height", page_height)
    anim.set_type(pyvips.GValue.array_int_type, "delay", [delay_ms] * (strip.height // page_height))
    anim.set_type(pyvips.GValue.gint_type, "loop", 0)
    return anim


def _frames(width: int, height: int, frames: int) -> pyvips.Image:
    """``frames`` visibly different animation frames as one looping vertical strip."""
    pages = [_frame(width, height, i, frames) for i in range(frames)]
    return _animation(pyvips.Image.arrayjoin(pages, across=1), height)


def photo_jpeg(width: int, height: int, quality: int = 85) -> bytes:
    """Photo-like baseline JPEG (24 MP in well under a second)."""
    return _photo(width, height).jpegsave_buffer(Q=quality, keep="none")


def photo_png(width: int, height: int, alpha: bool = False) -> bytes:
    """Photo-like RGB PNG, or RGBA with a radially varying alpha channel."""
    image = _photo(width, height)
    if alpha:
        image = image.bandjoin(_alpha(width, height))
    return image.pngsave_buffer(compression=1, keep="none")


def animated_gif(width: int, height: int, frames: int = 5) -> bytes:
    """Looping GIF whose ``frames`` pages each show a square in a different place."""
    return _frames(width, height, frames).gifsave_buffer(effort=1, dither=0, keep="none")


def animated_webp(width: int, height: int, frames: int = 3) -> bytes:
    """Looping lossy animated WebP whose pages visibly differ."""
    return _frames(width, height, frames).webpsave_buffer(Q=80, keep="none")


def still_webp(width: int, height: int) -> bytes:
    """Single-frame lossy WebP."""
    return _photo(width, height).webpsave_buffer(Q=80, keep="none")


def tiff(width: int, height: int) -> bytes:
    """Uncompressed RGB TIFF."""
    return _photo(width, height).tiffsave_buffer(keep="none")


def avif(width: int, height: int) -> bytes:
    """AVIF (HEIF container, AV1); raises ``pyvips.Error`` if the AV1 encoder is missing."""
    return _photo(width, height).heifsave_buffer(compression="av1", Q=60, effort=0, keep="none")


_SVG_HOSTILE_BODY = """<script>alert("xss")</script>
<rect x="4" y="4" width="20" height="20" onclick="alert(1)"
      style="fill:url(http://evil/bg.png) #888"/>
<foreignObject width="100" height="50"><div xmlns="http://www.w3.org/1999/xhtml">
<iframe src="http://evil/"></iframe><b onmouseover="alert(2)">html</b></div></foreignObject>
<image href="http://example.com/x.png" x="0" y="0" width="10" height="10"/>
<a xlink:href="javascript:alert(3)"><text x="10" y="20">click</text></a>
<use href="http://evil/x.svg#a" x="0" y="0"/>
"""


def svg(width: int = 400, height: int = 300, *, script: bool = False) -> bytes:
    """Simple SVG with shapes and text; ``script=True`` adds all ``SVG_HOSTILE_MARKERS``."""
    w, h = width, height
    head = '<?xml-stylesheet href="http://evil/s.css" type="text/css"?>\n' if script else ""
    root = ' xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(0)"' if script else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
{head}<svg xmlns="http://www.w3.org/2000/svg"{root} width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<rect width="{w}" height="{h}" fill="#3a6ea5"/>
<circle cx="{w * 0.3:g}" cy="{h * 0.5:g}" r="{min(w, h) * 0.25:g}" fill="#f2c14e"/>
<rect x="{w * 0.55:g}" y="{h * 0.25:g}" width="{w * 0.35:g}" height="{h * 0.5:g}" fill="#e4572e"/>
<text x="{w * 0.05:g}" y="{h * 0.15:g}" font-size="{h * 0.1:g}" fill="white">imagehost</text>
{_SVG_HOSTILE_BODY if script else ""}</svg>
""".encode()


def svg_bomb_size() -> bytes:
    """Tiny SVG declaring a 100000x100000 pixel canvas."""
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">'
        b'<rect width="100%" height="100%" fill="red"/></svg>'
    )


def svg_entity_bomb(levels: int = 10) -> bytes:
    """'Billion laughs' SVG: nested XML entities expanding to 10**levels copies of "lol"."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE svg [\n' + "\n".join(entities) + "\n]>\n"
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        f'<text x="0" y="20">&lol{levels - 1};</text></svg>\n'
    ).encode()


_SVG_OPEN = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
             'width="{w}" height="{h}" viewBox="0 0 {w} {h}">')

#: The DOCTYPE entity block of Adobe Illustrator's SVG Export Plug-In (as in c2corg's
#: pipe_organ.svg, Illustrator 11), with the ns_pgf and ns_x entities later versions add.
ILLUSTRATOR_ENTITIES: dict[str, str] = {
    "ns_flows": "http://ns.adobe.com/Flows/1.0/",
    "ns_extend": "http://ns.adobe.com/Extensibility/1.0/",
    "ns_ai": "http://ns.adobe.com/AdobeIllustrator/10.0/",
    "ns_graphs": "http://ns.adobe.com/Graphs/1.0/",
    "ns_vars": "http://ns.adobe.com/Variables/1.0/",
    "ns_imrep": "http://ns.adobe.com/ImageReplacement/1.0/",
    "ns_sfw": "http://ns.adobe.com/SaveForWeb/1.0/",
    "ns_custom": "http://ns.adobe.com/GenericCustomNamespace/1.0/",
    "ns_adobe_xpath": "http://ns.adobe.com/XPath/1.0/",
    "ns_pgf": "http://ns.adobe.com/pgf/1.0/",
    "ns_x": "adobe:ns:meta/",
    "ns_svg": "http://www.w3.org/2000/svg",
    "ns_xlink": "http://www.w3.org/1999/xlink",
}
ILLUSTRATOR_RED = (0xE3, 0x06, 0x13)
ILLUSTRATOR_BLUE = (0x00, 0x55, 0xA4)


def svg_illustrator(width: int = 200, height: int = 100) -> bytes:
    """An Adobe Illustrator export: namespaces and two styles ("Style Attributes (Entity
    References)") declared as internal entities and used in xmlns, requiredExtensions and
    style attributes; SaveForWeb and variables metadata, an XMP packet (processing
    instructions, character references), the <switch>/<foreignObject> pgfRef and the <i:pgf>
    CDATA block (which holds an `&st0;` that is not a reference). The drawing: the left half
    ILLUSTRATOR_RED, the right half ILLUSTRATOR_BLUE, a white label along the bottom."""
    w, h = width, height
    red, blue = ("#{:02X}{:02X}{:02X}".format(*c) for c in (ILLUSTRATOR_RED, ILLUSTRATOR_BLUE))
    entities = {**ILLUSTRATOR_ENTITIES,
                "st0": f"fill:{red};stroke:none;",
                "st1": "fill:#FFFFFF;font-family:'MyriadPro-Regular';font-size:10;"}
    declarations = "\n".join(f'\t<!ENTITY {name} "{value}">' for name, value in entities.items())
    thumbnail = "&#xA;".join(["/9j/4AAQSkZJRgABAgEASABIAAD/7QAsUGhvdG9zaG9wIDMuMAA4QklNA"] * 3)
    pgf = "\n".join(f"\teJzsvVmTHUeSLvbcZvwPpQfZiGbDbnFlvhOSm2dnKqQ{i:04d}" for i in range(40))
    generator = ("Adobe Illustrator 11 Build 197, SVG Export Plug-In . "
                 "SVG Version: 6.0.0 Build 78)")
    dtd = '"-//W3C//DTD SVG 1.0//EN"    "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd"'
    return f"""<?xml version="1.0" encoding="utf-8"?>
<!-- Generator: {generator}  -->
<!DOCTYPE svg PUBLIC {dtd} [
{declarations}
]>
<svg
\t xmlns:x="&ns_extend;" xmlns:i="&ns_ai;" xmlns:graph="&ns_graphs;"
\t i:viewOrigin="50.3701 739.4658" i:rulerOrigin="0 0" i:pageBounds="0 842 595 0"
\t xmlns="&ns_svg;" xmlns:xlink="&ns_xlink;"
\t xmlns:a="http://ns.adobe.com/AdobeSVGViewerExtensions/3.0/"
\t width="{w}" height="{h}" viewBox="0 0 {w} {h}" overflow="visible"
\t enable-background="new 0 0 {w} {h}" xml:space="preserve">
\t<metadata>
\t\t<variableSets  xmlns="&ns_vars;">
\t\t\t<variableSet  varSetName="binding1" locked="none">
\t\t\t\t<variables></variables>
\t\t\t\t<v:sampleDataSets  xmlns="&ns_custom;" xmlns:v="&ns_vars;"></v:sampleDataSets>
\t\t\t</variableSet>
\t\t</variableSets>
\t\t<sfw  xmlns="&ns_sfw;">
\t\t\t<slices></slices>
\t\t\t<sliceSourceBounds  y="160.634" x="50.37" height="{h}" width="{w}"
\t\t\t\tbottomLeftOrigin="true"></sliceSourceBounds>
\t\t</sfw>
<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x="&ns_x;"
 x:xmptk='XMP toolkit 3.0-29, framework 1.6'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'
 xmlns:iX='http://ns.adobe.com/iX/1.0/'>
 <rdf:Description rdf:about='uuid:a60170ee-626e-11db-81d3-0030654e0f56'
  xmlns:xap='http://ns.adobe.com/xap/1.0/' xmlns:xapGImg='http://ns.adobe.com/xap/1.0/g/img/'>
  <xap:CreatorTool>Illustrator</xap:CreatorTool>
  <xap:Thumbnails><rdf:Alt><rdf:li rdf:parseType='Resource'>
   <xapGImg:format>JPEG</xapGImg:format>
   <xapGImg:image>{thumbnail}</xapGImg:image>
  </rdf:li></rdf:Alt></xap:Thumbnails>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
\t</metadata>
\t<switch>
\t\t<foreignObject requiredExtensions="&ns_ai;" x="0" y="0" width="1" height="1">
\t\t\t<i:pgfRef  xlink:href="#adobe_illustrator_pgf">
\t\t\t</i:pgfRef>
\t\t</foreignObject>
\t\t<g i:extraneous="self">
\t\t\t<g id="Calque_1" i:layer="yes" i:dimmedPercent="50" i:rgbTrio="#4F008000FFFF">
\t\t\t\t<rect x="0" y="0" i:knockout="Off" style="&st0;" width="{w / 2:g}" height="{h}"/>
\t\t\t\t<rect x="{w / 2:g}" y="0" i:knockout="Off" fill="{blue}" width="{w / 2:g}" height="{h}"/>
\t\t\t\t<text transform="matrix(1 0 0 1 4 {h - 4})" i:knockout="Off" style="&st1;">c2c</text>
\t\t\t</g>
\t\t</g>
\t</switch>
\t<i:pgf  id="adobe_illustrator_pgf">
\t<![CDATA[
{pgf}&st0;
\t]]>
\t</i:pgf>
</svg>
""".encode()


def svg_deep_nesting(depth: int = 5000) -> bytes:
    """`depth` nested <g> elements (35 KB for 5000): too deep for a recursive walk."""
    return (_SVG_OPEN.format(w=100, h=100) + "<g>" * depth + '<rect width="1" height="1"/>'
            + "</g>" * depth + "</svg>").encode()


def svg_many_elements(count: int = 500_000) -> bytes:
    """`count` small <rect> elements in a 1000x1000 canvas (24 MB for 500,000)."""
    rects = "".join(f'<rect x="{i % 1000}" y="{i // 1000 % 1000}" width="1" height="1"/>'
                    for i in range(count))
    return (_SVG_OPEN.format(w=1000, h=1000) + rects + "</svg>").encode()


def svg_use_bomb(levels: int = 9, copies: int = 10) -> bytes:
    """Nested groups, each <use>-ing the previous one `copies` times: copies**levels rects
    drawn from a 1.8 KB file."""
    groups = ['<g id="l0"><rect width="1" height="1"/></g>'] + [
        f'<g id="l{i}">' + f'<use href="#l{i - 1}"/>' * copies + "</g>"
        for i in range(1, levels + 1)]
    return (_SVG_OPEN.format(w=100, h=100) + "<defs>" + "".join(groups) + "</defs>"
            + f'<use href="#l{levels}"/></svg>').encode()


def svg_marker_bomb(levels: int = 6, vertices: int = 10, *, style_rules: bool = False) -> bytes:
    """Markers drawn at the middle vertices of a path inside the previous level's marker:
    (vertices - 2)**levels copies from 1.5 KB. `style_rules` sets marker-mid from <style>
    class rules instead of attributes."""
    path = "M0 0 " + " ".join(f"L{i} {i % 2}" for i in range(1, vertices))

    def zigzag(level: int) -> str:
        mid = f'class="m{level}"' if style_rules else f'marker-mid="url(#m{level})"'
        return f'<path d="{path}" stroke="black" {mid}/>'

    markers = ['<marker id="m0" markerWidth="1" markerHeight="1"><rect width="1" height="1"/>'
               "</marker>"] + [
        f'<marker id="m{level}" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse">'
        f"{zigzag(level - 1)}</marker>" for level in range(1, levels + 1)]
    rules = "".join(f".m{level}{{marker-mid:url(#m{level})}}" for level in range(levels + 1))
    style = f"<style>{rules}</style>" if style_rules else ""
    return (_SVG_OPEN.format(w=100, h=100) + style + "<defs>" + "".join(markers) + "</defs>"
            + zigzag(levels) + "</svg>").encode()


def svg_pattern_bomb(levels: int = 6, copies: int = 10, *, style_rules: bool = False) -> bytes:
    """Patterns whose tile holds `copies` rects painted with the previous level's pattern:
    copies**levels tiles drawn from 3.8 KB. `style_rules` sets the fills from <style> class
    rules instead of attributes."""
    patterns = ['<pattern id="p0" width="10" height="10" patternUnits="userSpaceOnUse">'
                '<rect width="5" height="5"/></pattern>']
    rules = []

    def fill(level: int) -> str:
        rules.append(f".p{level}{{fill:url(#p{level})}}")
        return f'class="p{level}"' if style_rules else f'fill="url(#p{level})"'

    for level in range(1, levels + 1):
        patterns.append(f'<pattern id="p{level}" width="10" height="10" '
                        'patternUnits="userSpaceOnUse">'
                        + "".join(f'<rect x="{i}" width="1" height="10" {fill(level - 1)}/>'
                                  for i in range(copies)) + "</pattern>")
    top = f'<rect width="100" height="100" {fill(levels)}/>'
    style = f"<style>{''.join(dict.fromkeys(rules))}</style>" if style_rules else ""
    return (_SVG_OPEN.format(w=100, h=100) + style + "<defs>" + "".join(patterns) + "</defs>"
            + top + "</svg>").encode()


_SQUARE = '<rect width="10" height="10"'

#: Ways an SVG makes its viewer fetch a URL beyond those `svg(script=True)` holds; `{url}`
#: stands for http://beacon.example/<name> (svg_beacon_body puts it in).
SVG_BEACONS: dict[str, str] = {
    "fill-attribute": _SQUARE + ' fill="url({url}) red"/>',
    "stroke-attribute": _SQUARE + " stroke=\"url('{url}')\"/>",
    "filter-attribute": _SQUARE + ' filter="url({url}#f)"/>',
    "mask-attribute": _SQUARE + ' mask="url({url}#m)"/>',
    "clip-path-attribute": _SQUARE + ' clip-path="url({url}#c)"/>',
    "marker-end-attribute": '<path d="M0 0 L9 9" stroke="black" marker-end="url({url}#m)"/>',
    "cursor-attribute": _SQUARE + ' cursor="url({url}), auto"/>',
    "escaped-import": '<style>@\\69mport "{url}";</style>',
    "escaped-url": "<style>rect { fill: u\\72l({url}) }</style>",
    "escaped-url-in-style-attribute": _SQUARE + ' style="fill:\\75 rl({url})"/>',
    "unclosed-url": _SQUARE + ' style="fill:url({url}"/>',
    "image-set": "<style>svg { background-image: image-set(\"{url}\" 1x) }</style>",
    "style-text-after-a-child": "<style>rect { }<desc/>svg { background: url({url}) }</style>",
    "import-split-by-a-child": '<style>@im<desc/>port "{url}";</style>',
    "set-style": _SQUARE + '><set attributeName="style" to="fill:url({url})"/></rect>',
    "animate-fill": _SQUARE + '><animate attributeName="fill" dur="1s" '
                              'values="red;url({url})"/></rect>',
    "xml-base": '<a xml:base="{url}/" href="#r"><rect id="r" width="10" height="10"/></a>',
    "xhtml-img-srcset": '<img xmlns="http://www.w3.org/1999/xhtml" srcset="{url} 1x"/>',
    "srcset-once-inlined-in-html": '<img srcset="{url} 1x" width="1" height="1"/>',
}


def svg_beacon_body(name: str) -> str:
    """The SVG_BEACONS construct `name`, fetching http://beacon.example/<name>."""
    return SVG_BEACONS[name].replace("{url}", f"http://beacon.example/{name}")


def svg_beacon(name: str) -> bytes:
    """A small drawing with the SVG_BEACONS construct `name` in it."""
    return (_SVG_OPEN.format(w=40, h=20) + '<rect width="40" height="20" fill="#3a6ea5"/>'
            + svg_beacon_body(name) + "</svg>").encode()


def jpeg_with_exif(width: int, height: int, orientation: int = 6, gps: bool = True) -> bytes:
    """JPEG with EXIF Orientation (+ GPS lat/long); stored pixels have a red top-left block."""
    red_w, red_h = max(1, width // 4), max(1, height // 4)
    image = _photo(width, height).draw_rect([255, 0, 0], 0, 0, red_w, red_h, fill=True)
    gps_ifd = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((52, 1), (31, 1), (1234, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((13, 1), (24, 1), (5678, 100)),
    }
    zeroth = {piexif.ImageIFD.Orientation: orientation, piexif.ImageIFD.Make: b"imagehost-tests"}
    exif = piexif.dump({"0th": zeroth, "GPS": gps_ifd if gps else {}})
    out = io.BytesIO()
    piexif.insert(exif, image.jpegsave_buffer(Q=90, keep="none"), out)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first ``keep`` fraction (0 < keep < 1) of ``data``."""
    if not 0 < keep < 1:
        raise ValueError(f"keep must be in (0, 1), got {keep}")
    return data[: int(len(data) * keep)]


def _segment(jpeg: bytes, marker: int) -> tuple[int, int]:
    """(start, end) of the first ``0xFF marker`` header segment, walking from SOI."""
    pos = 2
    while True:
        end = pos + 2 + struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        if jpeg[pos + 1] == marker:
            return pos, end
        if jpeg[pos + 1] == 0xDA:  # start of scan: no more header segments
            raise ValueError(f"JPEG has no 0xFF{marker:02X} segment")
        pos = end


def corrupt_jpeg(width: int, height: int, *, fatal: bool = True) -> bytes:
    """JPEG with intact headers whose entropy-coded data is partly overwritten by garbage.

    A seeded run (no 0xFF bytes) replaces the 2nd quarter of the scan data and
    ends in a stray SOF0 marker.  ``fatal=True``: progressive JPEG, so libjpeg
    parses that marker ("two SOF markers") and fails at every ``fail_on`` level.
    ``fatal=False``: baseline JPEG, only warnings ("premature end of data
    segment"), so it fails at ``fail_on="warning"`` but loads at "error".
    """
    data = _photo(width, height).jpegsave_buffer(Q=85, interlace=fatal, keep="none")
    start, end = _segment(data, 0xDA)[1], len(data) - 2
    lo, hi = start + (end - start) // 4, start + (end - start) // 2
    garbage = bytes(b % 0xFF for b in random.Random(1234).randbytes(hi - lo - 2)) + b"\xff\xc0"
    return data[:lo] + garbage + data[hi:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC32(type + body)."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_pixel_bomb(width: int = 100000, height: int = 100000) -> bytes:
    """Tiny PNG whose IHDR claims ``width`` x ``height`` RGB; IDAT covers only 16 rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress((b"\x00" * (width * 3 + 1)) * min(16, height), 9)
    chunks = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    return PNG_SIGNATURE + chunks


def jpeg_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A real 16x16 JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    data = bytearray(photo_jpeg(16, 16))
    sof = _segment(data, 0xC0)[0]
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_frame_bomb(frames: int = 1000, width: int = 2, height: int = 2) -> bytes:
    """Animated GIF with ``frames`` tiny pages alternating black and white."""
    y = pyvips.Image.xyz(width, height * frames)[1]
    grey = ((y / height).floor() % 2 * 255).cast("uchar")
    strip = _animation(grey.bandjoin([grey, grey]), height, delay_ms=10)
    return strip.gifsave_buffer(effort=1, dither=0, keep="none")


def bmp_like_garbage(size: int = 512) -> bytes:
    """``b"BM"`` followed by seeded random bytes: a BMP magic with no valid header."""
    return b"BM" + random.Random(42).randbytes(size - 2)


def text_file() -> bytes:
    """Plain text, e.g. uploaded as ``photo.jpg`` with ``Content-Type: image/jpeg``."""
    return b"This is not an image, just some plain text pretending to be one.\n" * 4


def _exif(data: bytes) -> dict[str, dict[int, object]]:
    """The EXIF IFDs (piexif layout) of the ``exif-data`` blob libvips finds, or {}."""
    image = pyvips.Image.new_from_buffer(data, "")  # header only, no pixel decode
    return piexif.load(image.get("exif-data")) if image.get_typeof("exif-data") else {}


def has_exif_gps(data: bytes) -> bool:
    """True if the image's EXIF has a GPSLatitude or GPSLongitude tag."""
    gps = _exif(data).get("GPS", {})
    return piexif.GPSIFD.GPSLatitude in gps or piexif.GPSIFD.GPSLongitude in gps


def exif_orientation(data: bytes) -> int | None:
    """The EXIF Orientation tag (1..8), or None if there is no EXIF or no such tag.

    Not libvips' ``orientation`` field: tiffload sets that to 1 from the TIFF tag.
    """
    value = _exif(data).get("0th", {}).get(piexif.ImageIFD.Orientation)
    return None if value is None else int(value)


# -- photo formats browsers do not all show: HEIC, AVIF, JPEG XL ------------------------------

#: EXIF of the photo-format generators below: what meta=true reads back.
PHOTO_EXIF_MAKE, PHOTO_EXIF_MODEL, PHOTO_EXIF_TAKEN = "imagehost-tests", "Phone 12", \
    "2024:07:01 10:00:00"


def _photo_exif(orientation: int | None = None, gps: bool = True) -> bytes:
    """A TIFF-structured EXIF blob (no `Exif\\0\\0`): make, model, date taken, ISO, and GPS."""
    zeroth: dict[int, object] = {piexif.ImageIFD.Make: PHOTO_EXIF_MAKE.encode(),
                                 piexif.ImageIFD.Model: PHOTO_EXIF_MODEL.encode()}
    if orientation is not None:
        zeroth[piexif.ImageIFD.Orientation] = orientation
    gps_ifd = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((45, 1), (50, 1), (2400, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((6, 1), (51, 1), (4500, 100)),
    }
    exif_ifd = {piexif.ExifIFD.DateTimeOriginal: PHOTO_EXIF_TAKEN.encode(),
                piexif.ExifIFD.ISOSpeedRatings: 100}
    return piexif.dump({"0th": zeroth, "Exif": exif_ifd, "GPS": gps_ifd if gps else {}})[6:]


def _marked_photo(width: int, height: int) -> pyvips.Image:
    """The photo with a red block in the top-left quarter of its stored pixels."""
    return _photo(width, height).draw_rect([255, 0, 0], 0, 0, max(1, width // 4),
                                           max(1, height // 4), fill=True)


def heic_with_exif(width: int, height: int, orientation: int = 6, gps: bool = True) -> bytes:
    """HEIC (HEVC, by pillow-heif) of ``width`` x ``height`` stored pixels with a red top-left
    block, EXIF (make, model, date, ISO, GPS) and, for ``orientation`` != 1, the irot/imir
    transform pillow-heif writes for that EXIF orientation: 6 shows it ``height`` x ``width``,
    the red block top right."""
    image = _marked_photo(width, height)
    heif = pillow_heif.from_bytes("RGB", (width, height), image.write_to_memory())
    out = io.BytesIO()
    heif.save(out, quality=80, exif=_photo_exif(orientation, gps))
    return out.getvalue()


def avif_with_exif(width: int, height: int, gps: bool = True) -> bytes:
    """AVIF (AV1, by libvips' heifsave) with a red top-left block and EXIF (make, model, date,
    ISO, GPS)."""
    image = _marked_photo(width, height).copy()
    image.set_type(pyvips.GValue.blob_type, "exif-data", b"Exif\x00\x00" + _photo_exif(None, gps))
    return image.heifsave_buffer(compression="av1", Q=60, effort=0, keep="exif")


def jxl_with_exif(width: int, height: int, gps: bool = True) -> bytes:
    """JPEG XL (by pillow-jxl-plugin, in a container) with a red top-left block and an Exif box
    (make, model, date, ISO, GPS)."""
    pixels = bytes(_marked_photo(width, height).write_to_memory())
    encoder = pillow_jxl.Encoder(mode="RGB", lossless=False, quality=80, effort=3,
                                 use_container=True)
    return encoder(pixels, width, height, jpeg_encode=False, exif=_photo_exif(None, gps),
                   jumb=None, xmp=None, compress=False)


def jxl_recompressed_jpeg(width: int, height: int, orientation: int = 6) -> bytes:
    """A JPEG with EXIF ``orientation`` recompressed losslessly into JPEG XL (libjxl puts that
    orientation in the codestream header): shown ``height`` x ``width`` for 6."""
    jpeg = jpeg_with_exif(width, height, orientation=orientation, gps=False)
    encoder = pillow_jxl.Encoder(mode="RGB", lossless=True, use_container=True)
    return encoder(jpeg, width, height, jpeg_encode=True)


def heif_header_bomb(data: bytes, width: int = 20000, height: int = 20000) -> bytes:
    """A real HEIC or AVIF whose `ispe` (image spatial extents) boxes claim ``width`` x
    ``height``. Its sides must need no clean-aperture crop (`clap`), which would set the
    size shown: multiples of 64 for pillow-heif's HEVC."""
    patched = bytearray(data)
    start = patched.find(b"ispe")
    if start < 0:
        raise ValueError("no ispe box")
    while start >= 0:
        patched[start + 8:start + 16] = struct.pack(">II", width, height)
        start = patched.find(b"ispe", start + 4)
    return bytes(patched)


def jxl_header_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A bare JPEG XL codestream whose SizeHeader declares ``width`` x ``height`` (default
    ImageMetadata), followed by garbage instead of frames."""

    def u32_30_bits(value: int) -> list[int]:  # U32 selector 3, then u(30), LSB first
        return [1, 1, *((value >> i) & 1 for i in range(30))]

    # not small; height; ratio 0 (an explicit width follows); width; all_default metadata
    bits = [0, *u32_30_bits(height - 1), 0, 0, 0, *u32_30_bits(width - 1), 1]
    bits += [0] * (-len(bits) % 8)
    header = bytes(sum(bit << i for i, bit in enumerate(bits[n:n + 8]))
                   for n in range(0, len(bits), 8))
    return b"\xff\x0a" + header + random.Random(7).randbytes(256)


# --- metadata of originals (ORIGINAL_METADATA) ---------------------------------------------------

#: Bytes of the *_with_metadata images that strip-private must remove: names, serial numbers,
#: contacts, places, ids, positions (in EXIF, XMP, IPTC, text chunks, comments and trailers).
PRIVATE_MARKERS: tuple[bytes, ...] = (
    b"Jane Photographer", b"SN-BODY-0042", b"SN-LENS-0077", b"Jane's camera", b"uid-5f3c9e",
    b"jane@example.org", b"Grenoble", b"Uncle Bob", b"xmp.did:7f1e", b"GPSLatitude",
    b"52,31.2058N", b"MAKERNOTE-SECRET", b"IPTC-BYLINE-SECRET", b"MAKER-APP-SECRET",
    b"TRAILER-SECRET", b"EXTENDED-XMP-SECRET", b"UNKNOWN-CHUNK-SECRET",
)
#: Bytes strip-private keeps: camera, capture time, copyright, software.
KEPT_MARKERS: tuple[bytes, ...] = (b"TestCam 3000", b"2021:06:01 10:20:30", b"CC BY-SA 4.0")
#: Bytes of the *_with_metadata images that only strip-all removes.
TEXT_MARKERS: tuple[bytes, ...] = (b"COMMENT-TEXT",)

_TIFF_TYPES = {"B": 1, "A": 2, "H": 3, "L": 4, "R": 5, "U": 7}
TiffEntry = tuple[int, str, object]
"""(tag, kind, value): kind A/U take bytes, H/L a list of ints (or, for L, the name of the
directory or blob it points to), R a list of (numerator, denominator)."""


def _tiff_value(order: str, kind: str, value: object) -> tuple[int, int, bytes]:
    if kind in "AUB":
        raw = bytes(value)  # type: ignore[call-overload]
        return _TIFF_TYPES[kind], len(raw), raw
    if kind == "R":
        flat = [n for pair in value for n in pair]  # type: ignore[attr-defined]
        return 5, len(flat) // 2, struct.pack(f"{order}{len(flat)}L", *flat)
    numbers = [0] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    return _TIFF_TYPES[kind], len(numbers), struct.pack(f"{order}{len(numbers)}{kind}", *numbers)


def tiff_block(order: str, directories: dict[str, list[TiffEntry]],
               blobs: dict[str, bytes] | None = None, next_ifd: dict[str, str] | None = None
               ) -> bytes:
    """A TIFF block laid out in the order given: each directory with its out-of-line values,
    then the blobs. An L entry whose value is a name holds that directory's or blob's offset;
    `next_ifd` links a directory to the next one (IFD0 -> IFD1)."""
    blobs, next_ifd = blobs or {}, next_ifd or {}
    offsets: dict[str, int] = {}
    position = 8
    for name, entries in directories.items():
        offsets[name] = position
        values = [_tiff_value(order, kind, value)[2] for _, kind, value in entries]
        position += 6 + 12 * len(entries) + sum(len(v) + len(v) % 2 for v in values if len(v) > 4)
    for name, blob in blobs.items():
        offsets[name] = position
        position += len(blob) + len(blob) % 2
    out = bytearray((b"II" if order == "<" else b"MM") + struct.pack(f"{order}HL", 42, 8))
    for name, entries in directories.items():
        values_at = offsets[name] + 6 + 12 * len(entries)
        table, data = bytearray(struct.pack(f"{order}H", len(entries))), bytearray()
        for tag, kind, value in sorted(entries, key=lambda e: e[0]):
            if isinstance(value, str):
                value = [offsets[value]]
            code, count, raw = _tiff_value(order, kind, value)
            table += struct.pack(f"{order}HHL", tag, code, count)
            if len(raw) <= 4:
                table += raw.ljust(4, b"\0")
            else:
                table += struct.pack(f"{order}L", values_at + len(data))
                data += raw + b"\0" * (len(raw) % 2)
        table += struct.pack(f"{order}L", offsets.get(next_ifd.get(name, ""), 0))
        out += table + data
    for blob in blobs.values():
        out += blob + b"\0" * (len(blob) % 2)
    return bytes(out)


def exif_tiff(order: str = ">", *, gps: bool = True, orientation: int = 6,
              thumbnail: bool = True) -> bytes:
    """An EXIF block (">" Motorola, "<" Intel) as a camera writes it: IFD0 (Make, Model,
    Orientation, DateTime, Artist, Copyright), the Exif IFD (capture time, exposure, owner,
    body and lens serials, ImageUniqueID, a MakerNote), an Interop IFD, the GPS IFD (with
    `gps`) and IFD1 with a JPEG thumbnail (with `thumbnail`)."""
    ifd0: list[TiffEntry] = [
        (0x010F, "A", b"imagehost-tests\0"), (0x0110, "A", b"TestCam 3000\0"),
        (0x0112, "H", [orientation]), (0x0132, "A", b"2021:06:01 10:20:30\0"),
        (0x013B, "A", b"Jane Photographer\0"), (0x8298, "A", b"CC BY-SA 4.0\0"),
        (0x8769, "L", "exif")]
    exif: list[TiffEntry] = [
        (0x829A, "R", [(1, 250)]), (0x829D, "R", [(28, 10)]),
        (0x9003, "A", b"2021:06:01 10:20:30\0"), (0xA005, "L", "interop"),
        (0x927C, "U", b"MAKERNOTE-SECRET SN-BODY-0042 " + bytes(range(64))),
        (0xA420, "A", b"uid-5f3c9e0123456789abcdef012345\0"),
        (0xA430, "A", b"Jane's camera\0"), (0xA431, "A", b"SN-BODY-0042\0"),
        (0xA434, "A", b"TestLens 50mm\0"), (0xA435, "A", b"SN-LENS-0077\0")]
    directories = {"ifd0": ifd0, "exif": exif, "interop": [(0x0001, "A", b"R98\0")]}
    if gps:
        ifd0.append((0x8825, "L", "gps"))
        directories["gps"] = [
            (0x0000, "B", [2, 3, 0, 0]), (0x0001, "A", b"N\0"),
            (0x0002, "R", [(52, 1), (31, 1), (1234, 100)]), (0x0003, "A", b"E\0"),
            (0x0004, "R", [(13, 1), (24, 1), (5678, 100)])]
    blobs: dict[str, bytes] = {}
    if thumbnail:
        blobs["thumbnail"] = _photo(32, 24).jpegsave_buffer(Q=70, keep="none")
        directories["ifd1"] = [(0x0103, "H", [6]), (0x0201, "L", "thumbnail"),
                               (0x0202, "L", [len(blobs["thumbnail"])])]
    return tiff_block(order, directories, blobs, {"ifd0": "ifd1"} if thumbnail else {})


def xmp_packet(*, gps: bool = True) -> bytes:
    """An XMP packet with private properties both as elements and as attributes (GPS, body
    and lens serials, owner, creator, city, contact, document ids and history, a face region
    naming a person) and kept ones (camera model, capture time, rights, creator tool)."""
    position = ('\n   exif:GPSAltitude="1200/1"' if gps else "")
    elements = ("""
   <exif:GPSLatitude>52,31.2058N</exif:GPSLatitude>
   <exif:GPSLongitude>13,24.9463E</exif:GPSLongitude>""" if gps else "")
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="imagehost tests">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:xmpNote="http://ns.adobe.com/xmp/note/"{position}
    aux:SerialNumber="SN-BODY-0042" aux:LensSerialNumber='SN-LENS-0077'
    tiff:Model="TestCam 3000" xmp:CreatorTool="imagehost &gt; tests"
    xmpMM:DocumentID="xmp.did:7f1e" xmpNote:HasExtendedXMP="0123456789ABCDEF">{elements}
   <exif:DateTimeOriginal>2021:06:01 10:20:30</exif:DateTimeOriginal>
   <aux:OwnerName>Jane's camera</aux:OwnerName>
   <dc:creator><rdf:Seq><rdf:li>Jane Photographer</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">CC BY-SA 4.0</rdf:li></rdf:Alt></dc:rights>
   <photoshop:City>Grenoble</photoshop:City>
   <Iptc4xmpCore:CreatorContactInfo rdf:parseType="Resource">
    <Iptc4xmpCore:CiEmailWork>jane@example.org</Iptc4xmpCore:CiEmailWork>
   </Iptc4xmpCore:CreatorContactInfo>
   <xmpMM:History><rdf:Seq><rdf:li stEvt:action="saved" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"/></rdf:Seq></xmpMM:History>
   <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li
     mwg-rs:Name="Uncle Bob"/></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
{" " * 200}
<?xpacket end="w"?>""".encode()


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def srgb_profile() -> bytes:
    """libvips' built-in sRGB ICC profile."""
    jpeg = pyvips.Image.black(8, 8, bands=3).jpegsave_buffer(profile="srgb", keep="icc")
    return bytes(pyvips.Image.new_from_buffer(jpeg, "").get("icc-profile-data"))


def jpeg_with_metadata(width: int = 64, height: int = 48, *, order: str = ">",
                       orientation: int = 6) -> bytes:
    """A JPEG with every kind of metadata: JFIF, EXIF (exif_tiff in byte order `order`), the
    XMP packet, an extended XMP segment, the sRGB ICC profile, Photoshop/IPTC (APP13), a maker
    segment (APP5), a comment, and after the end of image a second picture with GPS (as MPO
    files and motion photos carry)."""
    base = _photo(width, height).jpegsave_buffer(Q=85, profile="srgb", keep="icc")
    insert_at = _segment(base, 0xE0)[1] if base[2:4] == b"\xff\xe0" else 2
    segments = (
        _jpeg_segment(0xE1, b"Exif\0\0" + exif_tiff(order, orientation=orientation))
        + _jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + xmp_packet())
        + _jpeg_segment(0xE1, b"http://ns.adobe.com/xmp/extension/\0" + b"0" * 32
                        + struct.pack(">LL", 30, 0) + b"<x>EXTENDED-XMP-SECRET</x>   ")
        + _jpeg_segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">L", 24)
                        + b"\x1c\x02\x50\x00\x12IPTC-BYLINE-SECRET" + b"\0" * 1)
        + _jpeg_segment(0xE5, b"MAKER-APP-SECRET")
        + _jpeg_segment(0xFE, b"COMMENT-TEXT"))
    trailer = jpeg_with_exif(16, 16) + b"TRAILER-SECRET"
    return base[:insert_at] + segments + base[insert_at:] + trailer


def jpeg_scan(data: bytes) -> bytes:
    """The bytes from the first start-of-scan marker to the end-of-image marker included."""
    start = _segment(data, 0xDA)[0]
    return data[start:data.index(b"\xff\xd9", start) + 2]


def _png_text(kind: bytes, keyword: bytes, text: bytes) -> bytes:
    if kind == b"zTXt":
        return _png_chunk(kind, keyword + b"\0\0" + zlib.compress(text))
    if kind == b"iTXt":
        return _png_chunk(kind, keyword + b"\0\x01\0\0\0" + zlib.compress(text))
    return _png_chunk(kind, keyword + b"\0" + text)


def imagemagick_raw_profile(name: str, payload: bytes) -> bytes:
    """ImageMagick's text form of a profile: name, length, hex lines."""
    hexed = payload.hex()
    lines = "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72))
    return f"\n{name}\n{len(payload):8d}\n{lines}\n".encode()


def png_with_metadata(width: int = 48, height: int = 32, *, orientation: int = 6) -> bytes:
    """A PNG with the sRGB iCCP, eXIf (Intel byte order), the XMP packet (compressed iTXt), an
    ImageMagick raw EXIF profile (zTXt) and raw IPTC profile, Author and Comment text, tIME,
    a content-credentials chunk, and bytes after IEND."""
    base = _photo(width, height).pngsave_buffer(compression=1, keep="none")
    ihdr_end = 8 + 12 + 13
    chunks = (
        _png_chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(srgb_profile()))
        + _png_chunk(b"eXIf", exif_tiff("<", orientation=orientation))
        + _png_text(b"iTXt", b"XML:com.adobe.xmp", xmp_packet())
        + _png_text(b"zTXt", b"Raw profile type exif", imagemagick_raw_profile(
            "exif", b"Exif\0\0" + exif_tiff(">", orientation=orientation, thumbnail=False)))
        + _png_text(b"tEXt", b"Raw profile type iptc", imagemagick_raw_profile(
            "iptc", b"\x1c\x02\x50\x00\x12IPTC-BYLINE-SECRET"))
        + _png_text(b"tEXt", b"Author", b"Jane Photographer")
        + _png_text(b"tEXt", b"Comment", b"COMMENT-TEXT")
        + _png_chunk(b"tIME", struct.pack(">HBBBBB", 2021, 6, 1, 10, 20, 30))
        + _png_chunk(b"caBX", b"UNKNOWN-CHUNK-SECRET"))
    return base[:ihdr_end] + chunks + base[ihdr_end:] + b"TRAILER-SECRET"


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<L", len(body)) + body + b"\0" * (len(body) % 2)


def webp_with_metadata(width: int = 48, height: int = 32, *, orientation: int = 6) -> bytes:
    """An extended WebP: VP8X (ICC, EXIF and XMP flags), ICCP, the lossy bitstream, EXIF
    (Motorola byte order), XMP, an unknown chunk, and bytes after the RIFF data."""
    simple = _photo(width, height).webpsave_buffer(Q=80, keep="none")
    assert simple[12:16] == b"VP8 "
    bitstream = simple[12:]
    vp8x = bytes([0x20 | 0x08 | 0x04, 0, 0, 0]) + (width - 1).to_bytes(3, "little") \
        + (height - 1).to_bytes(3, "little")
    body = (b"WEBP" + _riff_chunk(b"VP8X", vp8x) + _riff_chunk(b"ICCP", srgb_profile())
            + bitstream + _riff_chunk(b"EXIF", exif_tiff(">", orientation=orientation))
            + _riff_chunk(b"XMP ", xmp_packet()) + _riff_chunk(b"XYZW", b"UNKNOWN-CHUNK-SECRET"))
    return b"RIFF" + struct.pack("<L", len(body)) + body + b"TRAILER-SECRET"


def gif_with_metadata(width: int = 32, height: int = 24) -> bytes:
    """An animated GIF with a comment, the XMP packet (with its magic trailer), an IPTC
    application extension, and bytes after the trailer."""
    base = animated_gif(width, height, frames=2)
    flags = base[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    magic = bytes([1, *range(255, -1, -1)])
    blocks = (b"\x21\xfe" + bytes([12]) + b"COMMENT-TEXT" + b"\0"
              + b"\x21\xff\x0bXMP DataXMP" + xmp_packet() + magic + b"\0"
              + b"\x21\xff\x0bMGK8BIM0000" + bytes([18]) + b"IPTC-BYLINE-SECRET" + b"\0")
    return base[:start] + blocks + base[start:] + b"TRAILER-SECRET"


def svg_with_metadata() -> bytes:
    """An Inkscape drawing: file names in sodipodi:docname and inkscape:export-filename, and
    RDF metadata with a creator and a license."""
    return b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"
     xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
     xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
     xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/"
     sodipodi:docname="uid-5f3c9e.svg" inkscape:export-filename="/home/Jane Photographer/a.png">
 <metadata><rdf:RDF><cc:Work rdf:about="">
  <dc:creator><cc:Agent><dc:title>Jane Photographer</dc:title></cc:Agent></dc:creator>
  <dc:rights><cc:Agent><dc:title>CC BY-SA 4.0</dc:title></cc:Agent></dc:rights>
 </cc:Work></rdf:RDF></metadata>
 <rect width="40" height="20" fill="#3a6ea5"/>
</svg>
"""


def avif_with_metadata(width: int = 48, height: int = 32) -> bytes:
    """AVIF (libvips' heifsave) with the EXIF block of exif_tiff (no thumbnail) and the XMP
    packet as HEIF items."""
    image = _photo(width, height).copy()
    image.set_type(pyvips.GValue.blob_type, "exif-data",
                   b"Exif\0\0" + exif_tiff(">", thumbnail=False))
    image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp_packet())
    return image.heifsave_buffer(compression="av1", Q=60, effort=0, keep="exif,xmp")


def heic_with_metadata(width: int = 64, height: int = 64) -> bytes:
    """HEIC (pillow-heif) with the EXIF block of exif_tiff and the XMP packet as items."""
    heif = pillow_heif.from_bytes("RGB", (width, height),
                                  _photo(width, height).write_to_memory())
    out = io.BytesIO()
    heif.save(out, quality=80, exif=exif_tiff("<"), xmp=xmp_packet())
    return out.getvalue()


def jxl_with_metadata(width: int = 48, height: int = 32) -> bytes:
    """JPEG XL in a container (pillow-jxl-plugin) with Exif and xml boxes."""
    encoder = pillow_jxl.Encoder(mode="RGB", lossless=False, quality=80, effort=3,
                                 use_container=True)
    return encoder(bytes(_photo(width, height).write_to_memory()), width, height,
                   jpeg_encode=False, exif=exif_tiff(">"), jumb=None, xmp=xmp_packet(),
                   compress=False)
