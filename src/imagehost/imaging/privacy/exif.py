"""A minimal TIFF/EXIF rewriter: read IFD0, the Exif, GPS and Interop IFDs of an EXIF block
(either byte order), drop the entries a rule refuses, and write the rest back with fresh
offsets. Values are copied as raw bytes in the block's own byte order, so nothing is decoded
and nothing else changes. IFD1 (the thumbnail, which may show what a crop removed) never
survives a rewrite.

Hostile blocks cannot hurt: every offset is checked against the block, a directory is read
once (loops end), entries that do not fit are dropped, and a block whose values add up to more
than its own size (overlapping values, a copying bomb) is refused as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
"""Bytes per value of each TIFF type (BYTE .. DOUBLE, and IFD)."""
LONG = 4
ByteOrder = Literal["little", "big"]

ORIENTATION = 0x0112
EXIF_POINTER, GPS_POINTER, INTEROP_POINTER = 0x8769, 0x8825, 0xA005
CHILDREN = {"ifd0": {EXIF_POINTER: "exif", GPS_POINTER: "gps"},
            "exif": {INTEROP_POINTER: "interop"}}
"""Where each sub-directory pointer may appear, and the directory it leads to."""

UNRELOCATABLE = frozenset({
    0x0111, 0x0117,  # StripOffsets, StripByteCounts
    0x0144, 0x0145,  # TileOffsets, TileByteCounts
    0x014A,  # SubIFDs
    0x0201, 0x0202,  # JPEGInterchangeFormat (thumbnail), its length
    0x927C,  # MakerNote: private, and full of offsets into the block
    0xC634,  # DNGPrivateData: a maker note copy
    0xEA1C, 0xEA1D,  # Microsoft Padding and OffsetSchema (a maker note fix-up)
})
"""Tags whose values point elsewhere in the block: they cannot follow a rewrite."""


class UnreadableExif(Exception):
    """The block is not a TIFF structure we can rewrite safely (the caller drops it)."""


@dataclass
class Entry:
    tag: int
    type: int
    count: int
    value: bytes
    """The raw value bytes, in the block's byte order."""
    byteorder: ByteOrder

    def number(self) -> int | None:
        """The first value of a SHORT or LONG entry."""
        size = {3: 2, 4: 4}.get(self.type)
        if size is None or len(self.value) < size:
            return None
        return int.from_bytes(self.value[:size], self.byteorder)


@dataclass
class Directory:
    name: str
    entries: list[Entry] = field(default_factory=list)
    children: dict[int, Directory] = field(default_factory=dict)
    """Sub-directories by the tag of their pointer."""


KeepRule = Callable[[str, Entry], bool]
"""Whether to keep an entry of a directory ("ifd0", "exif", "gps", "interop")."""


def rewrite_exif(block: bytes, keep: KeepRule) -> bytes | None:
    """The TIFF block with only the entries `keep` accepts; the block itself when nothing is
    dropped; None when nothing is left. Raises UnreadableExif."""
    reader = _Reader(block)
    root = reader.read()
    changed = reader.dropped | _filter(root, keep)
    if not changed:
        return block
    if not root.entries and not root.children:
        return None
    return _write(root, reader.byteorder, block[:2])


def _filter(directory: Directory, keep: KeepRule) -> bool:
    """Drop refused entries and empty sub-directories; whether anything went."""
    before = len(directory.entries) + len(directory.children)
    directory.entries = [e for e in directory.entries
                         if e.tag not in UNRELOCATABLE and keep(directory.name, e)]
    changed = False
    for tag, child in list(directory.children.items()):
        changed |= _filter(child, keep)
        if not child.entries and not child.children:
            del directory.children[tag]
    return changed or len(directory.entries) + len(directory.children) != before


class _Reader:
    def __init__(self, block: bytes) -> None:
        self.block = block
        if len(block) < 8 or block[:2] not in (b"II", b"MM"):
            raise UnreadableExif("no TIFF header")
        self.byteorder: ByteOrder = "little" if block[:2] == b"II" else "big"
        if self._int(2, 2) != 42:
            raise UnreadableExif("not TIFF")
        self.visited: set[int] = set()
        self.value_bytes = 0
        self.dropped = False
        """Whether anything unreadable was left out (the block must then be rewritten)."""

    def read(self) -> Directory:
        root = self._directory(self._int(4, 4), "ifd0")
        if root is None:
            raise UnreadableExif("IFD0 is out of range")
        return root

    def _int(self, offset: int, size: int) -> int:
        return int.from_bytes(self.block[offset:offset + size], self.byteorder)

    def _directory(self, offset: int, name: str) -> Directory | None:
        block = self.block
        if offset < 8 or offset + 2 > len(block) or offset in self.visited:
            return None
        self.visited.add(offset)
        count = self._int(offset, 2)
        fits = (len(block) - offset - 2) // 12
        if count > fits:
            count, self.dropped = fits, True
        directory = Directory(name)
        seen: set[int] = set()
        for index in range(count):
            entry = self._entry(offset + 2 + 12 * index)
            if entry is None or entry.tag in seen:
                self.dropped = True
                continue
            seen.add(entry.tag)
            child_name = CHILDREN.get(name, {}).get(entry.tag)
            if entry.tag in (EXIF_POINTER, GPS_POINTER, INTEROP_POINTER):
                child = None
                if child_name is not None and entry.type in (LONG, 13) and entry.count == 1:
                    child = self._directory(self._int(offset + 10 + 12 * index, 4), child_name)
                if child is None:
                    self.dropped = True
                else:
                    directory.children[entry.tag] = child
                continue
            directory.entries.append(entry)
        next_at = offset + 2 + 12 * count
        if name == "ifd0" and next_at + 4 <= len(block) and self._int(next_at, 4):
            self.dropped = True  # IFD1, the thumbnail, goes
        return directory

    def _entry(self, at: int) -> Entry | None:
        tag, kind, count = self._int(at, 2), self._int(at + 2, 2), self._int(at + 4, 4)
        size = TYPE_SIZES.get(kind, 0) * count
        if kind not in TYPE_SIZES:
            return None
        if size <= 4:
            value = self.block[at + 8:at + 8 + size]
        else:
            start = self._int(at + 8, 4)
            if start + size > len(self.block):
                return None
            self.value_bytes += size
            if self.value_bytes > len(self.block):
                raise UnreadableExif("values overlap")
            value = self.block[start:start + size]
        return Entry(tag, kind, count, value, self.byteorder)


def _write(root: Directory, byteorder: ByteOrder, mark: bytes) -> bytes:
    """A new TIFF block: header, then each directory followed by its out-of-line values."""
    order: list[Directory] = []

    def walk(directory: Directory) -> None:
        order.append(directory)
        for tag in sorted(directory.children):
            walk(directory.children[tag])

    walk(root)
    offsets: dict[int, int] = {}
    position = 8
    for directory in order:
        offsets[id(directory)] = position
        position += _size(directory)

    def number(value: int, size: int) -> bytes:
        return value.to_bytes(size, byteorder)

    out = bytearray(mark + number(42, 2) + number(8, 4))
    for directory in order:
        start = offsets[id(directory)]
        entries = list(directory.entries) + [
            Entry(tag, LONG, 1, number(offsets[id(child)], 4), byteorder)
            for tag, child in directory.children.items()]
        entries.sort(key=lambda e: e.tag)
        values = start + 2 + 12 * len(entries) + 4
        table = bytearray(number(len(entries), 2))
        data = bytearray()
        for entry in entries:
            table += number(entry.tag, 2) + number(entry.type, 2) + number(entry.count, 4)
            if len(entry.value) <= 4:
                table += entry.value.ljust(4, b"\0")
            else:
                table += number(values + len(data), 4)
                data += entry.value + b"\0" * (len(entry.value) % 2)
        table += number(0, 4)
        out += table + data
    return bytes(out)


def _size(directory: Directory) -> int:
    count = len(directory.entries) + len(directory.children)
    values = sum(len(e.value) + len(e.value) % 2 for e in directory.entries if len(e.value) > 4)
    return 2 + 12 * count + 4 + values
