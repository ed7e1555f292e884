"""Deterministic generators of test images (valid, hostile and broken) as bytes."""

from __future__ import annotations

import io
import random
import struct
import zlib

import piexif
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
