"""JPEG: the segments before the first scan are kept, rewritten or dropped; everything from the
start of scan to the end-of-image marker is copied untouched (the pixels are never re-encoded),
and what follows the end of the image (a second picture of an MPO, a motion photo's video,
vendor trailers) goes.

Kept: JFIF (APP0), ICC profile (APP2), Adobe colour transform (APP14), the tables and frame
headers, and comments (except with strip-all). Rewritten: EXIF and XMP (APP1). Dropped:
extended XMP, JFXX thumbnails, Photoshop/IPTC (APP13), multi-picture indexes and every other
application segment (maker-specific ones hold serial numbers and more).
"""

from __future__ import annotations

import re

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.packets import EXIF_HEADER, strip_exif, strip_xmp
from imagehost.imaging.privacy.rules import STRIP_ALL, MetadataMode

SOI, EOI, SOS, COM = 0xD8, 0xD9, 0xDA, 0xFE
APP0, APP1, APP2, APP14 = 0xE0, 0xE1, 0xE2, 0xEE
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
"""Markers without a length: TEM and the restart markers."""
_MAX_PAYLOAD = 0xFFFF - 2
_SCAN_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
"""A marker inside entropy-coded data: 0xFF not followed by a stuffed 0, a restart marker or
a fill byte."""


def strip_jpeg(data: bytes, mode: MetadataMode) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise InvalidImage("Bad format: the JPEG does not start with SOI.")
    parts: list[bytes | memoryview] = [data[:2]]
    position, changed = 2, False
    while True:
        marker_at = _next_marker(data, position)
        parts.append(data[position:marker_at])  # extraneous and fill bytes, as libjpeg skips
        marker = data[marker_at + 1]
        if marker == SOS:
            break
        if marker in _STANDALONE:
            parts.append(data[marker_at:marker_at + 2])
            position = marker_at + 2
            continue
        if marker in (SOI, EOI) or marker_at + 4 > len(data):
            raise InvalidImage("Bad format: the JPEG has no image data.")
        end = marker_at + 2 + int.from_bytes(data[marker_at + 2:marker_at + 4], "big")
        if end > len(data) or end < marker_at + 4:
            raise InvalidImage("Bad format: a JPEG segment runs past the end of the file.")
        payload = data[marker_at + 4:end]
        kept = _segment(marker, payload, mode)
        if kept is None:
            changed = True
        elif kept == payload:
            parts.append(data[marker_at:end])
        else:
            changed = True
            parts.append(bytes([0xFF, marker]) + (len(kept) + 2).to_bytes(2, "big") + kept)
        position = end
    end_of_image = _end_of_image(data, marker_at)
    parts.append(memoryview(data)[marker_at:end_of_image])  # the scans: no copy unless joined
    if not changed and end_of_image == len(data):
        return data
    return b"".join(parts)


def _next_marker(data: bytes, position: int) -> int:
    """Where the next marker (0xFF and a code other than 0xFF) starts."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise InvalidImage("Bad format: the JPEG ends before its image data.")
        if data[position + 1] != 0xFF:
            return position
        position += 1


def _segment(marker: int, payload: bytes, mode: MetadataMode) -> bytes | None:
    """The payload to write for a segment, or None to drop it."""
    if marker == APP1 and payload.startswith(EXIF_HEADER):
        exif = strip_exif(payload, mode)
        return exif if exif is None or len(exif) <= _MAX_PAYLOAD else None
    if marker == APP1 and payload.startswith(XMP_HEADER):
        packet = strip_xmp(payload[len(XMP_HEADER):], mode)
        return None if packet is None else XMP_HEADER + packet
    if marker == APP0:
        return payload if payload.startswith(b"JFIF\0") else None
    if marker == APP2:
        return payload if payload.startswith(b"ICC_PROFILE\0") else None
    if marker == APP14:
        return payload if payload.startswith(b"Adobe") else None
    if 0xE0 <= marker <= 0xEF:
        return None
    if marker == COM and mode == STRIP_ALL:
        return None
    return payload


def _end_of_image(data: bytes, position: int) -> int:
    """The offset just past the EOI that ends the image whose first SOS is at `position`,
    walking scans and the segments between them; the end of the data when there is no EOI
    (a truncated file: everything is kept)."""
    while position + 4 <= len(data):
        position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
        found = _SCAN_MARKER.search(data, position)
        while found is not None and data[found.start() + 1] == 0x01:
            found = _SCAN_MARKER.search(data, found.end())
        if found is None:
            return len(data)
        if data[found.start() + 1] == EOI:
            return found.end()
        position = found.start()
    return len(data)
