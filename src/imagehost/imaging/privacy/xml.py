"""Removing elements and attributes from an XML document (an XMP packet, an SVG) without
rewriting the rest: expat checks the document and reports where each element starts and ends,
and the removed spans are cut out of the original bytes. What remains is the same document,
byte for byte, less whole elements and whole attributes, so it stays well-formed.

Documents with a DOCTYPE (entities) or not in an ASCII-compatible encoding are refused, as is
anything expat refuses: the caller then drops the packet.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.parsers import expat

Name = tuple[str, str]
"""(namespace URI, local name)"""
NameRule = Callable[[Name], bool]

XMLNS = "http://www.w3.org/XML/1998/namespace"
_SPACE = b" \t\r\n"


class UnreadableXml(Exception):
    """Not a document this module can edit safely."""


def remove_from_xml(data: bytes, element: NameRule, attribute: NameRule) -> bytes:
    """`data` without the elements (with their content) for which `element` is true, and the
    attributes for which `attribute` is true; `data` itself when nothing matches."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\0" in data:
        raise UnreadableXml("not UTF-8")
    spans = _Cutter(data, element, attribute).spans()
    if not spans:
        return data
    parts, position = [], 0
    for start, end in spans:
        parts.append(data[position:start])
        position = end
    parts.append(data[position:])
    return b"".join(parts)


class _Cutter:
    def __init__(self, data: bytes, element: NameRule, attribute: NameRule) -> None:
        self.data, self.element, self.attribute = data, element, attribute
        self.scopes: list[dict[str, str]] = [{"xml": XMLNS}]
        self.cut: list[tuple[int, int]] = []
        self.skipping = 0
        """Depth inside an element being removed (0: not inside one)."""
        self.skip_start = 0
        self.skip_empty = False
        parser = expat.ParserCreate()
        parser.ordered_attributes = True
        parser.StartDoctypeDeclHandler = self._refuse
        parser.EntityDeclHandler = self._refuse
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        self.parser = parser

    def spans(self) -> list[tuple[int, int]]:
        try:
            self.parser.Parse(self.data, True)
        except (expat.ExpatError, ValueError, IndexError) as exc:
            raise UnreadableXml(str(exc)) from None
        return self.cut

    def _refuse(self, *args: object) -> None:
        raise UnreadableXml("DOCTYPE")

    def _start(self, name: str, attributes: list[str]) -> None:
        at = self.parser.CurrentByteIndex
        scope = dict(self.scopes[-1])
        for key, value in zip(attributes[::2], attributes[1::2], strict=True):
            if key == "xmlns":
                scope[""] = value
            elif key.startswith("xmlns:"):
                scope[key[6:]] = value
        self.scopes.append(scope)
        if self.skipping:
            self.skipping += 1
            return
        tag = _StartTag(self.data, at)
        if self.element(_resolve(name, scope, default=True)):
            self.skipping, self.skip_start, self.skip_empty = 1, at, tag.empty
            if tag.empty:
                self.cut.append((at, tag.end))
            return
        for raw, start, end in tag.attributes:
            if raw != "xmlns" and not raw.startswith("xmlns:") and \
                    self.attribute(_resolve(raw, scope, default=False)):
                self.cut.append((start, end))

    def _end(self, name: str) -> None:
        self.scopes.pop()
        if not self.skipping:
            return
        self.skipping -= 1
        if self.skipping == 0 and not self.skip_empty:
            end = self.data.index(b">", self.parser.CurrentByteIndex) + 1
            self.cut.append((self.skip_start, end))


def _resolve(raw: str, scope: dict[str, str], *, default: bool) -> Name:
    """A prefixed name's namespace and local name (unprefixed attributes have none)."""
    prefix, _, local = raw.rpartition(":")
    if not prefix and not default:
        return "", local
    return scope.get(prefix, ""), local


class _StartTag:
    """The attributes (raw name and byte span, leading space included) and the end of the
    start tag at `at`, in a document expat has checked."""

    def __init__(self, data: bytes, at: int) -> None:
        self.attributes: list[tuple[str, int, int]] = []
        position = at + 1
        while data[position] not in _SPACE and data[position] not in b"/>":
            position += 1
        while True:
            before = position
            while data[position] in _SPACE:
                position += 1
            if data[position] == ord(">"):
                self.end, self.empty = position + 1, False
                return
            if data[position:position + 2] == b"/>":
                self.end, self.empty = position + 2, True
                return
            name_start = position
            while data[position] not in _SPACE and data[position] != ord("="):
                position += 1
            name = data[name_start:position].decode("utf-8")
            position = data.index(b"=", position) + 1
            while data[position] in _SPACE:
                position += 1
            position = data.index(data[position:position + 1], position + 1) + 1
            self.attributes.append((name, before, position))
