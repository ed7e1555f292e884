"""JPEG XL header facts without decoding: size, orientation, animation and alpha.

The JPEG XL decoder (pillow-jxl-plugin) decodes every pixel as it opens a file, so the limits
are checked on this reading of the codestream header first (ISO/IEC 18181-1 SizeHeader and the
start of ImageMetadata; ISO/IEC 18181-2 boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

CODESTREAM_SIGNATURE = b"\xff\x0a"
CONTAINER_SIGNATURE = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_SIZE = ((1, 9), (1, 13), (1, 18), (1, 30))
_PREVIEW_DIV8 = ((16, 0), (32, 0), (1, 5), (33, 9))
_PREVIEW = ((1, 6), (65, 8), (321, 10), (1345, 12))
_FLOAT_BITS = ((32, 0), (16, 0), (24, 0), (1, 6))
_INT_BITS = ((8, 0), (10, 0), (12, 0), (1, 6))
_EXTRA_CHANNELS = ((0, 0), (1, 0), (2, 4), (1, 12))
_ENUM = ((0, 0), (1, 0), (2, 4), (18, 6))
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
_HEADER_BYTES = 4096
"""More than a SizeHeader and the ImageMetadata fields read here ever take."""
_MAX_BOXES = 256
"""Boxes walked looking for the codestream (real files have about ten)."""


class JxlHeaderError(ValueError):
    """The data is not a readable JPEG XL header; the message says why."""


@dataclass(frozen=True)
class JxlHeader:
    width: int
    """Width as displayed, i.e. after the codestream's orientation."""
    height: int
    orientation: int
    animated: bool
    has_alpha: bool


def read_jxl_header(data: bytes) -> JxlHeader:
    if data.startswith(CODESTREAM_SIGNATURE):
        codestream = data[:_HEADER_BYTES]
    elif data.startswith(CONTAINER_SIGNATURE):
        codestream = _unbox(data)
    else:
        raise JxlHeaderError("no JPEG XL signature")
    if not codestream.startswith(CODESTREAM_SIGNATURE):
        raise JxlHeaderError("the codestream has no signature")
    bits = _Bits(codestream[2:])
    width, height = _size_header(bits)
    orientation, animated, has_alpha = _image_metadata(bits)
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return JxlHeader(width, height, orientation, animated, has_alpha)


def _unbox(data: bytes) -> bytes:
    """The start of a container's codestream: its `jxlc` box, or its `jxlp` parts in order."""
    parts: list[bytes] = []
    position = 0
    for _ in range(_MAX_BOXES):
        if position + 8 > len(data) or sum(map(len, parts)) >= _HEADER_BYTES:
            break
        size = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8]
        start = position + 8
        if size == 1:
            size, start = int.from_bytes(data[start:start + 8], "big"), start + 8
        end = len(data) if size == 0 else position + size
        if end < start:
            raise JxlHeaderError(f"a {kind!r} box is {size} bytes")
        body = data[start:min(end, len(data))]
        if kind == b"jxlc":
            parts.append(body)
        elif kind == b"jxlp":
            parts.append(body[4:])
        position = end
    return b"".join(parts)[:_HEADER_BYTES]


def tiff_of_exif_box(body: bytes) -> bytes:
    """The TIFF structure of an Exif box: after its 4-byte offset, or the whole box when the
    offset is missing (pillow-jxl-plugin writes it so)."""
    if body[:4] in _TIFF_SIGNATURES:
        return body
    return body[4 + int.from_bytes(body[:4], "big"):]


def _size_header(bits: _Bits) -> tuple[int, int]:
    small = bits.flag()
    height = (bits.u(5) + 1) * 8 if small else bits.u32(_SIZE)
    ratio = bits.u(3)
    if ratio:
        numerator, denominator = _RATIOS[ratio]
        return height * numerator // denominator, height
    return ((bits.u(5) + 1) * 8 if small else bits.u32(_SIZE)), height


def _image_metadata(bits: _Bits) -> tuple[int, bool, bool]:
    """Orientation, animation and whether the first extra channel is alpha."""
    if bits.flag():  # all_default
        return 1, False, False
    orientation, animated = 1, False
    if bits.flag():  # extra_fields
        orientation = bits.u(3) + 1
        if bits.flag():  # intrinsic size
            _size_header(bits)
        if bits.flag():  # preview
            div8 = bits.flag()
            bits.u32(_PREVIEW_DIV8 if div8 else _PREVIEW)
            if bits.u(3) == 0:
                bits.u32(_PREVIEW_DIV8 if div8 else _PREVIEW)
        animated = bits.flag()
        if animated:
            return orientation, True, False
    if bits.flag():  # floating-point samples
        bits.u32(_FLOAT_BITS)
        bits.u(4)
    else:
        bits.u32(_INT_BITS)
    bits.flag()  # modular_16bit_buffer_sufficient
    if bits.u32(_EXTRA_CHANNELS) == 0:
        return orientation, False, False
    has_alpha = bits.flag() or bits.u32(_ENUM) == 0  # d_alpha, or of type kAlpha
    return orientation, False, has_alpha


class _Bits:
    """JPEG XL's bit reader: least significant bit first."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "little")
        self._length = len(data) * 8
        self._position = 0

    def u(self, count: int) -> int:
        if self._position + count > self._length:
            raise JxlHeaderError("the header is truncated")
        value = (self._value >> self._position) & ((1 << count) - 1)
        self._position += count
        return value

    def flag(self) -> bool:
        return self.u(1) == 1

    def u32(self, distributions: tuple[tuple[int, int], ...]) -> int:
        offset, count = distributions[self.u(2)]
        return offset + (self.u(count) if count else 0)
