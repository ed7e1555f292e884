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
