"""PNG: chunks are kept, rewritten (with a new CRC) or dropped; image data is never touched,
and whatever follows IEND goes.

Rewritten: eXIf, the XMP packet (iTXt `XML:com.adobe.xmp`) and ImageMagick's raw profiles
(tEXt/zTXt/iTXt `Raw profile type exif|APP1|xmp`). Dropped: raw IPTC/Photoshop profiles,
author text chunks and content-credential (caBX) and signature (dSIG) chunks; with strip-all,
every text chunk and tIME as well. Kept: everything else, iCCP and the APNG chunks included.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.packets import EXIF_HEADER, strip_exif, strip_xmp
from imagehost.imaging.privacy.rules import STRIP_ALL, MetadataMode

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
_ALWAYS_DROPPED = {b"caBX", b"dSIG", b"zxIf", b"zXIf"}
_OWNER_KEYWORDS = {b"author", b"artist", b"creator", b"owner"}
_INSPECTED = {b"eXIf", b"tIME", *_TEXT, *_ALWAYS_DROPPED}
"""The chunks _chunk may change or drop; the others are kept as they are."""
_MAX_TEXT = 16 * 1024 * 1024
"""Largest compressed text chunk inflated; a larger one is dropped."""


class _Dropped(Exception):
    """A chunk that cannot be read safely: it goes."""


def strip_png(data: bytes, mode: MetadataMode) -> bytes:
    if not data.startswith(SIGNATURE):
        raise InvalidImage("Bad format: not a PNG.")
    parts: list[bytes | memoryview] = [SIGNATURE]
    position, changed = len(SIGNATURE), False
    view = memoryview(data)  # image data passes through as views: no copy of a 17 MB IDAT
    while position < len(data):
        if position + 12 > len(data):
            raise InvalidImage("Bad format: the PNG ends inside a chunk.")
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if end > len(data):
            raise InvalidImage("Bad format: the PNG ends inside a chunk.")
        if kind not in _INSPECTED:
            parts.append(view[position:end])
            position = end
            if kind == b"IEND":
                break
            continue
        body = data[position + 8:end - 4]
        try:
            kept = _chunk(kind, body, mode)
        except _Dropped:
            kept = None
        if kept == body:
            parts.append(data[position:end])
        else:
            changed = True
            if kept is not None:
                parts.append(chunk(kind, kept))
        position = end
        if kind == b"IEND":
            break
    if not changed and position == len(data):
        return data
    return b"".join(parts)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _chunk(kind: bytes, body: bytes, mode: MetadataMode) -> bytes | None:
    if kind == b"eXIf":
        return strip_exif(body, mode)
    if kind in _ALWAYS_DROPPED or (kind == b"tIME" and mode == STRIP_ALL):
        return None
    if kind in _TEXT:
        return _text(kind, body, mode)
    return body


def _text(kind: bytes, body: bytes, mode: MetadataMode) -> bytes | None:
    keyword, separator, rest = body.partition(b"\0")
    if not separator:
        raise _Dropped
    if keyword.startswith(b"Raw profile type "):
        profile = keyword[len(b"Raw profile type "):].lower()
        if profile in (b"icc", b"icm"):
            return body
        if mode == STRIP_ALL or profile not in (b"exif", b"app1", b"xmp"):
            return None
        return _rewrite_text(kind, keyword, rest, lambda text: _raw_profile(text, profile, mode))
    if mode == STRIP_ALL or keyword.lower() in _OWNER_KEYWORDS:
        return None
    if kind == b"iTXt" and keyword == XMP_KEYWORD:
        return _rewrite_text(kind, keyword, rest, lambda packet: strip_xmp(packet, mode))
    return body


def _rewrite_text(kind: bytes, keyword: bytes, rest: bytes,
                  rewrite: Callable[[bytes], bytes | None]) -> bytes | None:
    """Apply `rewrite` to a text chunk's text, keeping its kind, header and compression."""
    if kind == b"tEXt":
        header, compressed, text = b"", False, rest
    elif kind == b"zTXt":
        header, compressed, text = rest[:1], True, rest[1:]
    else:
        if len(rest) < 2:
            raise _Dropped
        language, _, after = rest[2:].partition(b"\0")
        translated, found, text = after.partition(b"\0")
        if not found:
            raise _Dropped
        header, compressed = rest[:2] + language + b"\0" + translated + b"\0", rest[0] == 1
    original = _inflate(text) if compressed else text
    new = rewrite(original)
    if new is None:
        return None
    if new == original:
        return keyword + b"\0" + rest
    return keyword + b"\0" + header + (zlib.compress(new) if compressed else new)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, _MAX_TEXT)
    except zlib.error:
        raise _Dropped from None
    if inflater.unconsumed_tail:
        raise _Dropped
    return text


def _raw_profile(text: bytes, profile: bytes, mode: MetadataMode) -> bytes | None:
    """ImageMagick's hex dump: newline, name, newline, length, newline, hex lines."""
    tokens = text.split()
    if len(tokens) < 2 or not tokens[1].isdigit():
        raise _Dropped
    try:
        payload = bytes.fromhex(b"".join(tokens[2:]).decode("ascii"))
    except ValueError:
        raise _Dropped from None
    if len(payload) != int(tokens[1]):
        raise _Dropped
    if profile == b"xmp":
        new = strip_xmp(payload, mode)
    else:
        body = payload[len(EXIF_HEADER):] if payload.startswith(EXIF_HEADER) else payload
        exif = strip_exif(body, mode)
        new = None if exif is None else payload[:len(payload) - len(body)] + exif
    if new is None:
        return None
    if new == payload:
        return text
    hexed = new.hex()
    lines = "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72))
    return f"\n{tokens[0].decode('latin-1')}\n{len(new):8d}\n{lines}\n".encode("ascii")
