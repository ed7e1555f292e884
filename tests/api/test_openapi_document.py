"""The OpenAPI document as documentation: every operation in an area, summarised and described,
every parameter described, examples for requests and answers (success and errors), closed
sets as enums read from the registries the server checks them with; and /docs served whole
from this service (no CDN). tests/e2e/test_openapi_contract.py checks the server keeps to it,
tests/ui/test_api_docs.py that Swagger UI renders it in a browser without the network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from imagehost.catalog.filters import ORDERS, STATUSES
from imagehost.catalog.models import ImageStatus
from imagehost.imaging.derivation import AUTO, FITS, SMART_GRAVITIES
from imagehost.imaging.formats import OUTPUT_FORMATS, format_named
from imagehost.imaging.variants import GRAVITIES
from imagehost.service.editing import ROTATIONS
from imagehost.service.image_archive import ARCHIVE_KINDS
from imagehost.storage.factory import STORE_NAMES
from imagehost.values import FALSE_WORDS, TRUE_WORDS, parse_bool
from imagehost.web.docs import API_TAGS

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
WITHOUT_EXAMPLE = {"variant", "preset", "sig", "expires", "cursor", "archive"}
"""Optional parameters left out of the example request on purpose: each turns it into another
kind of request (a stored variant, a preset, a signed URL, a later page, a zip) or carries a
token only an earlier answer gives. Their descriptions say what they take."""
BOOLEAN_PARAMETERS = {"enlarge", "thumbnail", "meta", "url", "all"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from imagehost.config import load_settings
    from imagehost.web.app import create_app
    from tests.kit.environ import SECRET, local_settings

    root = tmp_path_factory.mktemp("openapi")
    app = create_app(load_settings(local_settings(root) | {"API_SECRET_KEY": SECRET}))
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def is_binary(schema: dict[str, Any]) -> bool:
    """Bytes: OpenAPI 3.0's format binary, or 3.1's contentMediaType (FastAPI's uploads)."""
    return schema.get("format") == "binary" or "contentMediaType" in schema


def exemplified(document: dict[str, Any], media: dict[str, Any]) -> bool:
    """A media type (of a request or an answer) shows an example: its own, its schema's, or,
    for an object, one for every property that is not bytes. Bytes need none."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = resolve(document, media.get("schema", {}))
    if is_binary(schema) or schema.get("example") is not None or schema.get("examples"):
        return True
    properties = {name: resolve(document, spec)
                  for name, spec in schema.get("properties", {}).items()}
    return bool(properties) and all(
        is_binary(spec) or spec.get("example") is not None or spec.get("examples")
        for spec in properties.values())


def parameter_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = parameter["schema"]
    return schema.get("items", schema) if schema.get("type") == "array" else schema


def test_the_document_has_every_area_and_operation(document: dict[str, Any]) -> None:
    assert [tag["name"] for tag in document["tags"]] == [tag["name"] for tag in API_TAGS]
    assert {"c2corg", "derived images", "records", "admin"} <= {tag["name"]
                                                                for tag in API_TAGS}
    names = dict(operations(document))
    assert len(names) >= 28
    for expected in ("POST /upload", "GET /images/{record_id}/image", "GET /images",
                     "POST /import", "GET /health"):
        assert expected in names


def test_every_operation_is_in_an_area_with_a_summary_and_a_description(
        document: dict[str, Any]) -> None:
    areas = {tag["name"] for tag in API_TAGS}
    problems = []
    for name, operation in operations(document):
        if not operation.get("tags") or not set(operation["tags"]) <= areas:
            problems.append(f"{name}: tags {operation.get('tags')}")
        if not operation.get("summary", "").strip():
            problems.append(f"{name}: no summary")
        if not operation.get("description", "").strip():
            problems.append(f"{name}: no description")
    assert problems == []


def test_every_parameter_is_described_and_the_request_has_an_example(
        document: dict[str, Any]) -> None:
    problems = []
    for name, operation in operations(document):
        for parameter in operation.get("parameters", []):
            where = f"{name} {parameter['in']} {parameter['name']}"
            if len(parameter.get("description", "").strip()) < 8:
                problems.append(f"{where}: no description")
            has_example = (parameter.get("example") is not None or parameter.get("examples")
                           or parameter["schema"].get("examples"))
            if not has_example and (parameter.get("required")
                                    or parameter["name"] not in WITHOUT_EXAMPLE):
                problems.append(f"{where}: no example")
        body = operation.get("requestBody")
        if body is not None:
            for media_type, media in body["content"].items():
                if not exemplified(document, media):
                    problems.append(f"{name} body {media_type}: no example")
                properties = resolve(document, media.get("schema", {})).get("properties", {})
                for field, spec in properties.items():
                    if not resolve(document, spec).get("description", "").strip():
                        problems.append(f"{name} body {media_type} {field}: no description")
    assert problems == []


def test_every_answer_has_an_example(document: dict[str, Any]) -> None:
    """The success answer, and each documented error, shows what comes back."""
    problems = []
    for name, operation in operations(document):
        answers = operation["responses"]
        successes = [status for status in answers if status.startswith("2")]
        assert successes, name
        for status, answer in answers.items():
            content = answer.get("content", {})
            if status.startswith(("2", "4", "5")) and status != "204" and not content:
                problems.append(f"{name} {status}: no content")
            for media_type, media in content.items():
                if not exemplified(document, media):
                    problems.append(f"{name} {status} {media_type}: no example")
        errors = [status for status in answers if status.startswith(("4", "5"))]
        for status in errors:
            example = answers[status]["content"]["application/json"].get("example", {})
            if status != "503" or "error" in example:
                assert set(example) == {"error", "message"}, f"{name} {status}"
    assert problems == []


def test_error_examples_are_the_bodies_the_server_sends(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    example = document["paths"]["/images/{record_id}/image"]["get"]["responses"]["400"][
        "content"]["application/json"]["example"]
    response = client.get("/images/1/image", params={"w": "0"})
    assert response.status_code in (400, 404)
    assert set(response.json()) == set(example)


CLOSED_SETS = {
    "fit": list(FITS),
    "status": list(STATUSES),
    "order": list(ORDERS),
    "archive": list(ARCHIVE_KINDS),
    "store_name": list(STORE_NAMES),
    **{name: [*TRUE_WORDS, *FALSE_WORDS] for name in BOOLEAN_PARAMETERS},
}


def test_closed_sets_are_enums_from_their_registries(document: dict[str, Any]) -> None:
    seen: set[str] = set()
    for name, operation in operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter_schema(parameter)
            key = parameter["name"]
            if key in CLOSED_SETS:
                seen.add(key)
                assert schema.get("enum") == CLOSED_SETS[key], f"{name} {key}"
            elif key in ("format", "kind"):
                seen.add(key)
                enum = schema["enum"]
                assert {format_named(value, OUTPUT_FORMATS) for value in enum
                        if value != AUTO} == set(OUTPUT_FORMATS), name
                assert AUTO in enum
            elif key == "gravity":
                seen.add(key)
                assert schema["anyOf"][0]["enum"] == [*GRAVITIES, *SMART_GRAVITIES], name
                assert all(re.fullmatch(schema["anyOf"][1]["pattern"], point)
                           for point in ("0.5,0.5", "0,1", "0.25, 0.75")), name
    assert seen == {*CLOSED_SETS, "format", "kind", "gravity"}
    assert sorted(STATUSES) == sorted(status.value for status in ImageStatus)
    assert all(parse_bool(word) in (True, False) for word in CLOSED_SETS["all"])

    rotate = document["paths"]["/rotate"]["post"]["requestBody"]["content"]
    for media in rotate.values():
        assert media["schema"]["properties"]["rotation"]["enum"] == [str(r) for r in ROTATIONS]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_script = tag == "script"

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def test_docs_page_and_its_assets_come_from_this_service(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    inline_urls = [url for script in links.scripts
                   for url in re.findall(r"""['"]((?:https?:)?//[^'"]+|/[^'"]*)['"]""", script)]
    urls = links.urls + inline_urls
    assert urls, page.text
    assert not [url for url in urls if re.match(r"(?:https?:)?//", url)], urls
    assert "/openapi.json" in inline_urls
    for url in urls:
        response = client.get(urljoin("http://testserver/docs", url))
        assert response.status_code == 200, url
        assert response.content, url
    script = next(url for url in urls if url.endswith(".js"))
    assert len(client.get(script).content) > 100_000  # the bundle itself, not a stub
