"""The closed sets of values the HTTP API takes, read from the registries that check them, for
the documents that list them (the OpenAPI document): web/ reaches imaging, catalog and storage
through here, and a value added to a registry shows up in the document by itself."""

from __future__ import annotations

from imagehost.catalog.filters import (
    DEFAULT_LIMIT,
    MAX_IN_VALUES,
    MAX_LIMIT,
    MAX_REGEX_LENGTH,
    OPERATORS,
    ORDERS,
    STATUSES,
    SYSTEM_FIELDS,
)
from imagehost.errors import UnsupportedFormat
from imagehost.imaging.derivation import AUTO, FITS, SMART_GRAVITIES
from imagehost.imaging.formats import FORMATS, OUTPUT_FORMATS, ImageFormat, format_named
from imagehost.imaging.variants import GRAVITIES
from imagehost.service.editing import ROTATIONS
from imagehost.service.image_archive import ARCHIVE_KINDS
from imagehost.storage.factory import STORE_NAMES
from imagehost.values import FALSE_WORDS, TRUE_WORDS

__all__ = ["ARCHIVE_KINDS", "DEFAULT_LIMIT", "FITS", "GRAVITIES", "MAX_IN_VALUES", "MAX_LIMIT",
           "MAX_REGEX_LENGTH", "OPERATORS", "ORDERS", "SMART_GRAVITIES", "STATUSES",
           "STORE_NAMES", "SYSTEM_FIELDS"]

BOOLEANS = (*TRUE_WORDS, *FALSE_WORDS)
"""Every spelling of a boolean parameter (in any case)."""
ROTATION_VALUES = tuple(str(angle) for angle in ROTATIONS)


def _spellings(formats: tuple[ImageFormat, ...]) -> tuple[str, ...]:
    """Each name, alias and extension `format_named` reads as one of `formats`."""
    names = dict.fromkeys(name for fmt in formats
                          for name in (fmt.value, *FORMATS[fmt].aliases, *FORMATS[fmt].extensions))
    return tuple(name for name in names if _names_one_of(name, formats))


def _names_one_of(name: str, formats: tuple[ImageFormat, ...]) -> bool:
    try:
        format_named(name, formats)
    except UnsupportedFormat:
        return False
    return True


OUTPUT_FORMAT_NAMES = (*_spellings(OUTPUT_FORMATS), AUTO)
"""The values of `format=` (alias `kind=`): each output format's spellings, and auto."""
