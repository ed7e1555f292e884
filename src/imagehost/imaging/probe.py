"""Read an image's header (lazily, no pixel decode) and enforce the limits. libvips reads every
header but JPEG XL's (jxl.py reads that)."""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

from imagehost.errors import InvalidImage, LimitExceeded, UnsupportedFormat
from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.jxl import JxlHeaderError, read_jxl_header
from imagehost.imaging.limits import ImageLimits

_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


@dataclass(frozen=True)
class ImageInfo:
    format: ImageFormat
    width: int
    """Width as displayed, i.e. after EXIF orientation."""
    height: int
    pages: int
    orientation: int
    """A JPEG's EXIF orientation, still to apply; 1 for the other formats (HEIF's and JPEG
    XL's decoders orient their pixels)."""
    has_alpha: bool

    @property
    def animated(self) -> bool:
        return self.pages > 1


def check_size(size: int, limits: ImageLimits) -> None:
    if size > limits.max_bytes:
        raise LimitExceeded(
            f"The image is {size} bytes; the limit (max_upload_bytes) is {limits.max_bytes}."
        )


def probe_image(data: bytes, fmt: ImageFormat, limits: ImageLimits) -> ImageInfo:
    """Header facts of `data`; raises before any decode if a limit is exceeded."""
    check_size(len(data), limits)
    if fmt is ImageFormat.GIF and not data.rstrip(b"\x00").endswith(b";"):
        # libnsgif decodes a truncated GIF without complaint, whatever fail_on says
        raise InvalidImage("Bad format: the GIF is truncated (no trailer).")
    info = _jxl_info(data) if fmt is ImageFormat.JXL else _libvips_info(data, fmt)
    check_limits(info, limits)
    return info


def _libvips_info(data: bytes, fmt: ImageFormat) -> ImageInfo:
    """Header facts as libvips reads them; a HEIF's size is after its irot/imir transforms,
    which its decoders apply."""
    try:
        header = pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), "")
    except pyvips.Error as exc:
        raise InvalidImage(
            f"Bad format: the {fmt.value} data cannot be read ({_first_line(exc)})."
        ) from None
    width, height = header.width, header.height
    pages = _int_field(header, "n-pages", 1) if fmt.animatable else 1
    orientation = _int_field(header, "orientation", 1) if fmt is ImageFormat.JPEG else 1
    if orientation in _SWAPPING_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(fmt, width, height, pages, orientation, bool(header.hasalpha()))


def _jxl_info(data: bytes) -> ImageInfo:
    try:
        header = read_jxl_header(data)
    except JxlHeaderError as exc:
        raise InvalidImage(f"Bad format: the jxl data cannot be read ({exc}).") from None
    if header.animated:
        raise UnsupportedFormat("Animated JPEG XL is not supported.")
    # its decoder applies the orientation, as HEIF's do
    return ImageInfo(ImageFormat.JXL, header.width, header.height, 1, 1, header.has_alpha)


def check_limits(info: ImageInfo, limits: ImageLimits) -> None:
    if info.width < 1 or info.height < 1:
        raise InvalidImage("The image has no pixels.")
    if info.format is ImageFormat.SVG and max(info.width, info.height) > limits.max_svg_side:
        raise LimitExceeded(
            f"The SVG declares {info.width}x{info.height}; the limit (max_svg_side) is "
            f"{limits.max_svg_side} px per side."
        )
    if info.pages > limits.max_frames:
        raise LimitExceeded(
            f"The image has {info.pages} frames; the limit (max_frames) is {limits.max_frames}."
        )
    pixels = info.width * info.height * info.pages
    if pixels > limits.max_pixels:
        raise LimitExceeded(
            f"The image has {pixels} pixels ({info.width}x{info.height}"
            f"{f' x {info.pages} frames' if info.pages > 1 else ''}); "
            f"the limit (max_pixels) is {limits.max_pixels}."
        )


def _int_field(image: pyvips.Image, name: str, default: int) -> int:
    if image.get_typeof(name) == 0:
        return default
    return int(image.get(name))


def _first_line(exc: pyvips.Error) -> str:
    detail = (exc.detail or exc.message or "").strip().splitlines()
    return detail[-1] if detail else "unreadable"
