"""An EXIF block and an XMP packet under a mode: what remains of them, or None when they go.
A block or packet that cannot be read safely goes as a whole."""

from __future__ import annotations

from functools import partial

from imagehost.imaging.privacy.exif import UnreadableExif, rewrite_exif
from imagehost.imaging.privacy.rules import STRIP_ALL, MetadataMode, keep_exif, private_xmp
from imagehost.imaging.privacy.xml import UnreadableXml, remove_from_xml

EXIF_HEADER = b"Exif\0\0"


def strip_exif(block: bytes, mode: MetadataMode) -> bytes | None:
    """A TIFF block, optionally behind the `Exif\\0\\0` header JPEG uses (kept if present)."""
    header = EXIF_HEADER if block.startswith(EXIF_HEADER) else b""
    try:
        tiff = rewrite_exif(block[len(header):], partial(keep_exif, mode))
    except UnreadableExif:
        return None
    return None if tiff is None else header + tiff


def strip_xmp(packet: bytes, mode: MetadataMode) -> bytes | None:
    if mode == STRIP_ALL:
        return None
    try:
        return remove_from_xml(packet, private_xmp, private_xmp)
    except UnreadableXml:
        return None
