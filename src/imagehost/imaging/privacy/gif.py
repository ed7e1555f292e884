"""GIF: extension blocks are kept or dropped whole; image data is never touched, and whatever
follows the trailer goes.

Kept: graphic control and plain-text extensions, the looping (NETSCAPE2.0, ANIMEXTS1.0) and
ICC profile (ICCRGBG1012) application extensions, and comments (except with strip-all).
Dropped: the XMP packet (XMP DataXMP), IPTC/Photoshop (MGK8BIM0000, MGKIPTC0000) and every
other application extension.
"""

from __future__ import annotations

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.rules import STRIP_ALL, MetadataMode

EXTENSION, IMAGE, TRAILER = 0x21, 0x2C, 0x3B
COMMENT, APPLICATION = 0xFE, 0xFF
_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def strip_gif(data: bytes, mode: MetadataMode) -> bytes:
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise InvalidImage("Bad format: not a GIF.")
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    parts, changed = [data[:position]], False
    while position < len(data):
        introducer = data[position]
        if introducer == TRAILER:
            parts.append(data[position:position + 1])
            position += 1
            break
        if introducer == IMAGE:
            descriptor_end = position + 10
            if descriptor_end > len(data):
                parts.append(data[position:])
                position = len(data)
                break
            flags = data[position + 9]
            table = 3 << ((flags & 7) + 1) if flags & 0x80 else 0
            end = _sub_blocks_end(data, descriptor_end + table + 1)
            kept = True
        elif introducer == EXTENSION:
            end = _sub_blocks_end(data, position + 2)
            kept = _keep_extension(data[position + 1:position + 2], data[position + 2:end], mode)
        else:
            break  # not a block: decoders stop here, and so does the copy
        if kept:
            parts.append(data[position:end])
        else:
            changed = True
        position = end
    if not changed and position == len(data):
        return data
    return b"".join(parts)


def _sub_blocks_end(data: bytes, position: int) -> int:
    """Past the block terminator of the sub-blocks at `position` (or the end of a truncated
    file)."""
    while position < len(data):
        size = data[position]
        position += 1 + size
        if size == 0:
            return position
    return len(data)


def _keep_extension(label: bytes, blocks: bytes, mode: MetadataMode) -> bool:
    if label == bytes([COMMENT]):
        return mode != STRIP_ALL
    if label == bytes([APPLICATION]):
        return blocks[:1] == b"\x0b" and blocks[1:12] in _KEPT_APPLICATIONS
    return True
