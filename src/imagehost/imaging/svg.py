"""SVG sanitizing: keep drawing, drop everything that runs code or reaches outside the file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from imagehost.errors import InvalidImage

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
_FORBIDDEN_ELEMENTS = {"script", "foreignobject", "iframe", "embed", "object", "handler",
                       "listener", "audio", "video"}
_ANIMATIONS = {"animate", "set", "animatetransform", "animatemotion"}
_SAFE_DATA_URI = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(?!#)[^)]*\1\s*\)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.IGNORECASE)


def sanitize_svg(data: bytes) -> bytes:
    """Return a safe copy of an SVG document, or raise InvalidImage if it cannot be parsed."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True,
                                 forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidImage(f"Refused SVG: {type(exc).__name__} (entities and external "
                           "references are not allowed).") from None
    except ET.ParseError as exc:
        raise InvalidImage(f"Bad format: the SVG is not well-formed XML ({exc}).") from None
    if _local(root.tag) != "svg":
        raise InvalidImage("Bad format: the XML document's root is not <svg>.")
    _clean(root)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _clean(element: ET.Element) -> None:
    for child in list(element):
        if not isinstance(child.tag, str) or _is_forbidden(child):
            element.remove(child)
        else:
            _clean(child)
    for name in list(element.attrib):
        if _is_forbidden_attribute(name, element.attrib[name]):
            del element.attrib[name]
        elif _local(name) == "style":
            element.attrib[name] = _clean_css(element.attrib[name])
    if _local(element.tag) == "style" and element.text:
        element.text = _clean_css(element.text)


def _is_forbidden(element: ET.Element) -> bool:
    name = _local(element.tag)
    if name in _FORBIDDEN_ELEMENTS:
        return True
    if name in _ANIMATIONS:
        target = element.attrib.get("attributeName", "").lower()
        return target.startswith("on") or _local(target) == "href"
    return False


def _is_forbidden_attribute(name: str, value: str) -> bool:
    local = _local(name).lower()
    if local.startswith("on"):
        return True
    if local == "href" or local == "src":
        target = value.strip()
        return not (target.startswith("#") or _SAFE_DATA_URI.match(target))
    return False


def _clean_css(text: str) -> str:
    return _CSS_URL.sub("none", _CSS_IMPORT.sub("", text))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
