"""The web page: its static files under /ui/ (`/` redirects there) and the small JSON routes
only the page uses (/ui/api/...). They stay out of the OpenAPI document: the page is their
one client, and each calls one use case like every other router."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field, ValidationError

from imagehost.errors import BadRequest, NotFound
from imagehost.service.job_reports import recent_jobs
from imagehost.service.link_signing import MAX_LINKS, LinkRequest, signed_queries
from imagehost.service.moderation import discard_upload, publish_upload
from imagehost.service.overview import catalog_overview
from imagehost.service.page_settings import page_settings
from imagehost.values import InvalidValue, parse_json
from imagehost.web.auth import CallerDep
from imagehost.web.metrics import Metrics
from imagehost.web.state import ContextDep, MetricsDep

router = APIRouter(include_in_schema=False)
PAGE_FOLDER = Path(__file__).parent / "ui"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
ASSETS = {path.name: path for path in sorted(PAGE_FOLDER.iterdir())
          if path.suffix in MEDIA_TYPES and path.name != "index.html"}
PAGE_HEADERS = {
    # The page loads only its own files, talks only to this service and draws images from it
    # (blob: for images fetched with the key); no inline script or style anywhere.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' blob: data:; connect-src 'self'; "
                               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-cache",
    "Referrer-Policy": "same-origin",
}


@router.get("/")
@router.get("/ui")
async def to_page() -> RedirectResponse:
    """Relative, so it holds under ROUTE_PREFIX and behind a proxy that adds a prefix."""
    return RedirectResponse("ui/", status_code=307)


@router.get("/ui/")
async def page() -> FileResponse:
    return FileResponse(PAGE_FOLDER / "index.html", media_type=MEDIA_TYPES[".html"],
                        headers=PAGE_HEADERS)


@router.get("/ui/{name}")
async def asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise NotFound(f"No page file {name!r}.")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=PAGE_HEADERS)


@router.get("/ui/api/session")
async def session(ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    """The caller's scopes and the server's choices the page's forms offer; 401 for an
    unknown key, so signing in checks the key."""
    return page_settings(ctx, caller)


class Link(BaseModel):
    id: int
    query: str = Field(max_length=2000)


class LinksToSign(BaseModel):
    links: list[Link] = Field(max_length=MAX_LINKS)
    expires_in: float | None = None


@router.post("/ui/api/sign")
async def sign(request: Request, ctx: ContextDep, caller: CallerDep) -> dict[str, list[str]]:
    """The query strings of derived-image URLs, signed when URL_SIGNING_KEY is set."""
    body = await json_body(request, LinksToSign)
    links = [LinkRequest(link.id, link.query) for link in body.links]
    return {"queries": signed_queries(ctx, caller, links, body.expires_in)}


@router.get("/ui/api/jobs")
async def jobs(ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    return {"jobs": await ctx.pool.run(recent_jobs, ctx, caller)}


@router.get("/ui/api/overview")
async def overview(ctx: ContextDep, caller: CallerDep, metrics: MetricsDep) -> dict[str, Any]:
    return await ctx.pool.run(catalog_overview, ctx, caller, derived_answers(metrics))


class UploadKey(BaseModel):
    key: str = Field(max_length=1024)


@router.post("/ui/api/publish")
async def publish(request: Request, ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    """c2corg's /publish for an API key with the admin scope (the page has no shared secret)."""
    body = await json_body(request, UploadKey)
    await ctx.pool.run(publish_upload, ctx, caller, body.key)
    return {"success": True, "filename": body.key}


@router.post("/ui/api/delete")
async def delete(request: Request, ctx: ContextDep, caller: CallerDep) -> dict[str, Any]:
    """Throw away an upload (or c2corg's /delete of a published key), for the admin scope."""
    body = await json_body(request, UploadKey)
    await ctx.pool.run(discard_upload, ctx, caller, body.key, datetime.now(UTC))
    return {"success": True, "filename": body.key}


def derived_answers(metrics: Metrics) -> dict[str, float]:
    """imagehost_derived_total by source, read from the exposition, so that under several
    workers it is the whole server's."""
    answers: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        if family.name == "imagehost_derived":
            for sample in family.samples:
                if sample.name == "imagehost_derived_total":
                    source = sample.labels.get("source", "")
                    answers[source] = answers.get(source, 0.0) + sample.value
    return answers



Body = TypeVar("Body", bound=BaseModel)


async def json_body(request: Request, model: type[Body]) -> Body:
    """The JSON body (bounded in depth by parse_json) as `model`; a mismatch answers 400."""
    try:
        document = parse_json(await request.body())
    except InvalidValue as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
