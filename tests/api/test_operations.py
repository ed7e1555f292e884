"""Operations over HTTP (in-process): CORS and preflight, JSON errors, /health, /metrics, the
local /active folder, overload (503) and the request body limit (413)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from imagehost.web.app import FORM_OVERHEAD_BYTES
from tests import imagegen
from tests.conftest import SECRET, app_context, files_under

BROWSER_ORIGIN = "https://www.camptocamp.org"


def upload(client: TestClient, data: bytes, name: str = "photo.jpg") -> httpx.Response:
    return client.post("/upload", files={"file": (name, data, "image/jpeg")})


def published_key(client: TestClient, data: bytes, name: str = "photo.jpg") -> str:
    response = upload(client, data, name)
    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    response = client.post("/publish", data={"secret": SECRET, "filename": key})
    assert response.status_code == 200, response.text
    return key


def every_file(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def nothing_stored(client: TestClient) -> bool:
    settings = app_context(client).settings
    return (every_file(settings.incoming_folder) == [] and every_file(settings.active_folder) == []
            and app_context(client).records.count_by_status() == {})


def header_items(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def metric(text: str, name: str) -> float | None:
    """The value of one sample line `name value` (name includes its labels), or None."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return None if match is None else float(match.group(1))


# ---------------------------------------------------------------------------- CORS


def test_browser_preflight_for_upload_allows_authorization(client: TestClient) -> None:
    response = client.options("/upload", headers={
        "Origin": BROWSER_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    })

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in header_items(response.headers["access-control-allow-headers"])
    assert "post" in header_items(response.headers["access-control-allow-methods"])


def test_preflight_without_origin_is_200(client: TestClient) -> None:
    """c2corg answered 500 here (KeyError on the Origin header)."""
    response = client.options("/upload")

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_cors_headers_are_on_successful_and_error_responses(client: TestClient) -> None:
    for response in (client.get("/ping", headers={"Origin": BROWSER_ORIGIN}),
                     upload(client, imagegen.text_file()),
                     client.get("/no/such/route")):
        assert response.headers["access-control-allow-origin"] == "*", response.url


ALLOWED = "https://a.example,https://b.example"


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_listed_origin_is_echoed_with_vary(make_client: Callable[..., TestClient],
                                           method: str) -> None:
    client = make_client(ALLOWED_ORIGINS=ALLOWED)

    response = client.request(method, "/ping", headers={"Origin": "https://b.example"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://b.example"
    assert "origin" in header_items(response.headers.get("vary", ""))


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_unlisted_origin_gets_no_allow_origin(make_client: Callable[..., TestClient],
                                              method: str) -> None:
    client = make_client(ALLOWED_ORIGINS=ALLOWED)

    response = client.request(method, "/ping", headers={"Origin": "https://c.example"})

    assert "access-control-allow-origin" not in response.headers
    assert response.status_code == 200


def test_origin_dependent_responses_always_vary_on_origin(
        make_client: Callable[..., TestClient]) -> None:
    """With an origin list, the CORS headers depend on Origin, so every response must say so
    (Vary: Origin), also when the origin is refused or absent: otherwise a shared cache may
    serve a response without Access-Control-Allow-Origin to an allowed origin."""
    client = make_client(ALLOWED_ORIGINS=ALLOWED)

    refused = client.get("/ping", headers={"Origin": "https://c.example"})
    absent = client.get("/ping")

    assert "origin" in header_items(refused.headers.get("vary", ""))
    assert "origin" in header_items(absent.headers.get("vary", ""))


# ---------------------------------------------------------------------------- JSON errors


def test_get_on_publish_is_405_json(client: TestClient) -> None:
    response = client.get("/publish")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "method_not_allowed"


def test_unknown_path_is_404_json(client: TestClient) -> None:
    response = client.get("/no/such/route")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "not_found"


_ERRORS: list = [
    pytest.param(lambda c: c.get("/publish"), 405, id="405-get-publish"),
    pytest.param(lambda c: c.get("/nope"), 404, id="404-unknown-path"),
    pytest.param(lambda c: upload(c, imagegen.text_file()), 400, id="400-not-an-image"),
    pytest.param(lambda c: c.post("/upload", data={"x": "1"}), 400, id="400-no-file"),
    pytest.param(lambda c: upload(c, imagegen.png_pixel_bomb()), 413, id="413-pixel-bomb"),
    pytest.param(lambda c: c.post("/publish", data={"filename": "1_2.jpg"}), 401,
                 id="401-no-secret"),
    pytest.param(lambda c: c.post("/publish", data={"secret": "x", "filename": "1_2.jpg"}),
                 403, id="403-bad-secret"),
    pytest.param(lambda c: c.post("/publish", data={"secret": SECRET, "filename": "1_2.jpg"}),
                 404, id="404-unknown-image"),
    pytest.param(lambda c: c.post("/publish", data={"secret": SECRET, "filename": "a.jpg"}),
                 400, id="400-bad-key"),
    pytest.param(lambda c: c.post("/publish", data={"secret": SECRET}), 400,
                 id="400-no-filename"),
    pytest.param(lambda c: c.post("/delete", data={"secret": "x"}), 403, id="403-delete"),
    pytest.param(lambda c: c.get("/active/1_2.jpg"), 404, id="404-active"),
]


@pytest.mark.parametrize(("call", "status"), _ERRORS)
def test_every_error_response_is_json(client: TestClient, call: Callable, status: int) -> None:
    response = call(client)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]


# ---------------------------------------------------------------------------- health, metrics


def test_health_reports_catalog_and_stores(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"catalog": "ok", "store.incoming": "ok", "store.active": "ok",
                              "store.cache": "ok"}


def test_metrics_count_requests_uploads_and_renders(client: TestClient) -> None:
    before = client.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert "imagehost_requests_total" in before.text
    assert not metric(before.text, 'imagehost_uploads_total{format="jpeg"}')

    assert upload(client, imagegen.text_file()).status_code == 400  # not counted as upload
    assert upload(client, imagegen.photo_jpeg(300, 200)).status_code == 200
    text = client.get("/metrics").text

    assert 'imagehost_uploads_total{format="jpeg"} 1.0' in text.splitlines()
    assert metric(text, "imagehost_render_seconds_count") == 1.0
    assert metric(text, 'imagehost_requests_total{method="POST",route="/upload",'
                        'status="200"}') == 1.0
    assert metric(text, 'imagehost_requests_total{method="POST",route="/upload",'
                        'status="400"}') == 1.0
    assert metric(text, "imagehost_upload_bytes_total") == len(imagegen.photo_jpeg(300, 200))


# ---------------------------------------------------------------------------- /active


CUSTOM_CACHE_CONTROL = "public, max-age=31536000, immutable"


@pytest.mark.parametrize(("data", "name", "content_type"), [
    pytest.param(lambda: imagegen.photo_jpeg(300, 200), "photo.jpg", "image/jpeg", id="jpeg"),
    pytest.param(lambda: imagegen.photo_png(300, 200), "photo.png", "image/png", id="png"),
    pytest.param(lambda: imagegen.svg(300, 200), "drawing.svg", "image/svg+xml", id="svg"),
])
def test_active_serves_published_files_with_cache_control(
        make_client: Callable[..., TestClient], data: Callable[[], bytes], name: str,
        content_type: str) -> None:
    client = make_client(CACHE_CONTROL=CUSTOM_CACHE_CONTROL)
    key = published_key(client, data(), name)
    active = app_context(client).settings.active_folder

    response = client.get(f"/active/{key}")

    assert response.status_code == 200
    assert response.content == (active / key).read_bytes()
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["cache-control"] == CUSTOM_CACHE_CONTROL
    base = key.rsplit(".", 1)[0]
    variant_ext = "jpg" if key.endswith(".svg") else key.rsplit(".", 1)[1]
    variant = client.get(f"/active/{base}SI.{variant_ext}")
    assert variant.status_code == 200
    assert variant.content == (active / f"{base}SI.{variant_ext}").read_bytes()
    assert variant.headers["cache-control"] == CUSTOM_CACHE_CONTROL


def test_active_does_not_serve_unpublished_uploads(client: TestClient) -> None:
    response = upload(client, imagegen.photo_jpeg(300, 200))
    key = response.json()["filename"]

    missing = client.get(f"/active/{key}")

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("path", "status"), [
    # the client resolves literal dot segments (RFC 3986): this asks for /catalog.db, an
    # unknown route
    ("/active/../catalog.db", 404),
    # malformed keys
    ("/active/%2e%2e/catalog.db", 400),
    ("/active/..%2fcatalog.db", 400),
    ("/active/%2e%2e%2fcatalog.db", 400),
    ("/active/%2fetc%2fpasswd", 400),
    ("/active/.tmp/anything", 400),
    # a well-formed key of no image
    ("/active/1_2.jpg", 404),
])
def test_active_never_serves_a_file_outside_the_folder(client: TestClient, tmp_path: Path,
                                                       path: str, status: int) -> None:
    published_key(client, imagegen.photo_jpeg(50, 50))
    secret_file = tmp_path / "catalog.db"
    assert secret_file.is_file()

    response = client.get(path)

    assert response.status_code == status, (path, response.status_code)
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"error", "message"}
    assert not response.content.startswith(b"SQLite format")


# ---------------------------------------------------------------------------- overload


def test_full_work_pool_answers_503_with_retry_after_and_writes_nothing(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(RENDER_THREADS="1", RENDER_QUEUE="0")
    pool = app_context(client).pool
    assert pool.capacity == 1
    pool.in_flight = pool.capacity
    try:
        response = upload(client, imagegen.photo_jpeg(300, 200))
    finally:
        pool.in_flight = 0

    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "overloaded"
    assert nothing_stored(client)
    assert upload(client, imagegen.photo_jpeg(300, 200)).status_code == 200  # and recovers


# ---------------------------------------------------------------------------- body limit


def _post_streamed(app: object, body_size: int, *, declare_length: bool,
                   multipart: bool) -> tuple[httpx.Response, int]:
    """POST /upload with a body of `body_size` bytes produced chunk by chunk on demand;
    returns the response and how many bytes the server pulled."""
    boundary = "imagehostboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    filler = body_size - len(head) - len(tail) if multipart else body_size
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        parts = [head] if multipart else []
        remaining = filler
        while remaining > 0:
            parts.append(b"\x00" * min(65536, remaining))
            remaining -= len(parts[-1])
        if multipart:
            parts.append(tail)
        for part in parts:
            pulled += len(part)
            yield part

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    if declare_length:
        headers["content-length"] = str(body_size)

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.post("/upload", content=chunks(), headers=headers)

    return asyncio.run(send()), pulled


def test_declared_content_length_over_the_limit_is_413_before_reading(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(MAX_UPLOAD_BYTES="20000")
    limit = 20000 + FORM_OVERHEAD_BYTES

    response, pulled = _post_streamed(client.app, limit + 4096, declare_length=True,
                                      multipart=True)

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "limit_exceeded"
    assert response.headers["access-control-allow-origin"] == "*"
    assert pulled == 0
    assert nothing_stored(client)


def test_streamed_body_over_the_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(MAX_UPLOAD_BYTES="20000")
    limit = 20000 + FORM_OVERHEAD_BYTES

    response, pulled = _post_streamed(client.app, 4 * limit, declare_length=False,
                                      multipart=True)

    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "limit_exceeded"
    assert pulled < 2 * limit  # reading stopped soon after the limit
    assert nothing_stored(client)


def test_large_body_through_the_test_client_is_413_and_stores_nothing(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(MAX_UPLOAD_BYTES="20000")
    data = imagegen.photo_jpeg(1000, 1000)
    assert len(data) > 20000 + FORM_OVERHEAD_BYTES

    response = upload(client, data)

    assert response.status_code == 413
    assert response.json()["error"] == "limit_exceeded"
    assert nothing_stored(client)
    assert files_under(app_context(client).settings.incoming_folder) == []
