"""Hostile inputs made by code: bombs in every format, truncated and corrupt files, polyglots,
crafted zips (bombs, slips, odd methods) and JSON bombs. tests/imagegen.py holds the valid
images and the first hostile ones; this adds what only the hostile corpus needs."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import pyvips

from tests import imagegen
from tests.imagegen import PNG_SIGNATURE

# ---------------------------------------------------------------------------- image bombs


def gif_header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A GIF whose screen and only frame claim `width` x `height`, with a few pixels of data
    (libnsgif ignores a screen larger than its frames)."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # 2-colour global table
    palette = b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    pixels = b"\x02\x02\x44\x01\x00"  # LZW: min code size 2, one block, terminator
    return b"GIF89a" + screen + palette + frame + pixels + b";"


def webp_header_bomb(width: int = 16383, height: int = 16383) -> bytes:
    """A real 64x64 lossless WebP whose VP8X canvas and VP8L header claim `width` x
    `height`."""
    data = bytearray(pyvips.Image.black(64, 64).bandjoin([0, 0, 255])
                     .webpsave_buffer(lossless=True, keep="none"))
    canvas = data.find(b"VP8X")
    if canvas >= 0:
        data[canvas + 12:canvas + 18] = (width - 1).to_bytes(3, "little") + \
            (height - 1).to_bytes(3, "little")
    header = data.find(b"VP8L") + 9
    bits = int.from_bytes(data[header:header + 4], "little") & ~((1 << 28) - 1)
    data[header:header + 4] = (bits | (width - 1) | (height - 1) << 14).to_bytes(4, "little")
    return bytes(data)


def webp_frame_bomb(frames: int = 600) -> bytes:
    """An animated WebP of `frames` 2x2 frames (more than max_frames)."""
    return imagegen.animated_webp(2, 2, frames=frames)


def jpeg_exif_flood(segments: int = 200) -> bytes:
    """A valid small JPEG after `segments` APP1 segments of 64 KB each (13 MB of EXIF)."""
    jpeg = imagegen.photo_jpeg(32, 32)
    body = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + b"\x00" * (65533 - 14)
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + segment * segments + jpeg[2:]


def png_with_text(keyword: bytes, text: bytes) -> bytes:
    """A valid 16x16 PNG carrying a tEXt chunk right after IHDR."""
    png = imagegen.photo_png(16, 16)
    ihdr_end = len(PNG_SIGNATURE) + 8 + 13 + 4
    return png[:ihdr_end] + _png_chunk(b"tEXt", keyword + b"\x00" + text) + png[ihdr_end:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_svg_polyglot() -> bytes:
    """A PNG whose text chunk holds a scripted SVG document."""
    return png_with_text(b"Comment", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                                     b"<script>alert(document.domain)</script></svg>")


def gif_script_polyglot() -> bytes:
    """The GIF/JavaScript polyglot: a GIF header whose size bytes open a JS comment, and a
    script after it: `GIF89a/*...*/=1;alert(1);`."""
    return b"GIF89a/*\x00\x00\x80\x00\x00" + b"\x00" * 6 + b"*/=1;alert(document.domain);"


def jpeg_zip_polyglot(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A valid JPEG with a zip appended: both a JPEG and an archive."""
    return imagegen.photo_jpeg(32, 32) + plain_zip(entries)


def corrupt_png() -> bytes:
    """A PNG with intact chunk structure whose IDAT stream is garbage (CRCs are right)."""
    png = imagegen.photo_png(64, 64)
    start = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[start:start + 4])[0]
    garbage = bytes((i * 151 + 7) % 256 for i in range(length))
    return png[:start] + _png_chunk(b"IDAT", garbage) + png[start + 12 + length:]


# ---------------------------------------------------------------------------- zips


@dataclass(frozen=True)
class ZipEntry:
    """One entry of a crafted zip: its name as stored, its payload as stored (already
    compressed when `method` says so), and what the headers declare."""

    name: bytes
    payload: bytes
    method: int = zipfile.ZIP_STORED
    size: int | None = None
    """The uncompressed size declared (the payload's length by default)."""
    crc: int | None = None
    flags: int = 0x800  # names in UTF-8


def stored(name: str | bytes, data: bytes) -> ZipEntry:
    return ZipEntry(_name(name), data, crc=zlib.crc32(data))


def deflated(name: str | bytes, data: bytes, *, declared_size: int | None = None,
             method: int = zipfile.ZIP_DEFLATED) -> ZipEntry:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = packer.compress(data) + packer.flush()
    return ZipEntry(_name(name), payload, method, declared_size or len(data), zlib.crc32(data))


def deflated_zeros(name: str, size: int) -> ZipEntry:
    """`size` zero bytes deflated chunk by chunk (a 100 MB entry is about 100 KB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts, crc = [], 0
    for start in range(0, size, len(chunk)):
        piece = chunk[:min(len(chunk), size - start)]
        parts.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
    parts.append(packer.flush())
    return ZipEntry(_name(name), b"".join(parts), zipfile.ZIP_DEFLATED, size, crc)


def crafted_zip(entries: Iterable[ZipEntry], *, declared_count: int | None = None,
                directory_padding: int = 0) -> bytes:
    """A zip written field by field, so that names, methods, sizes and counts can lie.
    `directory_padding` zero bytes are added to the central directory's declared size."""
    out, directory, count = bytearray(), bytearray(), 0
    for entry in entries:
        size = len(entry.payload) if entry.size is None else entry.size
        crc = zlib.crc32(entry.payload) if entry.crc is None else entry.crc
        fixed = (20, entry.flags, entry.method, 0, 0x21, crc, len(entry.payload), size,
                 len(entry.name))
        directory += struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIH", *fixed) \
            + struct.pack("<HHHHII", 0, 0, 0, 0, 0o644 << 16, len(out)) + entry.name
        out += struct.pack("<I", 0x04034B50) + struct.pack("<HHHHHIIIH", *fixed) \
            + struct.pack("<H", 0) + entry.name + entry.payload
        count += 1
    offset = len(out)
    out += directory + bytes(directory_padding)
    total = count if declared_count is None else declared_count
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(total, 0xFFFF), min(total, 0xFFFF),
                       len(directory) + directory_padding, offset, 0)
    return bytes(out)


def plain_zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip as any tool writes it (zipfile, deflated)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return out.getvalue()


def many_entries_zip(count: int) -> bytes:
    """`count` empty stored entries: a central directory zipfile would read whole."""
    return crafted_zip(stored(f"e{i}.jpg", b"") for i in range(count))


def manifest_zip(manifest: bytes | str, images: Iterable[tuple[str, bytes]]) -> bytes:
    text = manifest.encode() if isinstance(manifest, str) else manifest
    return plain_zip([("manifest.json", text), *images])


def _name(name: str | bytes) -> bytes:
    return name.encode() if isinstance(name, str) else name


# ---------------------------------------------------------------------------- JSON


def deep_json(depth: int = 1000, inner: str = "1") -> str:
    """An object holding arrays nested `depth` deep."""
    return '{"a": ' + "[" * depth + inner + "]" * depth + "}"


def wide_json(size: int) -> str:
    """An object of about `size` bytes holding one array of empty objects (the most
    parser memory per byte)."""
    return '{"a": [' + "{}," * (size // 3) + "{}]}"


def json_body(value: object) -> bytes:
    return json.dumps(value).encode()
