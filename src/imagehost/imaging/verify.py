"""Check that an image decodes to its last byte without keeping its pixels: what a header
check cannot tell (a truncated or corrupt body) before anything is written."""

from __future__ import annotations

import pyvips

from imagehost.errors import InvalidImage
from imagehost.imaging.probe import ImageInfo

CHECK_SIDE = 64
"""The size decoded to: shrink-on-load (JPEG DCT scaling, WebP, SVG) decodes at a fraction of
the cost and memory; every byte of the image is still read and checked."""


def check_decodes(data: bytes, info: ImageInfo) -> None:
    """Decode every frame of `data` (already probed, so within the limits) with
    fail_on=error; raises InvalidImage if any part of it cannot be decoded."""
    options = "fail_on=error,n=-1" if info.animated else "fail_on=error"
    try:
        image = pyvips.Image.thumbnail_source(pyvips.Source.new_from_memory(data), CHECK_SIDE,
                                              height=CHECK_SIDE, size="down",
                                              option_string=options)
        image.avg()  # pulls every pixel through the decoder
    except pyvips.Error as exc:
        detail = (exc.detail or exc.message or "").strip().splitlines()
        raise InvalidImage(f"Bad format: the {info.format.value} data cannot be decoded "
                           f"({detail[-1] if detail else 'unreadable'}).") from None
