"""Image keys: c2corg's `<unix seconds>_<random>.<ext>`."""

from __future__ import annotations

import re
import secrets
import time

from imagehost.errors import InvalidKey
from imagehost.imaging.formats import KEY_FORMATS, ImageFormat

_EXTENSIONS = "|".join(f.extension for f in KEY_FORMATS)
RANDOM_DIGITS = 10
"""c2c_images pads the random part to 10 digits; v6_images's and its key patterns accept it."""
RANDOM_RANGE = 10**RANDOM_DIGITS
ORIGINAL_KEY = re.compile(rf"^\d+_\d+\.({_EXTENSIONS})$")


def new_image_key(fmt: ImageFormat, now: float | None = None) -> str:
    seconds = int(time.time() if now is None else now)
    return f"{seconds}_{secrets.randbelow(RANDOM_RANGE):0{RANDOM_DIGITS}d}.{fmt.extension}"


def check_original_key(key: str) -> str:
    """A c2corg original key (`\\d+_\\d+.ext`); older keys have unpadded random parts."""
    if not ORIGINAL_KEY.match(key):
        raise InvalidKey(f"Invalid image key {key!r}: expected <digits>_<digits>."
                         f"({_EXTENSIONS}).")
    return key
