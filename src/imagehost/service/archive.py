"""Export records and images as a zip (streamed), and import such a zip back.

An export holds each original at its `file` path, `manifest.json` (the records) and
`manifest.csv` (one row per record, one column per data key, nested keys dotted). Import
checks the whole archive before writing anything: the central directory's size and entry count
(from the end record, before it is read), entry names, compression methods, sizes and ratios,
that every entry is an accepted image that decodes to its end (SVG sanitized first), and the
manifest (JSON depth, ids, data).
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from imagehost.catalog.models import MAX_ID, ImageRecord, ImageStatus
from imagehost.config import Settings
from imagehost.errors import BadRequest, ImagehostError, LimitExceeded
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.probe import probe_image
from imagehost.imaging.svg import sanitize_svg
from imagehost.imaging.verify import check_decodes
from imagehost.service.access import Caller
from imagehost.service.context import ServiceContext
from imagehost.service.records import (
    check_data,
    read_original,
    record_view,
    store_record,
    visible_query,
)
from imagehost.storage.keys import validate_key
from imagehost.values import InvalidValue, parse_datetime, parse_json

MANIFEST_JSON = "manifest.json"
MANIFEST_CSV = "manifest.csv"
MONGODB_JSON = "mongodb_data.json"
"""The storage microservice's manifest: [{_id, file, time, data, __v}, ...]."""
MONGODB_XLSX = "mongodb_data.xlsx"
NOT_IMAGES = (MANIFEST_JSON, MANIFEST_CSV, MONGODB_JSON, MONGODB_XLSX)
SYSTEM_COLUMNS = ("id", "file", "time", "status", "format", "width", "height", "bytes",
                  "sha256")


MAX_MANIFEST_BYTES = 32_000_000
MAX_MANIFEST_VALUES = 2_000_000
"""Most values in a manifest (parsed, some 70 bytes each: 140 MB at most)."""
MAX_DIRECTORY_ENTRY_BYTES = 8192
"""Central directory bytes allowed per declared entry (a name of 1024 characters in UTF-8,
its extra fields and comment): zipfile reads the whole directory before we see an entry."""
COMPRESSION_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_METHOD_NAMES = {1: "shrink", 6: "implode", 9: "Deflate64", 12: "bzip2", 14: "LZMA",
                 93: "Zstandard", 95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd",
                 99: "AES encryption"}
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               RuntimeError)
"""What zipfile raises on a malformed archive (UnicodeDecodeError is a ValueError; an
unsupported method or encryption is a RuntimeError subclass)."""


@dataclass(frozen=True)
class ImportLimits:
    """The archive limits of Settings (IMPORT_MAX_*, MAX_UPLOAD_BYTES per entry)."""

    max_entries: int
    max_entry_bytes: int
    max_total_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportLimits:
        return cls(settings.import_max_entries, settings.max_upload_bytes,
                   settings.import_max_total_bytes, settings.import_max_ratio)


@dataclass(frozen=True)
class ImportEntry:
    file: str
    id: int | None
    result: str
    """created, updated or failed."""
    message: str | None = None


@dataclass
class ImportReport:
    """What /import did with each entry, and the counts."""

    created: int = 0
    updated: int = 0
    failed: int = 0
    entries: list[ImportEntry] = field(default_factory=list)

    def add(self, file: str, result: str, record_id: int | None = None,
            message: str | None = None) -> None:
        self.entries.append(ImportEntry(file, record_id, result, message))
        setattr(self, result, getattr(self, result) + 1)


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are drained as they come."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def export_archive(ctx: ServiceContext, params: list[tuple[str, str]],
                   caller: Caller) -> Iterator[bytes]:
    """Zip bytes, chunk by chunk: the manifests first, then one original at a time. The
    filters choose the records the caller may read (a bad filter raises before the first
    chunk)."""
    record_filter = visible_query(params, caller).filter
    records = [r for r in ctx.records.iterate(record_filter)
               if r.status != ImageStatus.DELETED.value]
    return _export_chunks(ctx, records)


def _export_chunks(ctx: ServiceContext, records: list[ImageRecord]) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_entry(MANIFEST_JSON), json.dumps(
            [record_view(r) for r in records], indent=1, ensure_ascii=False))
        archive.writestr(_entry(MANIFEST_CSV), manifest_csv(records))
        yield sink.drain()
        for record in records:
            data = read_original(ctx, record)
            archive.writestr(_entry(record.key, record.created_at), data,
                             compress_type=zipfile.ZIP_STORED)
            yield sink.drain()
    yield sink.drain()


def manifest_csv(records: list[ImageRecord]) -> str:
    rows = [{**_system_row(r), **{f"data.{k}": v for k, v in _flatten(r.data).items()}}
            for r in records]
    data_columns = sorted({key for row in rows for key in row} - set(SYSTEM_COLUMNS))
    out = io.StringIO()
    writer = csv.DictWriter(out, [*SYSTEM_COLUMNS, *data_columns])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def import_archive(ctx: ServiceContext, archive_file: IO[bytes],
                   user_data: dict[str, Any] | None = None) -> ImportReport:
    """Upsert every image of the archive by `file`, keeping manifest ids, data and times."""
    limits = ImportLimits.from_settings(ctx.settings)
    _check_directory(archive_file, limits)
    try:
        archive = zipfile.ZipFile(archive_file)
    except _ZIP_ERRORS as exc:
        raise BadRequest(f"The archive is not a valid zip ({exc}).") from None
    with archive:
        images, manifest = _checked_entries(archive, limits, ctx, user_data or {})
        report = ImportReport()
        for name in images:
            _import_one(archive, name, manifest.get(name, {}), user_data or {}, ctx, report)
    ctx.records.bump_id_sequence()
    return report


def _check_directory(archive_file: IO[bytes], limits: ImportLimits) -> None:
    """From the end record alone: the entry count and the central directory's size."""
    try:
        # zipfile's own reader of the end record (zip64 included), as ZipFile calls it
        end = zipfile._EndRecData(archive_file)  # type: ignore[attr-defined]
    except _ZIP_ERRORS:
        end = None
    if end is None:
        raise BadRequest("The archive is not a valid zip (no end of central directory).")
    entries = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    size = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    if entries > limits.max_entries:
        raise LimitExceeded(f"The archive has {entries} entries; the limit is "
                            f"{limits.max_entries}.")
    if size > max(entries, 1) * MAX_DIRECTORY_ENTRY_BYTES:
        raise LimitExceeded(f"The archive's central directory is {size} bytes for {entries} "
                            f"entries; the limit is {MAX_DIRECTORY_ENTRY_BYTES} bytes an "
                            "entry.")
    archive_file.seek(0)


def _checked_entries(archive: zipfile.ZipFile, limits: ImportLimits, ctx: ServiceContext,
                     user_data: dict[str, Any]
                     ) -> tuple[list[str], dict[str, dict[str, Any]]]:
    # not ZipInfo.is_dir(), which fails on an empty name
    infos = [info for info in archive.infolist() if not info.filename.endswith("/")]
    if len(infos) > limits.max_entries:
        raise LimitExceeded(f"The archive has {len(infos)} entries; the limit is "
                            f"{limits.max_entries}.")
    total = sum(info.file_size for info in infos)
    if total > limits.max_total_bytes:
        raise LimitExceeded(f"The archive expands to {total} bytes; the limit is "
                            f"{limits.max_total_bytes}.")
    for info in infos:
        _check_entry(info, limits)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise BadRequest("The archive has duplicate entry names.")
    manifest = _read_manifest(archive, names, limits, user_data)
    images = [n for n in names if n not in NOT_IMAGES]
    for name in images:
        try:
            _check_image(_read_entry(archive, name), ctx.policy.limits)
        except ImagehostError as exc:
            raise type(exc)(f"Entry {name!r}: {exc.message}") from None
    return images, manifest


def _check_image(data: bytes, limits: ImageLimits) -> None:
    """What the upload will do, short of rendering: sniff, sanitize an SVG, check the header
    against the limits, then decode to the last byte."""
    fmt = sniff_format(data)
    if fmt is ImageFormat.SVG:
        data = sanitize_svg(data, limits)
    check_decodes(data, probe_image(data, fmt, limits))


def _read_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except _ZIP_ERRORS as exc:
        raise BadRequest(f"Entry {name!r} is corrupt ({exc}).") from None


def _check_entry(info: zipfile.ZipInfo, limits: ImportLimits) -> None:
    name = info.orig_filename  # zipfile cuts `filename` at a NUL
    try:
        validate_key(name)
    except ImagehostError:
        raise BadRequest(f"Unsafe entry name {name!r} (absolute, '..', backslash or control "
                         "characters).") from None
    if info.flag_bits & 0x1:
        raise BadRequest(f"Entry {name!r} is encrypted.")
    if info.compress_type not in COMPRESSION_METHODS:
        method = _METHOD_NAMES.get(info.compress_type, "unknown")
        raise BadRequest(f"Entry {name!r} is compressed with method {info.compress_type} "
                         f"({method}); only {' and '.join(COMPRESSION_METHODS.values())} are "
                         "accepted.")
    if info.file_size > limits.max_entry_bytes and name not in (MANIFEST_JSON, MONGODB_JSON):
        raise LimitExceeded(f"Entry {name!r} is {info.file_size} bytes; the limit is "
                            f"{limits.max_entry_bytes}.")
    if info.compress_type != zipfile.ZIP_STORED and \
            info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        raise LimitExceeded(f"Entry {name!r} expands {ratio:.0f} times; the limit is "
                            f"{limits.max_ratio:.0f}.")


def _read_manifest(archive: zipfile.ZipFile, names: list[str], limits: ImportLimits,
                   user_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records by file: imagehost's manifest.json, else the storage microservice's
    mongodb_data.json (its ObjectId `_id`s cannot be ids here: those records get new ones).
    Each record's data, with `user_data` merged in, must be data a record can hold."""
    source = next((n for n in (MANIFEST_JSON, MONGODB_JSON) if n in names), None)
    if source is None:
        return {}
    if archive.getinfo(source).file_size > MAX_MANIFEST_BYTES:
        raise LimitExceeded(f"{source} is larger than {MAX_MANIFEST_BYTES} bytes.")
    return check_manifest(_read_entry(archive, source), source, user_data)


def check_manifest(text: bytes, source: str,
                   user_data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records of manifest `text` (`source`: manifest.json or mongodb_data.json) by
    file, each checked; raises BadRequest naming the first problem."""
    try:
        entries = parse_json(text, max_bytes=MAX_MANIFEST_BYTES,
                             max_values=MAX_MANIFEST_VALUES)
    except InvalidValue as exc:
        raise BadRequest(f"{source} is {exc}.") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and
                                                isinstance(e.get("file"), str)
                                                for e in entries):
        raise BadRequest(f"{source} must be a list of records with a file.")
    manifest: dict[str, dict[str, Any]] = {}
    files_by_id: dict[int, str] = {}
    for entry in entries:
        if source == MONGODB_JSON:
            entry = {"file": entry["file"], "time": entry.get("time"),
                     "data": entry.get("data", {})}
        _check_manifest_entry(entry, source, user_data)
        if entry.get("id") is not None:
            other = files_by_id.setdefault(entry["id"], entry["file"])
            if other != entry["file"]:
                raise BadRequest(f"{source}: id {entry['id']} is given to both {other!r} and "
                                 f"{entry['file']!r}.")
        manifest[entry["file"]] = entry
    return manifest


def _check_manifest_entry(entry: dict[str, Any], source: str,
                          user_data: dict[str, Any]) -> None:
    where = f"{source} entry {entry['file']!r}"
    if "id" in entry and entry["id"] is not None and (not isinstance(entry["id"], int) or
                                                      isinstance(entry["id"], bool) or
                                                      not 1 <= entry["id"] <= MAX_ID):
        raise BadRequest(f"{where}: id must be an integer 1..{MAX_ID}.")
    if not isinstance(entry.get("data", {}), dict):
        raise BadRequest(f"{where}: data must be an object.")
    try:
        check_data({**entry.get("data", {}), **user_data})
    except BadRequest as exc:
        raise BadRequest(f"{where}: {exc.message}") from None
    if entry.get("status", "active") not in (ImageStatus.INCOMING.value, ImageStatus.ACTIVE.value,
                                             ImageStatus.DELETED.value):
        raise BadRequest(f"{where}: unknown status.")
    if entry.get("time") is not None:
        try:
            if not isinstance(entry["time"], str):
                raise InvalidValue(f"{entry['time']!r} is not a date")
            parse_datetime(entry["time"])
        except InvalidValue:
            raise BadRequest(f"{where}: time is not ISO 8601.") from None


def _import_one(archive: zipfile.ZipFile, name: str, entry: dict[str, Any],
                user_data: dict[str, Any], ctx: ServiceContext, report: ImportReport) -> None:
    status = ImageStatus(entry.get("status", "active"))
    if status is ImageStatus.DELETED:
        status = ImageStatus.ACTIVE
    time = entry.get("time")
    try:
        stored = store_record(
            ctx, _read_entry(archive, name), path=name, record_id=entry.get("id"), status=status,
            metadata={**entry.get("data", {}), **user_data},
            time=parse_datetime(time) if time else None)
    except ImagehostError as exc:
        report.add(name, "failed", entry.get("id"), exc.message)
        return
    report.add(name, "created" if stored.created else "updated", stored.record.id)


def _entry(name: str, when: datetime | None = None) -> zipfile.ZipInfo:
    stamp = (when or datetime.now(UTC)).astimezone(UTC)
    if not 1980 <= stamp.year <= 2107:  # what a zip (DOS) date can hold; the manifest keeps it
        stamp = datetime(1980 if stamp.year < 1980 else 2107, 1, 1, tzinfo=UTC)
    info = zipfile.ZipInfo(name, date_time=(stamp.year, stamp.month, stamp.day,
                                            stamp.hour, stamp.minute, stamp.second))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _system_row(record: ImageRecord) -> dict[str, Any]:
    view = record_view(record)
    return {column: view[column] for column in SYSTEM_COLUMNS}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
