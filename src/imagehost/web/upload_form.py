"""Multipart upload forms read in one pass into memory: file parts as bytes, text fields as
strings.

Starlette's form parser spools every file part over 1 MB to a temporary file, one write and
one thread hop per received chunk, and the route then reads the file back: for a 17 MB
upload that is a third of the request's work beside the image processing. Here each file
part grows one BytesIO as the chunks arrive, whose getvalue() hands over its buffer without
a copy: the upload is held once. The body's size is already bounded by BodyLimitMiddleware
(MAX_UPLOAD_BYTES plus form overhead), and the parser is the same python-multipart
Starlette uses.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from imagehost.errors import BadRequest

MAX_FIELD_BYTES = 1024 * 1024
"""The largest text field (Starlette's default max_part_size)."""
MAX_HEADER_BYTES = 16 * 1024
"""The largest header line of a part."""


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    data: bytes


@dataclass(frozen=True)
class UploadForm:
    items: list[tuple[str, str | UploadedFile]]

    def get(self, name: str) -> str | UploadedFile | None:
        """The last value of `name` (as Starlette's FormData answers), or None."""
        return next((value for key, value in reversed(self.items) if key == name), None)

    def file(self, name: str) -> UploadedFile | None:
        value = self.get(name)
        return value if isinstance(value, UploadedFile) else None

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return value if isinstance(value, str) else None

    def multi_items(self) -> list[tuple[str, str | UploadedFile]]:
        return list(self.items)


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    text: bytearray = field(default_factory=bytearray)
    file: io.BytesIO | None = None


class _FormReader:
    """python-multipart callbacks collecting the parts."""

    def __init__(self, charset: str, max_files: int, max_fields: int) -> None:
        self.charset = charset
        self.max_files, self.max_fields = max_files, max_fields
        self.files = self.fields = 0
        self.items: list[tuple[str, str | UploadedFile]] = []
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished}

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += memoryview(data)[start:end]
        self._check_header()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += memoryview(data)[start:end]
        self._check_header()

    def _check_header(self) -> None:
        if len(self.header_name) + len(self.header_value) > MAX_HEADER_BYTES:
            raise BadRequest(f"A multipart part header is over {MAX_HEADER_BYTES // 1024} KB.")

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise BadRequest('A multipart part has no name (Content-Disposition "name").')
        self.part.name = self._decode(options[b"name"])
        if b"filename" in options:
            self.files += 1
            if self.files > self.max_files:
                raise BadRequest(f"Too many files in the form (at most {self.max_files}).")
            self.part.filename = self._decode(options[b"filename"])
            self.part.file = io.BytesIO()
        else:
            self.fields += 1
            if self.fields > self.max_fields:
                raise BadRequest(f"Too many fields in the form (at most {self.max_fields}).")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.file is not None:
            self.part.file.write(memoryview(data)[start:end])
            return
        if len(self.part.text) + end - start > MAX_FIELD_BYTES:
            raise BadRequest(f"The form field {self.part.name!r} is over "
                             f"{MAX_FIELD_BYTES // 1024} KB.")
        self.part.text += memoryview(data)[start:end]

    def on_part_end(self) -> None:
        part = self.part
        if part.file is None or part.filename is None:
            self.items.append((part.name, self._decode(part.text)))
        else:
            self.items.append((part.name, UploadedFile(part.filename, part.file.getvalue())))
        self.part = _Part()  # the buffer goes now, not with the next part

    def _decode(self, raw: bytes | bytearray) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            return raw.decode("latin-1")


async def read_upload_form(request: Request, *, max_files: int,
                           max_fields: int) -> UploadForm:
    """The multipart/form-data body of `request`; a 400 when it is not one or is malformed."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise BadRequest("The body is not multipart/form-data: send the image as a file part "
                         "of a multipart form.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary.")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    reader = _FormReader(charset, max_files, max_fields)
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise BadRequest(f"The multipart body is malformed ({exc}).") from None
    return UploadForm(reader.items)
