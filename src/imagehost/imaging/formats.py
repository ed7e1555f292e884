"""The one registry of image formats: name, spellings, extensions, MIME type, libvips loader and
saver, and what each can carry. Sniffing, key naming, Content-Type, `format=`, import and export
and the stores all read it. Formats are detected from content only, never from a file name or
a Content-Type.
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


@dataclass(frozen=True)
class FormatSpec:
    format: ImageFormat
    mime: str
    extensions: tuple[str, ...]
    """Extensions a path of this format may end in; the first is the one new keys get."""
    aliases: tuple[str, ...] = ()
    """Other spellings accepted by `format=` and variant configurations."""
    loader: str | None = None
    """The libvips loader used for uploads of this format; None: not accepted as an upload."""
    saver: str | None = None
    """The libvips save operation; None: not an output."""
    save_options: Mapping[str, Any] = field(default_factory=dict)
    quality: bool = True
    """Whether the saver takes a quality (Q)."""
    animation: bool = False
    alpha: bool = True
    vector: bool = False


FORMATS: Mapping[ImageFormat, FormatSpec] = MappingProxyType({
    spec.format: spec for spec in (
        FormatSpec(ImageFormat.JPEG, "image/jpeg", ("jpg", "jpeg"), aliases=("jpg",),
                   loader="VipsForeignLoadJpeg", saver="jpegsave",
                   save_options={"optimize_coding": True}, alpha=False),
        # ImageMagick reads quality 90 as zlib 9 without filters; zlib 6 with adaptive filters
        # is 25% faster and half the size (measured in bench/upload.py)
        FormatSpec(ImageFormat.PNG, "image/png", ("png",), loader="VipsForeignLoadPng",
                   saver="pngsave", save_options={"compression": 6, "filter": "all"},
                   quality=False),
        # libimagequant's default effort is 5-8x slower for the same size on resized frames
        FormatSpec(ImageFormat.GIF, "image/gif", ("gif",), loader="VipsForeignLoadNsgif",
                   saver="gifsave", save_options={"effort": 1}, quality=False, animation=True),
        FormatSpec(ImageFormat.WEBP, "image/webp", ("webp",), loader="VipsForeignLoadWebp",
                   saver="webpsave", animation=True),
        FormatSpec(ImageFormat.SVG, "image/svg+xml", ("svg",), loader="VipsForeignLoadSvg",
                   vector=True),
        FormatSpec(ImageFormat.AVIF, "image/avif", ("avif",), saver="heifsave",
                   save_options={"compression": "av1"}),
    )
})
UPLOAD_FORMATS = tuple(f for f, spec in FORMATS.items() if spec.loader)
OUTPUT_FORMATS = tuple(f for f, spec in FORMATS.items() if spec.saver)
LOADERS = tuple(spec.loader for spec in FORMATS.values() if spec.loader)
_BY_NAME = {name: spec.format for spec in FORMATS.values()
            for name in (spec.format.value, *spec.aliases, *spec.extensions)}
_MIME_BY_EXTENSION = {ext: spec.mime for spec in FORMATS.values() for ext in spec.extensions}

# Formats we recognise only to name them in the refusal.
_KNOWN_UNSUPPORTED: list[tuple[bytes, int, str]] = [
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"%PDF", 0, "PDF"),
    (b"\x00\x00\x01\x00", 0, "ICO"),
    (b"8BPS", 0, "PSD"),
    (b"\xff\x0a", 0, "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", 0, "JPEG XL"),
]
_FTYP_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIC", b"heix": "HEIC",
                b"mif1": "HEIF", b"msf1": "HEIF", b"hevc": "HEIC"}
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
        return _FTYP_BRANDS.get(head[8:12], "ISO media")
    return "(unknown)"
