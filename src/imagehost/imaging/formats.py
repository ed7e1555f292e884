"""Image formats, detected from content only (never from a file name or Content-Type)."""

from __future__ import annotations

import re
from enum import StrEnum

from imagehost.errors import InvalidImage, UnsupportedFormat


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    SVG = "svg"

    @property
    def extension(self) -> str:
        return EXTENSIONS[self]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]

    @property
    def animatable(self) -> bool:
        return self in (ImageFormat.GIF, ImageFormat.WEBP)


EXTENSIONS = {
    ImageFormat.JPEG: "jpg",
    ImageFormat.PNG: "png",
    ImageFormat.GIF: "gif",
    ImageFormat.WEBP: "webp",
    ImageFormat.SVG: "svg",
}
CONTENT_TYPES = {
    ImageFormat.JPEG: "image/jpeg",
    ImageFormat.PNG: "image/png",
    ImageFormat.GIF: "image/gif",
    ImageFormat.WEBP: "image/webp",
    ImageFormat.SVG: "image/svg+xml",
}
_BY_EXTENSION = {ext: fmt for fmt, ext in EXTENSIONS.items()} | {"jpeg": ImageFormat.JPEG}

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


def format_from_extension(ext: str) -> ImageFormat:
    try:
        return _BY_EXTENSION[ext.lower().lstrip(".")]
    except KeyError:
        raise UnsupportedFormat(f"Unsupported image format {ext!r}.") from None


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
