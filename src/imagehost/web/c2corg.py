"""The c2corg image backend contract: /upload, /publish, /delete, /recrop, /rotate, /ping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict

from imagehost.errors import BadRequest
from imagehost.service.access import check_secret
from imagehost.service.deletion import delete_keys
from imagehost.service.editing import recrop_image, rotate_image
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from imagehost.service.vocabulary import ROTATION_VALUES
from imagehost.values import InvalidValue, parse_json
from imagehost.web.docs import body_example, one_of
from imagehost.web.schemas import error_responses
from imagehost.web.state import ContextDep, MetricsDep
from imagehost.web.upload_form import read_upload_form

router = APIRouter(tags=["c2corg"])


KEY_EXAMPLE = "1714557600_6380379483.jpg"
NEW_KEY_EXAMPLE = "1714557672_0062322805.jpg"


class UploadResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"filename": KEY_EXAMPLE}]})

    filename: str


class SuccessResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"success": True}]})

    success: bool = True


class NewFileResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"success": True, "filename": NEW_KEY_EXAMPLE}]})

    success: bool = True
    filename: str


@router.get("/ping", response_class=PlainTextResponse, responses={200: {
    "description": "Pong!", "content": {"text/plain": {"example": "Pong!"}}}})
@router.api_route("/ping", methods=["POST", "HEAD"], response_class=PlainTextResponse,
                  include_in_schema=False)
async def ping() -> str:
    """Answers Pong! (c2corg's liveness check; /health checks the stores and catalog)."""
    return "Pong!"


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The image."}}}}}}}


@router.post("/upload", response_model=UploadResponse, openapi_extra=UPLOAD_BODY,
             responses=error_responses(400, 413, 429, 503))
async def upload(request: Request, ctx: ContextDep, metrics: MetricsDep) -> UploadResponse:
    """Store an image in incoming with its variants; answers its new key."""
    # read in memory in one pass: Starlette's form parser would spool it to a file
    form = await read_upload_form(request, max_files=1, max_fields=100)
    file = form.file("file")
    if file is None:
        raise BadRequest("Missing the image: send it in the multipart field 'file'.")
    result = await ctx.pool.run(upload_image, ctx, file.data)
    metrics.count_upload(result.processed)
    return UploadResponse(filename=result.key)


class Fields:
    """The fields of a secured c2corg request: v6_api posts a urlencoded form, browsers and
    tests multipart, c2c_images JSON ({"secret": ..., "filenames": [...]})."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[-1] if found else None

    def texts(self, name: str) -> list[str]:
        return self.values.get(name, [])


async def fields(request: Request) -> Fields:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return Fields(_json_fields(await request.body()))
    form = await request.form(max_files=0, max_fields=1000)
    return Fields({name: [v for v in form.getlist(name) if isinstance(v, str)]
                   for name in form})


def _json_fields(body: bytes) -> dict[str, list[str]]:
    try:
        document = parse_json(body)
    except InvalidValue as exc:
        raise BadRequest(f"The body is {exc}.") from None
    if not isinstance(document, dict):
        raise BadRequest("The JSON body must be an object of fields.")
    values: dict[str, list[str]] = {}
    for name, value in document.items():
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in items):
            raise BadRequest(f"Field {name!r}: expected a string, a number or a list of them.")
        values[name] = [str(v) for v in items]
    return values


FieldsDep = Annotated[Fields, Depends(fields)]


def _body(required: tuple[str, ...], **properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a secured route: the same fields in three encodings."""
    schema = {"type": "object", "required": list(required), "properties": properties}
    return {"requestBody": {"required": True, "content": {
        media: {"schema": schema, "example": body_example(properties)} for media in (
            "application/x-www-form-urlencoded", "multipart/form-data", "application/json")}}}


SECRET = {"type": "string", "description": "API_SECRET_KEY.", "example": "change-me"}
FILENAME = {"type": "string", "description": "The image's key.", "example": KEY_EXAMPLE}
CROP = {"type": "string", "description": "WxH+X+Y from the top-left corner (none: the whole "
                                         "image).", "example": "1200x800+100+50"}
ROTATION = {**one_of(ROTATION_VALUES, ROTATION_VALUES[0]),
            "description": "Degrees clockwise.", "example": ROTATION_VALUES[0]}


@router.post("/publish", response_model=SuccessResponse, openapi_extra=_body(
                 ("secret", "filename"), secret=SECRET, filename=FILENAME, crop=CROP),
             responses=error_responses(400, 401, 403, 404, 503))
async def publish(ctx: ContextDep, form: FieldsDep) -> SuccessResponse:
    """Move an uploaded image and its variants to active (idempotent)."""
    check_secret(ctx.settings, form.text("secret"))
    key = _required(form.text("filename"), "filename")
    await ctx.pool.run(publish_image, ctx, key, crop=form.text("crop"))
    return SuccessResponse()


@router.post("/delete", response_model=SuccessResponse, openapi_extra=_body(
                 ("secret",), secret=SECRET, filenames={
                     "type": "array", "items": {"type": "string"},
                     "description": "The images' keys.", "example": [KEY_EXAMPLE]}),
             responses=error_responses(400, 401, 403, 503))
async def delete(ctx: ContextDep, form: FieldsDep) -> SuccessResponse:
    """Delete published images, their variants and derived images; unknown keys are
    ignored."""
    check_secret(ctx.settings, form.text("secret"))
    await ctx.pool.run(delete_keys, ctx, form.texts("filenames"), datetime.now(UTC))
    return SuccessResponse()


@router.post("/recrop", response_model=UploadResponse, openapi_extra=_body(
                 ("secret", "filename"), secret=SECRET, filename=FILENAME, crop=CROP),
             responses=error_responses(400, 401, 403, 404, 503))
async def recrop(ctx: ContextDep, form: FieldsDep) -> UploadResponse:
    """Copy an active image to a new key, with variants made from the cropped copy."""
    check_secret(ctx.settings, form.text("secret"))
    key = _required(form.text("filename"), "filename")
    new_key = await ctx.pool.run(recrop_image, ctx, key, crop=form.text("crop"))
    return UploadResponse(filename=new_key)


@router.post("/rotate", response_model=NewFileResponse, openapi_extra=_body(
                 ("secret", "filename"), secret=SECRET, filename=FILENAME, rotation=ROTATION),
             responses=error_responses(400, 401, 403, 404, 503))
async def rotate(ctx: ContextDep, form: FieldsDep) -> NewFileResponse:
    """Rotate an active image into a new key (90, -90 or 180); the old files are deleted."""
    check_secret(ctx.settings, form.text("secret"))
    key = _required(form.text("filename"), "filename")
    new_key = await ctx.pool.run(rotate_image, ctx, key,
                                 form.text("rotation") or ROTATION_VALUES[0])
    return NewFileResponse(filename=new_key)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise BadRequest(f"Missing field {name!r}.")
    return value
