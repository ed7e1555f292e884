"""The c2corg image backend contract: /upload, /publish, /delete, /recrop, /rotate, /ping."""

from __future__ import annotations

import hmac
from typing import Annotated, BinaryIO

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from imagehost.errors import BadRequest, Forbidden, Unauthorized
from imagehost.imaging.variants import Crop, VariantConfigError, parse_crop_geometry
from imagehost.service.deletion import delete_images
from imagehost.service.editing import recrop_image, rotate_image
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import UploadResult, upload_image
from imagehost.web.schemas import error_responses
from imagehost.web.state import Services, services

router = APIRouter(tags=["c2corg"])
ServicesDep = Annotated[Services, Depends(services)]


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
async def upload(svc: ServicesDep, file: Annotated[UploadFile, File()]) -> UploadResponse:
    """Store an image in incoming with its variants; answers its new key."""
    result = await svc.pool.run(_upload, svc, file.file)
    info = result.processed.info
    svc.metrics.uploads.labels(info.format.value).inc()
    svc.metrics.upload_bytes.inc(len(result.processed.original))
    svc.metrics.render_seconds.observe(result.processed.rendered.seconds)
    return UploadResponse(filename=result.key)


def _upload(svc: Services, stream: BinaryIO) -> UploadResult:
    data = stream.read(svc.settings.max_upload_bytes + 1)
    return upload_image(data, policy=svc.policy, incoming=svc.stores.incoming,
                        catalog=svc.catalog)


@router.post("/publish", response_model=SuccessResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def publish(svc: ServicesDep, secret: Annotated[str | None, Form()] = None,
                  filename: Annotated[str | None, Form()] = None,
                  crop: Annotated[str | None, Form()] = None) -> SuccessResponse:
    """Move an uploaded image and its variants to active (idempotent)."""
    check_secret(svc, secret)
    key = _required(filename, "filename")
    await svc.pool.run(publish_image, key, crop=_crop(crop), policy=svc.policy,
                       incoming=svc.stores.incoming, active=svc.stores.active,
                       catalog=svc.catalog)
    return SuccessResponse()


@router.post("/delete", response_model=SuccessResponse,
             responses=error_responses(400, 401, 403, 503))
async def delete(svc: ServicesDep, secret: Annotated[str | None, Form()] = None,
                 filenames: Annotated[list[str] | None, Form()] = None) -> SuccessResponse:
    """Delete published images and their variants; unknown keys are ignored."""
    check_secret(svc, secret)
    await svc.pool.run(delete_images, filenames or [], policy=svc.policy,
                       active=svc.stores.active, catalog=svc.catalog)
    return SuccessResponse()


@router.post("/recrop", response_model=UploadResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def recrop(svc: ServicesDep, secret: Annotated[str | None, Form()] = None,
                 filename: Annotated[str | None, Form()] = None,
                 crop: Annotated[str | None, Form()] = None) -> UploadResponse:
    """Copy an active image to a new key, with variants made from the cropped copy."""
    check_secret(svc, secret)
    key = _required(filename, "filename")
    new_key = await svc.pool.run(recrop_image, key, crop=_crop(crop), policy=svc.policy,
                                 active=svc.stores.active, catalog=svc.catalog)
    return UploadResponse(filename=new_key)


@router.post("/rotate", response_model=NewFileResponse,
             responses=error_responses(400, 401, 403, 404, 503))
async def rotate(svc: ServicesDep, secret: Annotated[str | None, Form()] = None,
                 filename: Annotated[str | None, Form()] = None,
                 rotation: Annotated[str, Form()] = "90") -> NewFileResponse:
    """Rotate an active image into a new key (90, -90 or 180); the old files are deleted."""
    check_secret(svc, secret)
    key = _required(filename, "filename")
    try:
        angle = int(rotation)
    except ValueError:
        raise BadRequest("rotation must be one of 90, -90, 180.") from None
    new_key = await svc.pool.run(rotate_image, key, angle, policy=svc.policy,
                                 active=svc.stores.active, catalog=svc.catalog)
    return NewFileResponse(filename=new_key)


def check_secret(svc: Services, secret: str | None) -> None:
    expected = svc.settings.api_secret_key
    if not secret:
        raise Unauthorized("Missing secret key.")
    if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Forbidden("Bad secret key.")


def _required(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"Missing form field {name!r}.")
    return value


def _crop(value: str | None) -> Crop | None:
    if not value:
        return None
    try:
        return parse_crop_geometry(value)
    except VariantConfigError as exc:
        raise BadRequest(f"Invalid crop: {exc}.") from None
