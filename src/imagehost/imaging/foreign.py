"""Decoders of what the bundled libvips cannot decode: HEVC (HEIC, HEIF) through pillow-heif
and JPEG XL through pillow-jxl-plugin. Each gives a pyvips image of the displayed pixels (the
format's own orientation applied) carrying the EXIF, XMP and ICC profile, so that variants,
derived images and conversions go on in libvips as for any other format. Only call them on
data whose header passed the limits (probe.py): they decode every pixel at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import pyvips

from imagehost.errors import InvalidImage
from imagehost.imaging.formats import FORMATS, ImageFormat
from imagehost.imaging.jxl import read_jxl_header, tiff_of_exif_box

_BANDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "I;16": 1, "I;16L": 1, "F": 1}
_SAMPLE_FORMATS = {1: "uchar", 2: "ushort", 4: "float"}
# (grey, colour) interpretation by sample format
_INTERPRETATIONS = {"uchar": ("b-w", "srgb"), "ushort": ("grey16", "rgb16"),
                    "float": ("b-w", "scrgb")}
_HEIF_ERRORS = (ValueError, EOFError, SyntaxError, RuntimeError, OSError)
_EXIF_PREFIX = b"Exif\x00\x00"
# JPEG XL codestream orientation (1..8) as libvips operations on the stored pixels
_ORIENT: Mapping[int, Callable[[pyvips.Image], pyvips.Image]] = {
    1: lambda i: i, 2: lambda i: i.fliphor(), 3: lambda i: i.rot180(),
    4: lambda i: i.flipver(), 5: lambda i: i.rot90().fliphor(), 6: lambda i: i.rot90(),
    7: lambda i: i.rot270().fliphor(), 8: lambda i: i.rot270(),
}


def decode_heif(data: bytes) -> pyvips.Image:
    """The primary image of a HEIF file, its irot/imir/clap transforms applied (by libheif)."""
    import pillow_heif  # on first use: 4 MB a server without HEIF uploads never needs

    try:
        heif = pillow_heif.open_heif(data, convert_hdr_to_8bit=True)
        pixels, stride = heif.data, heif.stride
    except _HEIF_ERRORS as exc:
        raise InvalidImage(f"Bad format: the HEIF image cannot be decoded ({_first_line(exc)})."
                           ) from None
    width, height = heif.size
    # 8-bit but for high-bit-depth monochrome, which pillow-heif gives as I;16
    sample = 2 if heif.mode.startswith("I;16") else 1
    image = _from_rows(pixels, width, height, _bands(heif.mode, "HEIF"), sample, stride)
    return _with_metadata(image, heif.info.get("exif"), heif.info.get("xmp"),
                          heif.info.get("icc_profile"))


def decode_jxl(data: bytes) -> pyvips.Image:
    """A JPEG XL image, oriented by its codestream's orientation: libjxl orients the pixels it
    decodes; a recompressed JPEG comes back as that JPEG, oriented here."""
    import pillow_jxl  # on first use, as pillow_heif

    try:
        orientation = read_jxl_header(data).orientation
        is_jpeg, info, pixels, icc, boxes = pillow_jxl.Decoder()(data)
    except (RuntimeError, ValueError) as exc:
        raise InvalidImage(f"Bad format: the JPEG XL image cannot be decoded "
                           f"({_first_line(exc)}).") from None
    if is_jpeg:
        image = pyvips.Image.new_from_buffer(pixels, "", fail_on="error")
        if image.get_typeof("orientation"):
            image.remove("orientation")
        return _ORIENT[orientation](image)
    bands = _bands(info.mode, "JPEG XL")
    sample = len(pixels) // max(1, info.width * info.height * bands)
    if sample not in _SAMPLE_FORMATS:
        raise InvalidImage(f"Bad format: JPEG XL samples of {sample} bytes are not supported.")
    image = _from_rows(pixels, info.width, info.height, bands, sample,
                       info.width * bands * sample)
    exif = next((box.data for box in boxes if box.box_type == b"Exif"), None)
    return _with_metadata(image, exif and tiff_of_exif_box(exif), None, icc)


def _bands(mode: str, name: str) -> int:
    bands = _BANDS.get(mode)
    if bands is None:
        raise InvalidImage(f"Bad format: {name} pixels of mode {mode} are not supported.")
    return bands


def _from_rows(pixels: bytes | memoryview, width: int, height: int, bands: int, sample: int,
               stride: int) -> pyvips.Image:
    """A pyvips image over interleaved rows `stride` bytes apart (no copy when rows are
    packed)."""
    fmt = _SAMPLE_FORMATS[sample]
    if stride == width * bands * sample:
        image = pyvips.Image.new_from_memory(pixels, width, height, bands, fmt)
    else:
        rows = pyvips.Image.new_from_memory(pixels, stride // sample, height, 1, fmt)
        image = rows.crop(0, 0, width * bands, height).bandfold(factor=bands)
    return image.copy(interpretation=_INTERPRETATIONS[fmt][bands > 2])


def _with_metadata(image: pyvips.Image, exif: bytes | None, xmp: bytes | None,
                   icc: bytes | None) -> pyvips.Image:
    """`image` with these blobs attached; libvips parses the EXIF into its exif-* fields, and
    its orientation is dropped: the pixels are oriented already."""
    image = image.copy()
    for name, value in (("exif-data", exif and _EXIF_PREFIX + exif.removeprefix(_EXIF_PREFIX)),
                        ("xmp-data", xmp), ("icc-profile-data", icc)):
        if value:
            image.set_type(pyvips.GValue.blob_type, name, bytes(value))
    if image.get_typeof("orientation"):
        image.remove("orientation")
    return image


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


Decoder = Callable[[bytes], pyvips.Image]
_BY_LIBRARY: Mapping[str, Decoder] = {"pillow-heif": decode_heif, "pillow-jxl": decode_jxl}
FOREIGN_DECODERS: Mapping[ImageFormat, Decoder] = MappingProxyType({
    fmt: _BY_LIBRARY[spec.decoder] for fmt, spec in FORMATS.items() if spec.decoder})
