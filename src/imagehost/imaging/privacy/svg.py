"""SVG (already sanitized): the private properties of the RDF/XMP in `<metadata>` (dc:creator,
XMP ids and history...) and the file names drawing programs record (sodipodi:docname,
inkscape:export-filename...) are removed; with strip-all, every `<metadata>` element goes.
The rest of the document is left byte for byte."""

from __future__ import annotations

from imagehost.errors import InvalidImage
from imagehost.imaging.privacy.rules import (
    STRIP_ALL,
    SVG_NS,
    MetadataMode,
    private_svg_attribute,
    private_xmp,
)
from imagehost.imaging.privacy.xml import Name, UnreadableXml, remove_from_xml


def strip_svg(data: bytes, mode: MetadataMode) -> bytes:
    def element(name: Name) -> bool:
        return private_xmp(name) or (mode == STRIP_ALL and name == (SVG_NS, "metadata"))

    try:
        return remove_from_xml(data, element, private_svg_attribute)
    except UnreadableXml as exc:
        raise InvalidImage(f"Bad format: the SVG cannot be read ({exc}).") from None
