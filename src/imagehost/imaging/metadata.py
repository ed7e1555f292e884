"""What meta=true tells about an original: size, format, an EXIF subset, placeholders."""

from __future__ import annotations

import math
from typing import Any

import pyvips

from imagehost.imaging.foreign import FOREIGN_DECODERS
from imagehost.imaging.probe import ImageInfo

EXIF_FIELDS = {
    "exif-ifd0-Make": "make", "exif-ifd0-Model": "model", "exif-ifd0-Software": "software",
    "exif-ifd0-Orientation": "orientation", "exif-ifd2-DateTimeOriginal": "taken",
    "exif-ifd2-ExposureTime": "exposure_time", "exif-ifd2-FNumber": "f_number",
    "exif-ifd2-ISOSpeedRatings": "iso", "exif-ifd2-FocalLength": "focal_length",
    "exif-ifd2-LensModel": "lens",
}
_BASE83 = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
           "#$%*+,-.:;=?@[]^_{|}~")


def describe(data: bytes, info: ImageInfo, *, expose_gps: bool) -> dict[str, Any]:
    decode = FOREIGN_DECODERS.get(info.format)
    decoded = decode(data) if decode is not None else None
    header = (decoded if decoded is not None
              else pyvips.Image.new_from_source(pyvips.Source.new_from_memory(data), ""))
    exif = {name: _exif_value(header, field) for field, name in EXIF_FIELDS.items()
            if header.get_typeof(field)}
    small = _small_rgb(data, decoded)
    meta: dict[str, Any] = {
        "width": info.width, "height": info.height, "format": info.format.value,
        "frames": info.pages, "has_alpha": info.has_alpha, "exif": exif,
        "blurhash": blurhash(small), "dominant_color": dominant_color(small),
    }
    if expose_gps:
        meta["gps"] = gps_position(header)
    return meta


def gps_position(header: pyvips.Image) -> dict[str, float] | None:
    fields = ("exif-ifd3-GPSLatitude", "exif-ifd3-GPSLatitudeRef",
              "exif-ifd3-GPSLongitude", "exif-ifd3-GPSLongitudeRef")
    if not all(header.get_typeof(f) for f in fields):
        return None
    latitude = _degrees(str(header.get(fields[0])))
    longitude = _degrees(str(header.get(fields[2])))
    if latitude is None or longitude is None:
        return None
    if str(header.get(fields[1])).strip().upper().startswith("S"):
        latitude = -latitude
    if str(header.get(fields[3])).strip().upper().startswith("W"):
        longitude = -longitude
    return {"latitude": round(latitude, 7), "longitude": round(longitude, 7)}


def blurhash(image: pyvips.Image, x_components: int = 4, y_components: int = 3) -> str:
    """The BlurHash (woltapp/blurhash) of a small sRGB image."""
    width, height = image.width, image.height
    pixels = bytes(image.write_to_memory())
    linear = [_to_linear(v) for v in pixels]
    factors: list[tuple[float, float, float]] = []
    for j in range(y_components):
        for i in range(x_components):
            norm = 1.0 if i == 0 and j == 0 else 2.0
            r = g = b = 0.0
            for y in range(height):
                basis_y = math.cos(math.pi * j * y / height)
                row = y * width * 3
                for x in range(width):
                    basis = norm * math.cos(math.pi * i * x / width) * basis_y
                    offset = row + x * 3
                    r += basis * linear[offset]
                    g += basis * linear[offset + 1]
                    b += basis * linear[offset + 2]
            scale = 1.0 / (width * height)
            factors.append((r * scale, g * scale, b * scale))
    dc, ac = factors[0], factors[1:]
    result = _base83((x_components - 1) + (y_components - 1) * 9, 1)
    if ac:
        actual_max = max(abs(v) for factor in ac for v in factor)
        quantised = max(0, min(82, math.floor(actual_max * 166 - 0.5)))
        maximum = (quantised + 1) / 166
        result += _base83(quantised, 1)
    else:
        maximum = 1.0
        result += _base83(0, 1)
    result += _base83((_to_srgb(dc[0]) << 16) + (_to_srgb(dc[1]) << 8) + _to_srgb(dc[2]), 4)
    for factor in ac:
        quant = [max(0, min(18, math.floor(_sign_pow(v / maximum, 0.5) * 9 + 9.5)))
                 for v in factor]
        result += _base83(quant[0] * 19 * 19 + quant[1] * 19 + quant[2], 2)
    return result


def dominant_color(image: pyvips.Image) -> str:
    """The most common colour, in 32-level buckets, as #rrggbb (the bucket's mean)."""
    pixels = bytes(image.write_to_memory())
    buckets: dict[tuple[int, int, int], list[int]] = {}
    for offset in range(0, len(pixels), 3):
        r, g, b = pixels[offset], pixels[offset + 1], pixels[offset + 2]
        total = buckets.setdefault((r >> 5, g >> 5, b >> 5), [0, 0, 0, 0])
        total[0] += r
        total[1] += g
        total[2] += b
        total[3] += 1
    r, g, b, count = max(buckets.values(), key=lambda t: t[3])
    return f"#{r // count:02x}{g // count:02x}{b // count:02x}"


def placeholder_color(image: pyvips.Image) -> str:
    """The dominant colour of a decoded image, kept in its record for a page to show while the
    image loads."""
    return dominant_color(_flat_rgb(image.thumbnail_image(32, height=32)))


def _small_rgb(data: bytes, decoded: pyvips.Image | None) -> pyvips.Image:
    if decoded is not None:
        image = decoded.thumbnail_image(32, height=32)
    else:
        image = pyvips.Image.thumbnail_source(pyvips.Source.new_from_memory(data), 32, height=32)
    return _flat_rgb(image)


def _flat_rgb(image: pyvips.Image) -> pyvips.Image:
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    image = image.colourspace("srgb") if image.bands < 3 else image
    return image.extract_band(0, n=3).cast("uchar").copy_memory()


def _exif_value(header: pyvips.Image, field: str) -> str:
    value = str(header.get(field))
    return value.split(" (", 1)[0].strip()


def _degrees(value: str) -> float | None:
    parts = value.split(" (", 1)[0].split()
    numbers: list[float] = []
    for part in parts[:3]:
        numerator, _, denominator = part.partition("/")
        try:
            numbers.append(float(numerator) / (float(denominator) if denominator else 1.0))
        except (ValueError, ZeroDivisionError):
            return None
    while len(numbers) < 3:
        numbers.append(0.0)
    return numbers[0] + numbers[1] / 60 + numbers[2] / 3600


def _to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _to_srgb(value: float) -> int:
    v = max(0.0, min(1.0, value))
    return round((v * 12.92 if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055) * 255)


def _sign_pow(value: float, exponent: float) -> float:
    return math.copysign(abs(value) ** exponent, value)


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - i - 1)) % 83] for i in range(length))
