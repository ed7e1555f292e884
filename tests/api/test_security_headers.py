"""Safe responses (README, derived images, Safety): `X-Content-Type-Options: nosniff` on every
answer, the fast path's memory hits and the middlewares' own answers included; a sandboxing
Content-Security-Policy on every SVG answer (originals, /active, /files); stored objects that
are not images sent as attachments."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests import imagegen
from tests.api.test_derived import ADMIN, EXIF_JPEG, get, upload
from tests.api.test_derived_fast_path import route_calls, source, warm
from tests.conftest import SECRET, app_context

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


@pytest.fixture
def client(make_client: Callable[..., TestClient], tmp_path: Path) -> TestClient:
    return make_client(CACHE_FOLDER=str(tmp_path / "cache"),
                       DISK_CACHE_FOLDER=str(tmp_path / "derived"), RECORD_CACHE_SECONDS="60")


def assert_nosniff(response: httpx.Response) -> None:
    assert response.headers.get_list("x-content-type-options") == ["nosniff"], (
        response.status_code, dict(response.headers))


def assert_no_policy(response: httpx.Response) -> None:
    assert "content-security-policy" not in response.headers


def assert_svg_policy(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers.get_list("content-security-policy") == [SVG_POLICY]
    assert_nosniff(response)
    assert "content-disposition" not in response.headers


def signed_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_nosniff_on_json_images_errors_and_304s(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "safe/photo.jpg")
    original = get(client, record["id"])
    answers = {
        "record JSON": client.get(f"/images/{record['id']}", headers=ADMIN),
        "listing JSON": client.get("/images", headers=ADMIN),
        "original": original,
        "304": get(client, record["id"], headers={"If-None-Match": original.headers["etag"]}),
        "rendered": get(client, record["id"], w=40),
        "variant": get(client, record["id"], variant="MI"),
        "active": client.get(f"/active/{record['file']}"),
        "c2corg upload": client.post("/upload", files={"file": ("a.jpg", EXIF_JPEG)}),
        "ping": client.get("/ping"),
        "400": get(client, record["id"], w="x"),
        "401": client.get("/images"),
        "404": client.get("/images/999999/image"),
        "404 route": client.get("/no/such/route"),
        "405": client.put("/ping"),
        "CORS preflight": client.options("/images", headers={
            "Origin": "https://a.example", "Access-Control-Request-Method": "POST"}),
        "413 from the body limit": client.post("/upload", content=b"x", headers={
            "Content-Length": str(10**9), "Content-Type": "application/octet-stream"}),
        "openapi": client.get("/openapi.json"),
    }

    expected = {"record JSON": 200, "listing JSON": 200, "original": 200, "304": 304,
                "rendered": 200, "variant": 200, "active": 200, "c2corg upload": 200,
                "ping": 200, "400": 400, "401": 401, "404": 404, "404 route": 404, "405": 405,
                "CORS preflight": 200, "413 from the body limit": 413, "openapi": 200}
    assert {name: r.status_code for name, r in answers.items()} == expected
    for name, response in answers.items():
        assert_nosniff(response)
        assert_no_policy(response)
        assert "content-disposition" not in response.headers, name


def test_nosniff_on_memory_hits_of_the_fast_path(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "safe/hit.jpg")
    first = warm(client, record["id"], w=48, format="webp")
    calls = route_calls(client)

    hit = get(client, record["id"], w=48, format="webp")
    not_modified = get(client, record["id"], w=48, format="webp",
                       headers={"If-None-Match": first.headers["etag"]})

    assert calls == []                                          # the fast path answered both
    assert (hit.status_code, source(hit)) == (200, "memory")
    assert not_modified.status_code == 304
    for response in (first, hit, not_modified):
        assert_nosniff(response)
        assert_no_policy(response)


def svg_record(client: TestClient) -> dict[str, Any]:
    return upload(client, imagegen.svg(120, 80), "drawings/plan.svg")


def test_svg_originals_are_sandboxed_derived_rasters_are_not(client: TestClient) -> None:
    record = svg_record(client)

    original = get(client, record["id"])
    assert_svg_policy(original)
    assert original.content.startswith(b"<")
    assert_svg_policy(client.get(f"/images/{record['id']}/file"))
    head = client.head(f"/images/{record['id']}/image")
    assert head.headers["content-security-policy"] == SVG_POLICY
    raster = get(client, record["id"], w=60)                 # SVG renders to PNG
    assert raster.headers["content-type"] == "image/png"
    assert_nosniff(raster)
    assert_no_policy(raster)


def test_svg_from_active_and_from_signed_files_is_sandboxed(client: TestClient) -> None:
    key = client.post("/upload", files={"file": ("d.svg", imagegen.svg(90, 60),
                                                 "image/svg+xml")}).json()["filename"]
    incoming = app_context(client).stores.incoming.signed_url(key, 60)
    assert_svg_policy(client.get(signed_path(incoming)))
    assert client.post("/publish", data={"secret": SECRET, "filename": key}).status_code == 200

    assert_svg_policy(client.get(f"/active/{key}"))
    assert_svg_policy(client.get(signed_path(
        app_context(client).stores.active.signed_url(key, 60))))
    raster_variant = client.get(f"/active/{key.removesuffix('.svg')}MI.jpg")
    assert raster_variant.headers["content-type"] == "image/jpeg"
    assert_no_policy(raster_variant)


def test_stored_objects_that_are_not_images_are_attachments(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "safe/meta.jpg")
    assert get(client, record["id"], meta="true").status_code == 200   # caches meta.json
    cache = app_context(client).cache.store
    [meta_key] = [info.key for info in cache.list(f"derived/{record['id']}/")
                  if info.key.endswith(".json")]
    cache.put("derived/page.html", b"<script>alert(1)</script>", "text/html")

    meta = client.get(signed_path(cache.signed_url(meta_key, 60)))
    page = client.get(signed_path(cache.signed_url("derived/page.html", 60)))

    assert meta.status_code == 200 and meta.json()["id"] == record["id"]
    assert meta.headers["content-type"].startswith("application/json")
    assert meta.headers["content-disposition"] == 'attachment; filename="meta.json"'
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-disposition"] == 'attachment; filename="page.html"'
    for response in (meta, page):
        assert_nosniff(response)
    image = client.get(f"/active/{record['file']}")
    assert "content-disposition" not in image.headers
