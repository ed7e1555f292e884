"""Response bodies, for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from imagehost.catalog.models import MAX_ID

RecordId = Annotated[int, Path(description=f"The record's id (1..{MAX_ID}); any other "
                                             "number is an unknown id: 404.",
                               openapi_examples={"record": {"value": 4}})]
RecordRef = Annotated[str, Path(description="A record's id, or an image's path (a key with "
                                            "an extension, e.g. plots/site-4/cam1.jpg).",
                                openapi_examples={"path": {"value": "plots/site-4/cam1.jpg"}})]
DataKey = Annotated[str, Path(description="A data key, dotted for nesting (camera, site.plot).",
                              openapi_examples={"key": {"value": "camera"}})]


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code, e.g. bad_request, not_found, limit_exceeded.")
    message: str = Field(description="What went wrong, for people.")


_ERROR_TEXT = {400: "Malformed request", 401: "No API key, or an unknown one",
               403: "Wrong secret, or a key lacking the scope", 404: "Not found",
               405: "Method not allowed", 409: "Conflicts with an existing image",
               413: "Over a configured limit",
               429: "Over the client's rate limit (Retry-After)",
               503: "Busy (Retry-After) or a store is down"}


_ERROR_EXAMPLE = {
    400: ("bad_request", "Parameter 'w': must be 1..4096."),
    401: ("unauthorized", "This needs an API key with the 'write' scope (Authorization: Bearer "
                          "<key>)."),
    403: ("forbidden", "Bad secret key."),
    404: ("not_found", "No image 4."),
    405: ("method_not_allowed", "Method Not Allowed"),
    409: ("conflict", "The variant 'plots/site-4/cam1SI.jpg' of 'plots/site-4/cam1.jpg' is an "
                      "image of its own."),
    413: ("limit_exceeded", "The image is 31457280 bytes; the limit (max_upload_bytes) is "
                            "20971520."),
    429: ("rate_limited", "Too many uploads: at most 60 per 60 s for each client; retry later."),
    503: ("overloaded", "The server is busy; retry shortly."),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": _ERROR_TEXT[status],
                     "content": {"application/json": {"example": {
                         "error": _ERROR_EXAMPLE[status][0],
                         "message": _ERROR_EXAMPLE[status][1]}}}}
            for status in statuses}


MONGO_ID = Field(alias="_id", description="The id again, under the storage microservice's name.")


RECORD_EXAMPLE = {
    "id": 4, "_id": 4, "file": "plots/site-4/cam1.jpg", "time": "2024-05-01T16:06:34+00:00",
    "data": {"site": 4, "camera": "cam1"}, "status": "active", "format": "jpeg", "width": 1600,
    "height": 1200, "bytes": 183442,
    "sha256": "669556d31d1172aba1a7699a2612e450c3a2776ca66772d3c0d6421a0d603661",
    "variants": ["plots/site-4/cam1BI.jpg", "plots/site-4/cam1MI.jpg", "plots/site-4/cam1SI.jpg"],
    "color": "#6a7f4c", "published": "2024-05-01T16:06:34+00:00"}


class Record(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RECORD_EXAMPLE]})

    id: int
    mongo_id: int = MONGO_ID
    file: str = Field(description="The image's key (path) in the store.")
    time: str = Field(description="Upload time, ISO 8601.")
    data: dict[str, Any] = Field(description="Free-form JSON owned by the client.")
    status: str = Field(description="incoming, active or deleted.")
    format: str
    width: int
    height: int
    bytes: int
    sha256: str
    variants: list[str]
    color: str | None = Field(description="The image's dominant colour, #rrggbb, for a "
                              "placeholder while it loads (null for images stored before it).")
    published: str | None


class PartialRecord(BaseModel):
    """A record, or only the fields named by `select`."""

    id: int | None = None
    mongo_id: int | None = Field(None, alias="_id",
                                 description="The id again, under the storage microservice's name.")
    file: str | None = None
    time: str | None = None
    data: dict[str, Any] | None = None
    status: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    variants: list[str] | None = None
    color: str | None = None
    published: str | None = None


class RecordList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "total": 3, "skip": 0, "limit": 1,
        "items": [{"file": "plots/site-4/cam1.jpg", "data": {"site": 4, "camera": "cam1"}}],
        "next_cursor": "WyIyMDI0LTA1LTAxVDE2OjA2OjM0KzAwOjAwIiwgNF0"}]})

    total: int = Field(description="Matching records, ignoring paging.")
    skip: int
    limit: int
    items: list[PartialRecord]
    next_cursor: str | None = Field(
        description="Pass as cursor= for the next page; null on the last page.")


class PatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"modified": 2, "modifiedCount": 2, "acknowledged": True}]})

    modified: int = Field(description="Records whose data changed.")
    modifiedCount: int = Field(description="The same, under MongoDB's name.")
    acknowledged: bool = True


class DeleteResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"deleted": 2, "deletedCount": 2, "acknowledged": True}]})

    deleted: int = Field(description="Images deleted.")
    deletedCount: int = Field(description="The same, under MongoDB's name.")
    acknowledged: bool = True


class DeletedRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [
        {"id": 4, "_id": 4, "status": "deleted"}]})

    id: int
    mongo_id: int = MONGO_ID
    status: str = "deleted"
