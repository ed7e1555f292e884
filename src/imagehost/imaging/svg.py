"""SVG sanitizing: keep drawing, drop everything that runs code or reaches outside the file, and
refuse what would make the renderer work without bound.

The document is read with expat directly, so that entity handling is ours: internal entities
whose value is plain text are expanded (Adobe Illustrator declares its namespaces that way);
external, parameter, unparsed and markup-holding entities are refused. Element count and depth
are bounded while parsing; the copies that `<use>`, `url(#id)` and marker references draw are
counted after cleaning. Nothing recurses on the document's depth except ElementTree's
serializer, which the depth bound keeps far from Python's recursion limit.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from xml.parsers import expat

from imagehost.errors import InvalidImage, LimitExceeded
from imagehost.imaging.limits import ImageLimits

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_DEPTH = 256
"""Deepest element nesting accepted (libxml2, which librsvg uses, stops at 256 as well)."""
MAX_ENTITIES = 100
"""Most entity declarations accepted (an Illustrator export declares about a dozen)."""

_FORBIDDEN_ELEMENTS = {"script", "foreignobject", "iframe", "embed", "object", "handler",
                       "listener", "audio", "video", "include", "link", "meta", "base",
                       "frame", "frameset", "applet", "portal"}
_XHTML_NS = "{http://www.w3.org/1999/xhtml}"
"""XHTML elements are never drawn outside <foreignObject>, but a browser fetches what they
name (img srcset, body background...): they go, whatever their name."""
_URL_ATTRIBUTES = {"href", "src", "srcset", "background", "poster", "action", "formaction",
                   "ping", "manifest", "codebase", "archive", "lowsrc", "dynsrc", "longdesc",
                   "cite", "profile", "icon"}
"""Attributes holding a URL (HTML's too: an SVG inlined in an HTML page makes some of its
elements HTML ones); kept only when local or a raster data: URI."""
_ANIMATIONS = {"animate", "set", "animatetransform", "animatemotion", "animatecolor"}
_PREDEFINED_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_SAFE_DATA_URI = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,", re.IGNORECASE)
_SAFE_CSS_URL_TARGET = re.compile(
    r"#[\w.:-]*|data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
# Every construct by which CSS fetches: url() (quoted, unquoted or unclosed), @import (with
# its string or url), and the functions that take a URL as a string.
_CSS_IMPORT = re.compile(r"""@import(?:[^;"']+|"[^"]*"?|'[^']*'?)*+;?""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"?|'([^']*)'?|([^)]*))\s*\)?""", re.IGNORECASE)
_CSS_FETCHING_FUNCTION = re.compile(
    r"""(?:image-set|image|cross-fade|src|attr|expression)\((?:[^)"']+|"[^"]*"?|'[^']*'?)*+\)?""",
    re.IGNORECASE)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\r\n\f])?|(\r\n|[\r\n\f])|(.))",
                         re.DOTALL)
_ENTITY_REFERENCE = re.compile(r"&([^\s&;<>\"'#%]+);")
_LOCAL_URL_REFERENCE = re.compile(r"""url\(\s*["']?#([^"')\s]+)""", re.IGNORECASE)
_NOT_INSTANTIATING = {"a", "discard", *_ANIMATIONS}
"""Elements whose href points at an element without drawing it again."""

ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def sanitize_svg(data: bytes, limits: ImageLimits) -> bytes:
    """Return a safe copy of an SVG document. Raises InvalidImage (400) if it is malformed or
    refused, LimitExceeded (413) if it is larger or more complex than `limits` allow."""
    if len(data) > limits.max_svg_bytes:
        raise LimitExceeded(f"The SVG is {len(data)} bytes; the limit (max_svg_bytes) is "
                            f"{limits.max_svg_bytes}.")
    root = _SvgReader(data, limits).read()
    _clean(root)
    _check_instances(root, limits.max_svg_elements)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


class _SvgReader:
    """One expat pass building an ElementTree, with the entity, depth and count rules."""

    def __init__(self, data: bytes, limits: ImageLimits) -> None:
        self._data = data
        self._limits = limits
        self._builder = ET.TreeBuilder()
        self._depth = 0
        self._elements = 0
        self._declarations = 0
        self._entities: dict[str, str] = {}
        parser = expat.ParserCreate(namespace_separator="}")
        parser.ordered_attributes = True
        parser.specified_attributes = True  # ATTLIST defaults are not copied onto elements
        parser.buffer_text = True
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._builder.data
        parser.EntityDeclHandler = self._entity_declared
        parser.EndDoctypeDeclHandler = self._check_expansion
        parser.SkippedEntityHandler = self._entity_skipped
        parser.ExternalEntityRefHandler = self._external_entity
        self._parser = parser

    def read(self) -> ET.Element:
        try:
            self._parser.Parse(self._data, True)
        except expat.ExpatError as exc:
            raise InvalidImage(f"Bad format: the SVG is not well-formed XML ({exc}).") from None
        except (LookupError, ValueError) as exc:  # an encoding Python lacks, or a multi-byte one
            raise InvalidImage(f"Bad format: the SVG's encoding cannot be read ({exc}).") \
                from None
        return self._builder.close()

    def _start(self, name: str, attributes: list[str]) -> None:
        self._elements += 1
        if self._elements > self._limits.max_svg_elements:
            raise LimitExceeded(f"The SVG has more than {self._limits.max_svg_elements} "
                                f"elements; the limit (max_svg_elements) is "
                                f"{self._limits.max_svg_elements}.")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise InvalidImage(f"Refused SVG: its elements are nested more than {MAX_DEPTH} "
                               "deep.")
        tag = _qualified(name)
        if self._elements == 1 and _local(tag) != "svg":
            raise InvalidImage("Bad format: the XML document's root is not <svg>.")
        self._builder.start(tag, {_qualified(attributes[i]): attributes[i + 1]
                                  for i in range(0, len(attributes), 2)})

    def _end(self, name: str) -> None:
        self._depth -= 1
        self._builder.end(_qualified(name))

    def _entity_declared(self, name: str, is_parameter: int, value: str | None,
                         _base: str | None, system_id: str | None, _public_id: str | None,
                         _notation: str | None) -> None:
        self._declarations += 1
        if is_parameter:
            raise InvalidImage(f"Refused SVG: the parameter entity %{_shown(name)}; is not "
                               "allowed (only internal text entities are expanded).")
        if value is None:
            raise InvalidImage(f"Refused SVG: the entity &{_shown(name)}; is external; "
                               "external entities are not allowed.")
        if any(char in value for char in "&<%"):
            raise InvalidImage(f"Refused SVG: the entity &{_shown(name)}; holds markup or "
                               "references (&, < or %); entities may hold only plain text.")
        if self._declarations > MAX_ENTITIES:
            raise InvalidImage(f"Refused SVG: it declares more than {MAX_ENTITIES} entities.")
        self._entities.setdefault(name, value)

    def _check_expansion(self) -> None:
        """Before the body is parsed: the document with every entity reference expanded
        (counted over the whole text, so an over-estimate) must fit in max_svg_bytes."""
        if not self._entities:
            return
        largest = max(len(value) for value in self._entities.values())
        size = len(self._data)
        for name, count in Counter(_ENTITY_REFERENCE.findall(_as_text(self._data))).items():
            value = self._entities.get(name)
            if value is None and name in _PREDEFINED_ENTITIES:
                continue
            # a name that does not match (another encoding) counts as the largest entity
            size += count * max(0, (largest if value is None else len(value)) - len(name) - 2)
        if size > self._limits.max_svg_bytes:
            raise LimitExceeded(f"Expanding its entities makes the SVG {size} bytes; the limit "
                                f"(max_svg_bytes) is {self._limits.max_svg_bytes}.")

    def _entity_skipped(self, name: str, is_parameter: int) -> None:
        reference = f"%{_shown(name)};" if is_parameter else f"&{_shown(name)};"
        raise InvalidImage(f"Refused SVG: the entity {reference} is not declared in the "
                           "document (external definitions are not read).")

    def _external_entity(self, _context: str, _base: str | None, _system_id: str | None,
                         _public_id: str | None) -> int:
        raise InvalidImage("Refused SVG: external entities are not allowed.")


def _shown(name: str) -> str:
    """A name from the document, short enough for a message."""
    return name if len(name) <= 40 else name[:40] + "..."


def _qualified(name: str) -> str:
    """expat's `uri}local` as ElementTree's `{uri}local`."""
    return "{" + name if "}" in name else name


def _as_text(data: bytes) -> str:
    """The document as text for counting entity references: UTF-16 decoded, anything else
    (UTF-8 and the single-byte encodings expat reads) byte for byte."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    if data[:2] == b"<\x00":
        return data.decode("utf-16-le", errors="replace")
    if data[:2] == b"\x00<":
        return data.decode("utf-16-be", errors="replace")
    return data.decode("latin-1")


def _clean(root: ET.Element) -> None:
    """Remove forbidden elements and attributes, walking the tree without recursion."""
    stack = [root]
    while stack:
        element = stack.pop()
        if _local(element.tag) == "style":
            # CSS is the style element's text: flatten it, so nothing hides between children
            text = "".join(element.itertext())
            del element[:]
            element.text = _clean_css(text)
        else:
            _drop_forbidden_children(element)
            stack.extend(element)
        _clean_attributes(element)


def _drop_forbidden_children(element: ET.Element) -> None:
    children = list(element)
    if not any(_is_forbidden(child) for child in children):
        return
    kept: list[ET.Element] = []
    for child in children:
        if not _is_forbidden(child):
            kept.append(child)
        elif child.tail:  # the text after a removed element stays where it was
            if kept:
                kept[-1].tail = (kept[-1].tail or "") + child.tail
            else:
                element.text = (element.text or "") + child.tail
    element[:] = kept


def _is_forbidden(element: ET.Element) -> bool:
    if not isinstance(element.tag, str) or element.tag.startswith(_XHTML_NS):
        return True
    name = _local(element.tag)
    if name in _FORBIDDEN_ELEMENTS:
        return True
    if name in _ANIMATIONS:
        target = _local(element.attrib.get("attributeName", "").strip())
        return target.startswith("on") or target == "base" or target in _URL_ATTRIBUTES
    return False


def _clean_attributes(element: ET.Element) -> None:
    for name, value in list(element.attrib.items()):
        local = _local(name)
        if local.startswith("on") or local == "base":
            del element.attrib[name]
        elif local in _URL_ATTRIBUTES:
            target = value.strip()
            if not (target.startswith("#") or _SAFE_DATA_URI.match(target)):
                del element.attrib[name]
        elif not name.startswith("{"):
            # presentation attributes (fill, filter, mask, marker-end, cursor...), style, and
            # the values animations set are all read as CSS (none of them is namespaced)
            cleaned = _clean_css(value)
            if cleaned != value:
                element.attrib[name] = cleaned.strip()


def _clean_css(text: str) -> str:
    """CSS without any way to fetch: escapes are decoded first (so `u\\72l(` and `@\\69mport`
    are seen for what they are), then every url() not pointing at `#id` or a raster data: URI,
    every @import and every function taking a URL as a string is replaced."""
    if "\\" not in text and "(" not in text and "@" not in text:
        return text
    text = _CSS_ESCAPE.sub(_unescape, text).replace("\\", "")
    for _ in range(8):
        cleaned = _CSS_IMPORT.sub(" ", text)
        cleaned = _CSS_URL.sub(_local_url_or_none, cleaned)
        cleaned = _CSS_FETCHING_FUNCTION.sub("none ", cleaned)
        if cleaned == text:
            return text
        text = cleaned
    raise InvalidImage("Refused SVG: its CSS cannot be cleaned.")


def _unescape(match: re.Match[str]) -> str:
    hex_digits, newline, char = match.groups()
    if hex_digits:
        code = int(hex_digits, 16)
        return chr(code) if _is_xml_char(code) else "\ufffd"
    return "" if newline is not None else char


def _is_xml_char(code: int) -> bool:
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def _local_url_or_none(match: re.Match[str]) -> str:
    target = next((group for group in match.groups() if group is not None), "").strip()
    return match.group(0) if _SAFE_CSS_URL_TARGET.fullmatch(target) else "none "


def _check_instances(root: ET.Element, limit: int) -> None:
    """Refuse a document that draws more than `limit` elements once every copy is counted: the
    copies `<use>` (and other hrefs) and `url(#id)` references (fill, clip-path, mask, filter
    and the like, in attributes, style attributes and `<style>` rules) make, transitively, and a
    marker once per vertex of the shapes it applies to. Circular references are refused."""
    _InstanceCount(root, limit).check()


class _InstanceCount:
    """Counts over the tree and its references with one iterative depth-first walk. Each
    reference costs at least one, so the references are listed first: more than `limit` of
    them is refused before the walk, which keeps the walk's work within `limit`."""

    def __init__(self, root: ET.Element, limit: int) -> None:
        self._root = root
        self._limit = limit
        self._groups: dict[ET.Element, list[ET.Element]] = {}
        self._by_id = self._index(root)
        budget = limit - sum(1 for _ in root.iter())
        rules = _StyleRules(root, self._by_id, limit)
        self._references: dict[ET.Element, list[tuple[bool, ET.Element]]] = {}
        for element in root.iter():
            found = list(self._find_references(element, rules))
            budget -= len(found)
            if budget < 0:
                self._refuse()
            if found:
                self._references[element] = found
        self._markers = any(marker for found in self._references.values()
                            for marker, _ in found)

    def _index(self, root: ET.Element) -> dict[str, ET.Element]:
        """What each id draws: its element; a stand-in counting one for a gradient (a paint,
        not a drawing); for a repeated id, a group counting as its largest element."""
        by_id: dict[str, list[ET.Element]] = {}
        for element in root.iter():
            ident = element.get("id")
            if ident is not None:
                by_id.setdefault(ident.strip(), []).append(element)
        index = {}
        for ident, elements in by_id.items():
            drawn = [e for e in elements if _local(e.tag) not in _PAINT_SERVERS]
            if not drawn:
                index[ident] = _NOTHING
            elif len(drawn) == 1:
                index[ident] = drawn[0]
            else:
                group = ET.Element("id-group")
                self._groups[group] = drawn
                index[ident] = group
        return index

    def check(self) -> None:
        counts: dict[ET.Element, int] = {}
        vertices: dict[ET.Element, int] = {}
        walking: set[ET.Element] = set()
        stack: list[tuple[ET.Element, bool]] = [(self._root, False)]
        while stack:
            element, finished = stack.pop()
            if finished:
                walking.discard(element)
                self._finish(element, counts, vertices)
                continue
            if element in counts:
                continue
            if element in walking:
                raise InvalidImage(f"Refused SVG: it has a circular reference (through "
                                   f"<{_local(element.tag)}{_id_text(element)}>).")
            walking.add(element)
            stack.append((element, True))
            stack.extend((child, False) for child in self._successors(element)
                         if child not in counts)

    def _successors(self, element: ET.Element) -> Iterator[ET.Element]:
        yield from self._groups.get(element, element)
        yield from (target for _, target in self._references.get(element, ()))

    def _finish(self, element: ET.Element, counts: dict[ET.Element, int],
                vertices: dict[ET.Element, int]) -> None:
        """The element's count (itself, its children, the copies it draws) and, when markers
        are used, the vertices a marker set on it applies to (its own, its children's, and
        those of what it `<use>`s)."""
        members = self._groups.get(element)
        if members is not None:
            counts[element] = max(counts[member] for member in members)
            vertices[element] = max(vertices.get(member, 0) for member in members)
            return
        total = 1 + sum(counts[child] for child in element)
        references = self._references.get(element, ())
        if self._markers:
            own = _vertex_bound(element) + sum(vertices[child] for child in element)
            if _local(element.tag) == "use":
                own += sum(vertices[target] for marker, target in references if not marker)
            vertices[element] = min(own, self._limit + 1)
        for marker, target in references:
            total += vertices[element] * counts[target] if marker else counts[target]
            if total > self._limit:
                self._refuse()
        if total > self._limit:
            self._refuse()
        counts[element] = total

    def _find_references(self, element: ET.Element, rules: _StyleRules
                         ) -> Iterator[tuple[bool, ET.Element]]:
        """(is a marker, the element drawn) for each reference of `element`."""
        name = _local(element.tag)
        for attribute, value in element.attrib.items():
            local = _local(attribute)
            if local == "href":
                target = value.strip()
                if target.startswith("#") and name not in _NOT_INSTANTIATING:
                    yield from self._target(False, target[1:])
            elif local == "style":
                for declaration in value.split(";"):
                    prop, _, text = declaration.partition(":")
                    yield from self._url_targets(_is_marker(prop), text)
            else:
                yield from self._url_targets(_is_marker(local), value)
        for marker, ident in rules.references(element, name):
            yield from self._target(marker, ident)

    def _url_targets(self, marker: bool, value: str) -> Iterator[tuple[bool, ET.Element]]:
        if "url(" in value.lower():
            for ident in _LOCAL_URL_REFERENCE.findall(value):
                yield from self._target(marker, ident)

    def _target(self, marker: bool, ident: str) -> Iterator[tuple[bool, ET.Element]]:
        target = self._by_id.get(ident)
        if target is not None:
            yield marker, target

    def _refuse(self) -> None:
        raise LimitExceeded(f"The SVG's <use>, url() and marker references make it draw more "
                            f"than {self._limit} elements; the limit (max_svg_elements) is "
                            f"{self._limit}.")


_PAINT_SERVERS = {"lineargradient", "radialgradient", "solidcolor"}
_NOTHING = ET.Element("nothing")
"""What a reference to a gradient draws: one element, no vertices."""
_SHAPES_WITH_MARKERS = {"path", "line", "polyline", "polygon"}
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_CSS_TOKEN = re.compile(r"[{};]|[^{};]+")
_CSS_COMPOUND_SELECTOR = re.compile(r"(\*|[\w-]+)?((?:[.#][\w-]+)*)")
_CSS_SELECTOR_NOISE = re.compile(r"\[[^\]]*\]?|::?[\w-]+(?:\([^)]*\)?)?")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PATH_COMMAND = re.compile(r"([MmLlHhVvCcSsQqTtAaZz])([^MmLlHhVvCcSsQqTtAaZz]*)")
_PATH_NUMBERS_PER_VERTEX = {"m": 2, "l": 2, "t": 2, "h": 1, "v": 1, "s": 4, "q": 4, "c": 6,
                            "a": 7, "z": 0}


class _StyleRules:
    """The `url(#id)` references of the `<style>` sheets, each filed under a key that every
    element its rule can apply to has: the id, a class or the tag of the last compound part
    of the selector; else (and for a declaration outside a plain rule) under every element."""

    def __init__(self, root: ET.Element, by_id: dict[str, ET.Element], limit: int) -> None:
        self._by_id = by_id
        self._room = limit
        self._keyed: dict[tuple[str, str], list[tuple[bool, str]]] = {}
        self._everywhere: list[tuple[bool, str]] = []
        self._markers_everywhere: list[tuple[bool, str]] = []
        for element in root.iter():
            if _local(element.tag) == "style" and element.text and "url(" in element.text:
                self._read(_CSS_COMMENT.sub(" ", element.text))

    def _read(self, sheet: str) -> None:
        """One pass over the sheet's pieces: the piece before a `{` is a selector; any other
        is a declaration, of the innermost rule if it follows that rule's `{` directly."""
        selector: str | None = None
        depth = 0
        pending: str | None = None
        for token in _CSS_TOKEN.finditer(sheet):
            text = token.group()
            if text == "{":
                selector, pending, depth = pending or "", None, depth + 1
                continue
            if pending is not None:
                self._file(pending, selector if depth else None)
            pending = None
            if text == "}":
                depth, selector = max(0, depth - 1), None
            elif text != ";":
                pending = text
        if pending is not None:
            self._file(pending, selector if depth else None)

    def _file(self, declaration: str, selector: str | None) -> None:
        if "url(" not in declaration.lower():
            return
        marker = _is_marker(declaration.partition(":")[0])
        references = [(marker, ident) for ident in _LOCAL_URL_REFERENCE.findall(declaration)
                      if ident in self._by_id]
        keys = {_selector_key(part) for part in selector.split(",")} if selector else {("*", "")}
        for key in keys:
            self._room -= len(references)
            if self._room < 0:
                raise LimitExceeded("The SVG's <style> rules hold more url() references than "
                                    "the limit (max_svg_elements) allows.")
            if key != ("*", ""):
                self._keyed.setdefault(key, []).extend(references)
            elif marker:
                self._markers_everywhere.extend(references)
            else:
                self._everywhere.extend(references)

    def references(self, element: ET.Element, name: str) -> Iterator[tuple[bool, str]]:
        if not self._keyed and not self._everywhere and not self._markers_everywhere:
            return
        keys = {("tag", name)}
        ident = element.get("id")
        if ident is not None:
            keys.add(("id", ident.strip()))
        keys.update(("class", c) for c in element.get("class", "").split())
        for key in keys:
            yield from self._keyed.get(key, ())
        yield from self._everywhere
        if name in _SHAPES_WITH_MARKERS:
            yield from self._markers_everywhere


def _selector_key(selector: str) -> tuple[str, str]:
    """The key of the elements a selector can match: from its last compound part, without
    attribute selectors and pseudo-classes (which only narrow it)."""
    parts = re.split(r"[\s>+~]+", selector.strip())
    compound = _CSS_SELECTOR_NOISE.sub("", parts[-1] if parts else "")
    match = _CSS_COMPOUND_SELECTOR.fullmatch(compound)
    if match is None:
        return ("*", "")
    tag, rest = match.groups()
    ids = re.findall(r"#([\w-]+)", rest)
    classes = re.findall(r"\.([\w-]+)", rest)
    if ids:
        return ("id", ids[0])
    if classes:
        return ("class", classes[0])
    if tag and tag != "*":
        return ("tag", tag.lower())
    return ("*", "")


def _is_marker(prop: str) -> bool:
    return prop.strip().lower().startswith("marker")


def _vertex_bound(element: ET.Element) -> int:
    """At least the number of vertices (where markers are drawn) of a shape."""
    name = _local(element.tag)
    if name == "path":
        vertices = 0
        for command, arguments in _PATH_COMMAND.findall(element.get("d", "")):
            per_vertex = _PATH_NUMBERS_PER_VERTEX[command.lower()]
            numbers = sum(1 for _ in _NUMBER.finditer(arguments))
            vertices += -(-numbers // per_vertex) if per_vertex else 1
        return vertices
    if name in ("polyline", "polygon"):
        return sum(1 for _ in _NUMBER.finditer(element.get("points", ""))) // 2 + 1
    return 2 if name == "line" else 0


def _id_text(element: ET.Element) -> str:
    ident = element.get("id")
    return f' id="{_shown(ident)}"' if ident is not None else ""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()
