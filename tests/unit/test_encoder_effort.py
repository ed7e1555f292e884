"""Encoder effort by output size: derived images larger than FULL_EFFORT_PIXELS get the format
registry's fast saver options, smaller ones (and upload variants) its full-effort options."""

import pytest
import pyvips

from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.render import configure_libvips, encode, encode_output
from tests import imagegen

configure_libvips(1)
LARGE = pyvips.Image.new_from_buffer(imagegen.photo_png(512, 341), "").copy_memory()
SMALL = LARGE.thumbnail_image(200).copy_memory()
PIXELS = 256 * 256


def pixels_of(data: bytes) -> bytes:
    return pyvips.Image.new_from_buffer(data, "").write_to_memory()


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_a_large_output_is_encoded_with_the_fast_options(fmt: str) -> None:
    fast = encode_output(LARGE, fmt, 80, 0, PIXELS)
    full = encode_output(LARGE, fmt, 80, 0, None)

    assert fast == encode(LARGE, ImageFormat(fmt), quality=80, fast=True)
    assert full == encode(LARGE, ImageFormat(fmt), quality=80)
    assert fast != full


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif", "png"])
def test_an_output_up_to_the_threshold_keeps_full_effort(fmt: str) -> None:
    assert SMALL.width * SMALL.height <= PIXELS
    assert encode_output(SMALL, fmt, 80, 0, PIXELS) == encode_output(SMALL, fmt, 80, 0, None)


def test_zero_pixels_encodes_every_size_fast() -> None:
    assert encode_output(SMALL, "webp", 80, 0, 0) == \
        encode(SMALL, ImageFormat.WEBP, quality=80, fast=True)


def test_fast_jpeg_only_skips_the_huffman_pass() -> None:
    """Standard Huffman tables: the same pixels, a few more bytes."""
    fast = encode_output(LARGE, "jpeg", 82, 0, PIXELS)
    full = encode_output(LARGE, "jpeg", 82, 0, None)

    assert pixels_of(fast) == pixels_of(full)
    assert len(full) < len(fast) < 1.25 * len(full)  # 2% on real photos (bench/README.md)


def test_fast_webp_stays_close_in_size() -> None:
    fast = encode_output(LARGE, "webp", 80, 0, PIXELS)
    full = encode_output(LARGE, "webp", 80, 0, None)

    assert 0.9 * len(full) < len(fast) < 1.2 * len(full)
