"""HEIC, HEIF and AVIF (ISO base media files) and JPEG XL containers: metadata is rewritten in
place. The item locations (`iloc`) of a HEIF point at absolute file offsets, so nothing may
move: the Exif and XMP items are rewritten to a block no longer than before and padded (the
TIFF with zeros after its last IFD, the XMP packet with trailing white space). A block that
cannot be read, or whose rewrite would be longer, becomes an empty TIFF or an empty packet.
The coded image, its properties (orientation is `irot`/`imir` there) and every other byte stay
as they are.

JPEG XL: `Exif` and `xml ` boxes are rewritten the same way; a Brotli-compressed metadata box
(`brob`) cannot be, so it becomes a `skip` box of zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.packets import EXIF_HEADER, strip_exif, strip_xmp
from imagehost.imaging.privacy.rules import MetadataMode

EMPTY_XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
             b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>')
XMP_TYPES = (b"application/rdf+xml", b"application/xmp+xml")


@dataclass(frozen=True)
class Box:
    kind: bytes
    at: int
    """Where the box starts (its size field)."""
    start: int
    """Where the box's payload starts."""
    end: int


def boxes(data: bytes | bytearray, start: int, end: int) -> list[Box]:
    """The boxes between `start` and `end`; InvalidImage if one runs past `end`."""
    found, position = [], start
    while position + 8 <= end:
        size = int.from_bytes(data[position:position + 4], "big")
        kind, header = bytes(data[position + 4:position + 8]), 8
        if size == 1:
            size, header = int.from_bytes(data[position + 8:position + 16], "big"), 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise InvalidImage(f"Bad format: the {kind!r} box runs past its container.")
        found.append(Box(kind, position, position + header, position + size))
        position += size
    return found


def strip_heif(data: bytes, mode: MetadataMode) -> bytes:
    out = bytearray(data)
    meta = next((b for b in boxes(out, 0, len(out)) if b.kind == b"meta"), None)
    if meta is None:
        return data
    children = {b.kind: b for b in boxes(out, meta.start + 4, meta.end)}  # a full box
    if b"iinf" not in children or b"iloc" not in children:
        return data
    kinds = _item_kinds(out, children[b"iinf"])
    idat = children.get(b"idat")
    for item, extents in _item_extents(out, children[b"iloc"], idat).items():
        kind = kinds.get(item)
        if kind == b"Exif":
            _rewrite_in_place(out, extents, lambda block: _heif_exif(block, mode))
        elif kind in XMP_TYPES:
            _rewrite_in_place(out, extents, lambda packet: _packet(packet, mode))
    return data if out == data else bytes(out)


def strip_jxl(data: bytes, mode: MetadataMode) -> bytes:
    if not data.startswith(b"\0\0\0\x0cJXL \r\n\x87\n"):
        return data  # a bare codestream carries no metadata
    out = bytearray(data)
    for box in boxes(out, 0, len(out)):
        if box.kind == b"Exif":
            _rewrite_in_place(out, [(box.start, box.end - box.start)],
                              lambda block: _heif_exif(block, mode))
        elif box.kind == b"xml ":
            _rewrite_in_place(out, [(box.start, box.end - box.start)],
                              lambda packet: _packet(packet, mode))
        elif box.kind == b"brob" and out[box.start:box.start + 4] in (b"Exif", b"xml "):
            out[box.at + 4:box.at + 8] = b"skip"
            out[box.start:box.end] = bytes(box.end - box.start)
    return data if out == data else bytes(out)


def _item_kinds(data: bytearray, iinf: Box) -> dict[int, bytes]:
    """Item id -> item type, or the content type of a `mime` item."""
    version = data[iinf.start]
    first = iinf.start + 4 + (2 if version == 0 else 4)
    kinds: dict[int, bytes] = {}
    for infe in boxes(data, first, iinf.end):
        version = data[infe.start]
        if infe.kind != b"infe" or version < 2:
            continue
        at = infe.start + 4
        id_size = 2 if version == 2 else 4
        item = int.from_bytes(data[at:at + id_size], "big")
        at += id_size + 2
        kind = bytes(data[at:at + 4])
        if kind == b"mime":
            name_end = data.find(b"\0", at + 4, infe.end)
            type_end = data.find(b"\0", name_end + 1, infe.end) if name_end >= 0 else -1
            kind = bytes(data[name_end + 1:type_end if type_end >= 0 else infe.end])
        kinds[item] = kind
    return kinds


def _item_extents(data: bytearray, iloc: Box, idat: Box | None
                  ) -> dict[int, list[tuple[int, int]]]:
    """Item id -> its extents as (file offset, length), for items in this file or `idat`."""
    version = data[iloc.start]
    at = iloc.start + 4

    def number(size: int) -> int:
        nonlocal at
        value = int.from_bytes(data[at:at + size], "big")
        at += size
        return value

    def check() -> None:
        nonlocal budget
        budget -= 1
        if at > iloc.end or budget < 0:
            raise InvalidImage("Bad format: the iloc box is truncated.")

    budget = iloc.end - iloc.start  # items and extents: each takes at least a byte
    sizes = number(2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_size, index_size = (sizes >> 4) & 15, (sizes & 15 if version in (1, 2) else 0)
    items: dict[int, list[tuple[int, int]]] = {}
    for _ in range(number(2 if version < 2 else 4)):
        check()
        item = number(2 if version < 2 else 4)
        method = number(2) & 15 if version in (1, 2) else 0
        number(2)  # data reference index
        base = number(base_size)
        extents = []
        for _ in range(number(2)):
            check()
            number(index_size)
            offset, length = base + number(offset_size), number(length_size)
            if method == 1 and idat is not None:
                offset += idat.start
            extents.append((offset, length))
        if method in (0, 1) and all(o >= 0 and o + n <= len(data) for o, n in extents):
            items[item] = extents
    return items


def _rewrite_in_place(data: bytearray, extents: list[tuple[int, int]],
                      rewrite: Callable[[bytes], bytes]) -> None:
    """Replace the bytes of `extents` by `rewrite` of them (of the same length)."""
    payload = b"".join(bytes(data[o:o + n]) for o, n in extents)
    new = rewrite(payload)
    if new == payload or len(new) != len(payload):
        return
    position = 0
    for offset, length in extents:
        data[offset:offset + length] = new[position:position + length]
        position += length


def _heif_exif(block: bytes, mode: MetadataMode) -> bytes:
    """An Exif item (4-byte offset of the TIFF header, then it) or box, rewritten to the same
    length."""
    if len(block) < 4:
        return bytes(len(block))
    if block[:4] in (b"MM\0*", b"II*\0"):  # some writers leave the offset out
        start = 0
    elif block.startswith(EXIF_HEADER):
        start = len(EXIF_HEADER)
    else:
        start = 4 + int.from_bytes(block[:4], "big")
        if block[start:start + 6] == EXIF_HEADER:  # an offset that points at the Exif header
            start += 6
    tiff = block[start:] if start <= len(block) else b""
    kept = strip_exif(tiff, mode) if tiff else None
    if kept == tiff:
        return block
    if kept is None or len(kept) > len(tiff):
        mark = tiff[:2] if tiff[:2] in (b"II", b"MM") else b"MM"
        order = "little" if mark == b"II" else "big"
        kept = mark + (42).to_bytes(2, order) + (8).to_bytes(4, order) + bytes(6)
        if len(kept) > len(tiff):
            return block[:4] + bytes(len(block) - 4)
    return block[:start] + kept.ljust(len(tiff), b"\0")


def _packet(packet: bytes, mode: MetadataMode) -> bytes:
    kept = strip_xmp(packet, mode)
    if kept == packet:
        return packet
    if kept is None or len(kept) > len(packet):
        kept = EMPTY_XMP if len(EMPTY_XMP) <= len(packet) else b""
    return kept.ljust(len(packet), b" ")
