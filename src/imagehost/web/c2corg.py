"""The c2corg image backend contract: /upload, /publish, /delete, /recrop, /rotate, /ping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, BinaryIO

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from imagehost.errors import BadRequest
from imagehost.service.access import check_secret
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_keys
from imagehost.service.editing import recrop_image, rotate_image
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import UploadResult, upload_image
from imagehost.web.schemas import error_responses
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(tags=["c2corg"])


class UploadResponse(BaseModel):
    filename: str


class SuccessResponse(BaseModel):
    success: bool = True


class NewFileResponse(BaseModel):
    success: bool = True
    filename: str


@router.get("/ping", response_class=PlainTextResponse)
@router.api_route("/ping", methods=["POST", "HEAD"], response_class=PlainTextResponse,
                  include_in_schema=False)
async def ping() -> str:
    return "Pong!"


@router.post("/upload", response_model=UploadResponse,
             responses=error_responses(400, 413, 503))
async def upload(ctx: ContextDep, metrics: MetricsDep,
                 file: Annotated[UploadFile, File()]) -> UploadResponse:
    """Store an image in incoming with its variants; answers its new key."""
    result = await ctx.pool.run(_upload, ctx, file.file)
    metrics.count_upload(result.processed)
    return UploadResponse(filename=result.key)


def _upload(ctx: ServiceContext, stream: BinaryIO) -> UploadResult:
    return upload_image(ctx, stream.read(ctx.settings.max_upload_bytes + 1))


@router.post("/publish", response_model=SuccessResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def publish(ctx: ContextDep, secret: Annotated[str | None, Form()] = None,
                  filename: Annotated[str | None, Form()] = None,
                  crop: Annotated[str | None, Form()] = None) -> SuccessResponse:
    """Move an uploaded image and its variants to active (idempotent)."""
    check_secret(ctx.settings, secret)
    key = _required(filename, "filename")
    await ctx.pool.run(publish_image, ctx, key, crop=crop)
    return SuccessResponse()


@router.post("/delete", response_model=SuccessResponse,
             responses=error_responses(400, 401, 403, 503))
async def delete(ctx: ContextDep, secret: Annotated[str | None, Form()] = None,
                 filenames: Annotated[list[str] | None, Form()] = None) -> SuccessResponse:
    """Delete published images and their variants; unknown keys are ignored."""
    check_secret(ctx.settings, secret)
    await ctx.pool.run(delete_keys, ctx, filenames or [], datetime.now(UTC))
    return SuccessResponse()


@router.post("/recrop", response_model=UploadResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def recrop(ctx: ContextDep, secret: Annotated[str | None, Form()] = None,
                 filename: Annotated[str | None, Form()] = None,
                 crop: Annotated[str | None, Form()] = None) -> UploadResponse:
    """Copy an active image to a new key, with variants made from the cropped copy."""
    check_secret(ctx.settings, secret)
    key = _required(filename, "filename")
    new_key = await ctx.pool.run(recrop_image, ctx, key, crop=crop)
    return UploadResponse(filename=new_key)


@router.post("/rotate", response_model=NewFileResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def rotate(ctx: ContextDep, secret: Annotated[str | None, Form()] = None,
                 filename: Annotated[str | None, Form()] = None,
                 rotation: Annotated[str, Form()] = "90") -> NewFileResponse:
    """Rotate an active image into a new key (90, -90 or 180); the old files are deleted."""
    check_secret(ctx.settings, secret)
    key = _required(filename, "filename")
    new_key = await ctx.pool.run(rotate_image, ctx, key, rotation)
    return NewFileResponse(filename=new_key)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"Missing form field {name!r}.")
    return value
