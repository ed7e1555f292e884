"""Response bodies, for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from imagehost.catalog.models import MAX_ID

RecordId = Annotated[int, Path(description=f"The record's id (1..{MAX_ID}); any other "
                                             "number is an unknown id: 404.")]


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code, e.g. bad_request, not_found, limit_exceeded.")
    message: str = Field(description="What went wrong, for people.")


_ERROR_TEXT = {400: "Malformed request", 401: "No API key, or an unknown one",
               403: "Wrong secret, or a key lacking the scope", 404: "Not found",
               405: "Method not allowed", 409: "Conflicts with an existing image",
               413: "Over a configured limit",
               429: "Over the client's rate limit (Retry-After)",
               503: "Busy (Retry-After) or a store is down"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": _ERROR_TEXT[status]}
            for status in statuses}


MONGO_ID = Field(alias="_id", description="The id again, under the storage microservice's name.")


class Record(BaseModel):
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
    published: str | None = None


class RecordList(BaseModel):
    total: int = Field(description="Matching records, ignoring paging.")
    skip: int
    limit: int
    items: list[PartialRecord]
    next_cursor: str | None = Field(
        description="Pass as cursor= for the next page; null on the last page.")


class PatchResult(BaseModel):
    modified: int = Field(description="Records whose data changed.")
    modifiedCount: int = Field(description="The same, under MongoDB's name.")
    acknowledged: bool = True


class DeleteResult(BaseModel):
    deleted: int = Field(description="Images deleted.")
    deletedCount: int = Field(description="The same, under MongoDB's name.")
    acknowledged: bool = True


class DeletedRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    mongo_id: int = MONGO_ID
    status: str = "deleted"
