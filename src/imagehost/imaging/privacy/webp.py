"""WebP: RIFF chunks are kept, rewritten or dropped, the VP8X flags and the RIFF size follow,
and whatever follows the RIFF data goes. The bitstream chunks (VP8, VP8L, ALPH, ANMF) are
never touched.

Rewritten: EXIF and XMP. Kept: VP8X, ICCP, ANIM and the bitstream chunks. Dropped: every
other chunk (unknown chunks are ignored by decoders, and may hold anything).
"""

from __future__ import annotations

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.packets import strip_exif, strip_xmp
from imagehost.imaging.privacy.rules import MetadataMode

_KEPT = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"}
EXIF_FLAG, XMP_FLAG = 0x08, 0x04


def strip_webp(data: bytes, mode: MetadataMode) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InvalidImage("Bad format: not a WebP.")
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise InvalidImage("Bad format: the WebP is shorter than its RIFF header says.")
    chunks: list[tuple[bytes, bytes]] = []
    position, changed = 12, end != len(data)
    while position < end:
        if position + 8 > end:
            raise InvalidImage("Bad format: the WebP ends inside a chunk.")
        kind = data[position:position + 4]
        size = int.from_bytes(data[position + 4:position + 8], "little")
        if position + 8 + size > end:
            raise InvalidImage("Bad format: the WebP ends inside a chunk.")
        body = data[position + 8:position + 8 + size]
        position += 8 + size + size % 2
        kept = _chunk(kind, body, mode)
        changed |= kept != body
        if kept is not None:
            chunks.append((kind, kept))
    if not changed:
        return data
    return _riff(_with_flags(chunks))


def _chunk(kind: bytes, body: bytes, mode: MetadataMode) -> bytes | None:
    if kind == b"EXIF":
        return strip_exif(body, mode)
    if kind == b"XMP ":
        return strip_xmp(body, mode)
    return body if kind in _KEPT else None


def _with_flags(chunks: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """VP8X announcing exactly the EXIF and XMP chunks that remain."""
    kinds = {kind for kind, _ in chunks}
    flags = (EXIF_FLAG if b"EXIF" in kinds else 0) | (XMP_FLAG if b"XMP " in kinds else 0)
    return [(kind, bytes([body[0] & ~(EXIF_FLAG | XMP_FLAG) | flags]) + body[1:])
            if kind == b"VP8X" and body else (kind, body) for kind, body in chunks]


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(kind + len(data).to_bytes(4, "little") + data + b"\0" * (len(data) % 2)
                    for kind, data in chunks)
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body
