"""Metadata of originals: what ORIGINAL_METADATA keeps of an image's EXIF, XMP and text
metadata, bytes in, bytes out, without decoding a pixel.

`strip_metadata` edits the container only (JPEG segments, PNG chunks, WebP RIFF chunks, GIF
extension blocks, the SVG text, HEIF items and JPEG XL boxes in place): the image data is
copied untouched. It returns `data` itself
when nothing had to change, so running it twice changes nothing the second time. A format it
does not know is returned as it came.
"""

from __future__ import annotations

from collections.abc import Callable

from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.privacy.gif import strip_gif
from imagehost.imaging.privacy.isobmff import strip_heif, strip_jxl
from imagehost.imaging.privacy.jpeg import strip_jpeg
from imagehost.imaging.privacy.png import strip_png
from imagehost.imaging.privacy.rules import KEEP, STRIP_ALL, STRIP_PRIVATE, MetadataMode
from imagehost.imaging.privacy.svg import strip_svg
from imagehost.imaging.privacy.webp import strip_webp

__all__ = ["KEEP", "STRIP_ALL", "STRIP_PRIVATE", "MetadataMode", "strip_metadata"]

_STRIPPERS: dict[str, Callable[[bytes, MetadataMode], bytes]] = {
    ImageFormat.JPEG.value: strip_jpeg,
    ImageFormat.PNG.value: strip_png,
    ImageFormat.WEBP.value: strip_webp,
    ImageFormat.GIF.value: strip_gif,
    ImageFormat.SVG.value: strip_svg,
    "heic": strip_heif, "heif": strip_heif, "avif": strip_heif, "jxl": strip_jxl,
}


def strip_metadata(data: bytes, fmt: ImageFormat, mode: MetadataMode) -> bytes:
    """`data` (an image of format `fmt`) with the metadata `mode` removes; raises InvalidImage
    when its structure cannot be walked."""
    strip = _STRIPPERS.get(fmt.value)
    if mode == KEEP or strip is None:
        return data
    return strip(data, mode)
