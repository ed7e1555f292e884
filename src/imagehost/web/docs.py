"""/docs without the internet: Swagger UI's files come from the swagger-ui-bundle-v2 package,
served by imagehost itself, instead of FastAPI's default CDN."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from imagehost.service.vocabulary import BOOLEANS
from imagehost.values import FALSE_WORDS, TRUE_WORDS

ASSETS = "/docs/assets"
API_DESCRIPTION = """An image backend for the whole life of an image: upload, safe processing,
resized variants, publishing, on-demand sizes and formats, free-form metadata records,
temporary URLs, clean-up and bulk migration.

Errors are JSON `{"error": code, "message": text}` with the status that says what happened:
400 malformed, 401 no key, 403 wrong secret or scope, 404 unknown, 409 conflict, 413 over a
limit, 429 over a rate (Retry-After), 503 busy or a store or the catalog down (Retry-After).
Records routes take `Authorization: Bearer <key>` (API_KEYS, API_SECRET_KEY)."""
API_TAGS = [
    {"name": "c2corg", "description": "The c2corg image backend's routes: browser uploads, "
                                      "and publish, delete, recrop, rotate with the shared "
                                      "secret (form fields or JSON)."},
    {"name": "derived images", "description": "The original, a stored variant, metadata, a "
                                              "temporary URL, or any size and format, made "
                                              "on demand and cached."},
    {"name": "records", "description": "Images with free-form JSON data: upload, filter, "
                                       "edit in bulk, export and import."},
    {"name": "files", "description": "Stored objects as they are: published files and "
                                     "signed temporary URLs of the local store."},
    {"name": "admin", "description": "Health, metrics and version."},
]


def install_docs(app: FastAPI, prefix: str) -> None:
    """GET {prefix}/docs (the page) and {prefix}/docs/assets/* (its scripts and styles)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs", response_class=HTMLResponse)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{prefix}/openapi.json", title="imagehost API",
            swagger_js_url=f"{prefix}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}{ASSETS}/favicon-32x32.png")

    app.include_router(router, prefix=prefix)
    app.mount(f"{prefix}{ASSETS}", StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)),
              name="docs-assets")


# What the routers' hand-written parts of the document are made of (the parameters they read
# from request.query_params, and the bodies they parse themselves).

FLAG_HELP = (f"A boolean: {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}, in any case; "
             "default false.")


def parameter(name: str, description: str, schema: dict[str, Any], example: Any = None, *,
              where: str = "query", required: bool = False) -> dict[str, Any]:
    """One OpenAPI parameter; an array is a comma list (`status=incoming,active`), which may
    be empty (`status=`: no condition)."""
    document: dict[str, Any] = {"name": name, "in": where,
                                "required": required or where == "path",
                                "description": description, "schema": schema}
    if schema.get("type") == "array":
        document |= {"style": "form" if where == "query" else "simple", "explode": False}
        if where == "query":
            document["allowEmptyValue"] = True
    if example is not None:
        document["example"] = example
    return document


def one_of(values: Iterable[object], default: str | None = None) -> dict[str, Any]:
    """A closed set of strings."""
    schema: dict[str, Any] = {"type": "string", "enum": [str(v) for v in values]}
    if default is not None:
        schema["default"] = default
    return schema


def flag(name: str, description: str, example: str = "false") -> dict[str, Any]:
    """A boolean query parameter, with every spelling it takes."""
    return parameter(name, f"{description} {FLAG_HELP}", one_of(BOOLEANS, "false"), example)


def comma_list(items: dict[str, Any], **bounds: int) -> dict[str, Any]:
    return {"type": "array", "items": items, **bounds}


def body_example(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A request body's example: the example of each of its properties that has one."""
    return {name: spec["example"] for name, spec in properties.items() if "example" in spec}
