"""What each ORIGINAL_METADATA mode keeps: EXIF tags and XMP properties.

strip-private removes where the picture was taken, who owns the camera or took the picture,
the numbers that identify a camera, a lens or a document, and the maker notes (opaque, with
serial numbers and sometimes positions inside); it keeps what displays and describes the
picture: orientation, capture time, camera and lens models, exposure, copyright.
strip-all keeps only the orientation.
"""

from __future__ import annotations

from typing import Literal

from imagehost.imaging.privacy.exif import ORIENTATION, Entry
from imagehost.imaging.privacy.xml import Name

MetadataMode = Literal["strip-private", "strip-all", "keep"]
STRIP_PRIVATE: MetadataMode = "strip-private"
STRIP_ALL: MetadataMode = "strip-all"
KEEP: MetadataMode = "keep"

PRIVATE_TAGS: dict[str, frozenset[int]] = {
    "ifd0": frozenset({
        0x013B,  # Artist
        0x02BC,  # XMP inside TIFF (its own packet, not rewritten here)
        0x83BB,  # IPTC-NAA (by-line, city, contacts...)
        0x9C9D,  # XPAuthor (Windows)
        0xA430, 0xA431, 0xA435,  # owner and serials misplaced in IFD0
        0xC62F,  # CameraSerialNumber (DNG)
    }),
    "exif": frozenset({
        0xA420,  # ImageUniqueID
        0xA430,  # CameraOwnerName
        0xA431,  # BodySerialNumber
        0xA435,  # LensSerialNumber
        0xA437,  # Photographer (EXIF 3.0)
        0xA438,  # ImageEditor (EXIF 3.0)
    }),
    "gps": frozenset(range(0x10000)),  # the whole GPS IFD goes
    "interop": frozenset(),
}
"""EXIF entries strip-private removes (MakerNote and the other offset-holding tags go in any
rewrite: see exif.UNRELOCATABLE)."""


def keep_exif(mode: MetadataMode, directory: str, entry: Entry) -> bool:
    if mode == STRIP_ALL:
        return directory == "ifd0" and entry.tag == ORIENTATION and entry.number() != 1
    return entry.tag not in PRIVATE_TAGS[directory]


_ALL = frozenset({"*"})
PRIVATE_XMP: dict[str, frozenset[str]] = {
    "http://ns.adobe.com/exif/1.0/": frozenset({"GPS*", "ImageUniqueID", "CameraOwnerName",
                                               "BodySerialNumber", "LensSerialNumber"}),
    "http://cipa.jp/exif/1.0/": frozenset({"GPS*", "ImageUniqueID", "CameraOwnerName",
                                           "BodySerialNumber", "LensSerialNumber",
                                           "Photographer", "ImageEditor"}),
    "http://ns.adobe.com/exif/1.0/aux/": frozenset({"SerialNumber", "LensSerialNumber",
                                                   "OwnerName"}),
    "http://ns.adobe.com/tiff/1.0/": frozenset({"Artist"}),
    "http://purl.org/dc/elements/1.1/": frozenset({"creator"}),
    "http://ns.adobe.com/photoshop/1.0/": frozenset({"AuthorsPosition", "CaptionWriter", "City",
                                                    "State", "Country"}),
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": frozenset({"CreatorContactInfo", "Location",
                                                             "CountryCode"}),
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": frozenset({
        "LocationCreated", "LocationShown", "PersonInImage", "PersonInImageWDetails"}),
    "http://ns.adobe.com/xap/1.0/rights/": frozenset({"Owner"}),
    # document and instance ids, edit history, ingredients with their file paths
    "http://ns.adobe.com/xap/1.0/mm/": _ALL,
    # the extended packet is dropped with the rest of what follows the main one
    "http://ns.adobe.com/xmp/note/": frozenset({"HasExtendedXMP"}),
    # face regions with the names of the people in the picture
    "http://www.metadataworkinggroup.com/schemas/regions/": frozenset({"Regions"}),
    "http://ns.microsoft.com/photo/1.2/": frozenset({"RegionInfo"}),
    # motion photos: the video after the JPEG's end is dropped
    "http://ns.google.com/photos/1.0/camera/": _ALL,
    "http://ns.google.com/photos/1.0/container/": _ALL,
}
"""XMP properties strip-private removes, by namespace: local names, `GPS*` for every name
starting with GPS, `*` for the whole namespace."""


def private_xmp(name: Name) -> bool:
    namespace, local = name
    names = PRIVATE_XMP.get(namespace)
    if names is None:
        return False
    return "*" in names or local in names or ("GPS*" in names and local.startswith("GPS"))


SVG_NS = "http://www.w3.org/2000/svg"
_EDITOR_PATHS = {("http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd", "docname"),
                 ("http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd", "absref"),
                 ("http://www.inkscape.org/namespaces/inkscape", "export-filename")}
"""Attributes in which drawing programs record the author's file names and paths."""


def private_svg_attribute(name: Name) -> bool:
    return name in _EDITOR_PATHS or private_xmp(name)

