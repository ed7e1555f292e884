"""The one registry of image formats: name, spellings, extensions, MIME type, libvips loader and
saver, the decoder of what libvips cannot decode, and what each can carry. Sniffing, key
naming, Content-Type, `format=`, import and export and the stores all read it. Formats are
detected from content only, never from a file name or a Content-Type.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from imagehost.errors import InvalidImage, UnsupportedFormat


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    SVG = "svg"
    AVIF = "avif"
    HEIC = "heic"
    HEIF = "heif"
    JXL = "jxl"

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self]

    @property
    def extension(self) -> str:
        """The extension keys of this format get."""
        return FORMATS[self].extensions[0]

    @property
    def content_type(self) -> str:
        return FORMATS[self].mime

    @property
    def animatable(self) -> bool:
        return FORMATS[self].animation

    @property
    def served_as(self) -> ImageFormat:
        """The format variants, derived images and c2corg keys give its pixels by default."""
        return FORMATS[self].web_format or self


@dataclass(frozen=True)
class FormatSpec:
    format: ImageFormat
    mime: str
    extensions: tuple[str, ...]
    """Extensions a path of this format may end in; the first is the one new keys get."""
    aliases: tuple[str, ...] = ()
    """Other spellings accepted by `format=` and variant configurations."""
    loader: str | None = None
    """The libvips loader that reads its header (and decodes it, unless `decoder` is set)."""
    decoder: str | None = None
    """The library that decodes its pixels where the bundled libvips cannot (no HEVC, no JPEG
    XL): "pillow-heif" or "pillow-jxl". A format with a loader or a decoder is an upload."""
    saver: str | None = None
    """The libvips save operation; None: not an output."""
    save_options: Mapping[str, Any] = field(default_factory=dict)
    fast_save_options: Mapping[str, Any] = field(default_factory=dict)
    """Options replacing some of `save_options` for derived images larger than
    FULL_EFFORT_PIXELS: a faster encode for slightly larger files (bench/README.md)."""
    quality: bool = True
    """Whether the saver takes a quality (Q)."""
    animation: bool = False
    alpha: bool = True
    vector: bool = False
    web_format: ImageFormat | None = None
    """Not every browser shows it: variants and derived images are made in this format unless
    asked otherwise, and c2corg's /upload stores the original converted to it."""


FORMATS: Mapping[ImageFormat, FormatSpec] = MappingProxyType({
    spec.format: spec for spec in (
        # optimised Huffman tables: a second pass, 2x the encode for 2% fewer bytes
        FormatSpec(ImageFormat.JPEG, "image/jpeg", ("jpg", "jpeg"), aliases=("jpg",),
                   loader="VipsForeignLoadJpeg", saver="jpegsave",
                   save_options={"optimize_coding": True},
                   fast_save_options={"optimize_coding": False}, alpha=False),
        # ImageMagick reads quality 90 as zlib 9 without filters; zlib 6 with adaptive filters
        # is 25% faster and half the size (measured in bench/upload.py)
        FormatSpec(ImageFormat.PNG, "image/png", ("png",), loader="VipsForeignLoadPng",
                   saver="pngsave", save_options={"compression": 6, "filter": "all"},
                   quality=False),
        # libimagequant's default effort is 5-8x slower for the same size on resized frames
        FormatSpec(ImageFormat.GIF, "image/gif", ("gif",), loader="VipsForeignLoadNsgif",
                   saver="gifsave", save_options={"effort": 1}, quality=False, animation=True),
        # libwebp's method: 2 encodes 2.2x faster than 4 (its default) for 4% more bytes
        FormatSpec(ImageFormat.WEBP, "image/webp", ("webp",), loader="VipsForeignLoadWebp",
                   saver="webpsave", save_options={"effort": 4},
                   fast_save_options={"effort": 2}, animation=True),
        FormatSpec(ImageFormat.SVG, "image/svg+xml", ("svg",), loader="VipsForeignLoadSvg",
                   vector=True),
        # the bundled libvips reads HEIF headers and decodes AV1, not HEVC; it has no JPEG XL
        # libaom tuned for SSIM (libavif's default), not libvips' "iq": 25% faster, and
        # 0.3 dB more PSNR at equal bytes on photos
        FormatSpec(ImageFormat.AVIF, "image/avif", ("avif",), loader="VipsForeignLoadHeif",
                   saver="heifsave", save_options={"compression": "av1", "tune": "ssim"},
                   web_format=ImageFormat.JPEG),
        FormatSpec(ImageFormat.HEIC, "image/heic", ("heic", "heif", "hif"),
                   loader="VipsForeignLoadHeif", decoder="pillow-heif",
                   web_format=ImageFormat.JPEG),
        FormatSpec(ImageFormat.HEIF, "image/heif", ("heif", "heic", "hif"),
                   loader="VipsForeignLoadHeif", decoder="pillow-heif",
                   web_format=ImageFormat.JPEG),
        FormatSpec(ImageFormat.JXL, "image/jxl", ("jxl",), decoder="pillow-jxl",
                   web_format=ImageFormat.JPEG),
    )
})
UPLOAD_FORMATS = tuple(f for f, spec in FORMATS.items() if spec.loader or spec.decoder)
KEY_FORMATS = tuple(f for f in UPLOAD_FORMATS if FORMATS[f].web_format is None)
"""The formats c2corg keys have: the others are converted at upload."""
OUTPUT_FORMATS = tuple(f for f, spec in FORMATS.items() if spec.saver)
LOADERS = tuple(dict.fromkeys(spec.loader for spec in FORMATS.values() if spec.loader))


def _names() -> dict[str, ImageFormat]:
    """Each name, alias and extension: its format. An extension two formats share names the
    one whose first extension it is (.heif is HEIF's first, HEIC's second), else the first."""
    names = {name: spec.format for spec in FORMATS.values()
             for name in (spec.format.value, *spec.aliases, spec.extensions[0])}
    for spec in FORMATS.values():
        for extension in spec.extensions:
            names.setdefault(extension, spec.format)
    return names


_BY_NAME = _names()
_MIME_BY_EXTENSION = {ext: FORMATS[_BY_NAME[ext]].mime for spec in FORMATS.values()
                      for ext in spec.extensions}

# Formats we recognise only to name them in the refusal.
_KNOWN_UNSUPPORTED: list[tuple[bytes, int, str]] = [
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"%PDF", 0, "PDF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"8BPS", 0, "PSD"),
]
_JXL_SIGNATURES = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")
# ISO-BMFF `ftyp` brands: AV1 images and sequences; HEVC images, sequences and their
# multi-layer and range extensions; then images of any codec (libheif decodes their HEVC)
_HEIF_BRANDS = {
    **dict.fromkeys((b"avif", b"avis"), ImageFormat.AVIF),
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"),
                    ImageFormat.HEIC),
    **dict.fromkeys((b"mif1", b"msf1", b"mif2"), ImageFormat.HEIF),
}
_SVG_ROOT = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
_XML_PROLOGUE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:(?:<\?[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)\s*)*",
    re.DOTALL | re.IGNORECASE,
)


def sniff_format(data: bytes) -> ImageFormat:
    """Return the accepted format of `data`, or raise a 400 naming what it is."""
    if not data:
        raise InvalidImage("The upload is empty.")
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return ImageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageFormat.PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ImageFormat.GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageFormat.WEBP
    if head[4:8] == b"ftyp" and (heif := _heif_format(data)) is not None:
        return heif
    if head.startswith(_JXL_SIGNATURES):
        return ImageFormat.JXL
    if _looks_like_svg(data):
        return ImageFormat.SVG
    raise UnsupportedFormat(f"Unsupported image format {_name_unsupported(head)}.")


def format_named(name: str, among: tuple[ImageFormat, ...] = tuple(ImageFormat)) -> ImageFormat:
    """The format a name, alias or extension (`jpg`, `.jpeg`, `webp`) stands for."""
    fmt = _BY_NAME.get(name.strip().lower().lstrip("."))
    if fmt is None or fmt not in among:
        raise UnsupportedFormat(f"Unsupported image format {name!r}; expected one of "
                                f"{', '.join(f.value for f in among)}.")
    return fmt


def format_of_path(path: str) -> ImageFormat | None:
    """The format a path's extension names, or None."""
    extension = posixpath.splitext(path)[1].lower().lstrip(".")
    fmt = _BY_NAME.get(extension)
    return fmt if fmt is not None and extension in FORMATS[fmt].extensions else None


def content_type_of(key: str) -> str:
    """The Content-Type of a stored object, by its key's extension."""
    extension = posixpath.splitext(key)[1].lower().lstrip(".")
    return (_MIME_BY_EXTENSION.get(extension) or mimetypes.guess_type(key)[0]
            or "application/octet-stream")


def _heif_format(data: bytes) -> ImageFormat | None:
    """The HEIF format an ISO-BMFF file's brands name: the first codec-specific one (the
    major brand, then the compatible brands), else HEIF for a generic image brand."""
    end = min(int.from_bytes(data[:4], "big"), 256, len(data))
    brands = (data[8:12], *(data[i:i + 4] for i in range(16, end - 3, 4)))
    found = [_HEIF_BRANDS[brand] for brand in brands if brand in _HEIF_BRANDS]
    return next((f for f in found if f is not ImageFormat.HEIF), found[0] if found else None)


def _looks_like_svg(data: bytes) -> bool:
    head = data[:4096]
    prologue = _XML_PROLOGUE.match(head)
    rest = head[prologue.end():] if prologue else head
    return bool(_SVG_ROOT.match(rest))


def _name_unsupported(head: bytes) -> str:
    for magic, offset, name in _KNOWN_UNSUPPORTED:
        if head[offset:offset + len(magic)] == magic:
            return name
    if head[4:8] == b"ftyp":
        return "ISO media"
    return "(unknown)"
