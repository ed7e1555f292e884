"""Per-client rate limits (RATE_LIMIT_UPLOADS, RATE_LIMIT_RENDERS): a token bucket per API key,
else per address; a burst beyond the rate answers 429 with Retry-After and does nothing; cache
hits and 304s are never counted; the bucket refills with time, counted here on an injected
clock."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from imagehost.config import load_settings
from imagehost.errors import ConfigError, RateLimited
from imagehost.service.rate_limits import RateLimit
from imagehost.values import InvalidValue, parse_rate
from tests import imagegen
from tests.api.test_derived_fast_path import route_calls, source
from tests.conftest import app_context, files_under
from tests.kit.environ import local_settings

KEY_A, KEY_B, READER = "limits-writer-a", "limits-writer-b", "limits-reader-1"
API_KEYS = f"{KEY_A}:write;{KEY_B}:write;{READER}:read"
A, B = {"Authorization": f"Bearer {KEY_A}"}, {"Authorization": f"Bearer {KEY_B}"}
JPEG = imagegen.photo_jpeg(64, 48)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_limited(make_client: Callable[..., TestClient], tmp_path: Path,
                 clock: FakeClock) -> Callable[..., TestClient]:
    """A client whose rate limits count on `clock`."""

    def make(**environ: str) -> TestClient:
        client = make_client(API_KEYS=API_KEYS, CACHE_FOLDER=str(tmp_path / "cache"),
                             DISK_CACHE_FOLDER=str(tmp_path / "derived"),
                             RECORD_CACHE_SECONDS="60", **environ)
        app_context(client).rate_limits.set_clock(clock)
        return client

    return make


def from_address(client: TestClient, host: str) -> TestClient:
    """The same app, asked from another client address."""
    return TestClient(client.app, client=(host, 40000), raise_server_exceptions=False)


def assert_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    assert response.json()["error"] == "rate_limited"
    assert response.headers["x-content-type-options"] == "nosniff"


def c2corg_upload(client: TestClient, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/upload", files={"file": ("a.jpg", JPEG, "image/jpeg")},
                       headers=headers)


def records_upload(client: TestClient, path: str, headers: dict[str, str]) -> httpx.Response:
    return client.post("/images", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                       data={"path": path}, headers=headers)


# -- the bucket -------------------------------------------------------------------------------

def test_a_bucket_allows_a_burst_then_one_per_interval(clock: FakeClock) -> None:
    limit = RateLimit("uploads", (3, 60.0), clock)

    assert [limit.wait("a") for _ in range(3)] == [0, 0, 0]
    assert limit.wait("a") == pytest.approx(20.0)
    clock.now += 5
    assert limit.wait("a") == pytest.approx(15.0)      # a refusal takes nothing
    assert limit.wait("b") == 0                        # each client has its own bucket
    clock.now += 15
    assert limit.wait("a") == 0
    assert limit.wait("a") == pytest.approx(20.0)
    clock.now += 3600                                  # refills up to the burst, no further
    assert [limit.wait("a") for _ in range(4)][-2:] == [0, pytest.approx(20.0)]
    with pytest.raises(RateLimited) as refused:
        limit.take("a")
    assert refused.value.retry_after == 20
    assert refused.value.status == 429


def test_no_rate_lets_everything_through(clock: FakeClock) -> None:
    limit = RateLimit("renders", None, clock)

    assert not limit.enabled
    assert all(limit.wait("a") == 0 for _ in range(10_000))


def test_the_least_recently_seen_clients_are_forgotten_beyond_the_bound(
        clock: FakeClock) -> None:
    limit = RateLimit("uploads", (1, 60.0), clock, max_clients=2)
    limit.wait("a")
    limit.wait("b")
    limit.wait("c")                                    # drops a: a new bucket, full again

    assert limit.wait("a") == 0
    assert limit.wait("c") > 0


@pytest.mark.parametrize(("raw", "rate"), [
    ("60/m", (60, 60.0)), ("10/30s", (10, 30.0)), ("1000/h", (1000, 3600.0)),
    (" 5 / 2m ", (5, 120.0)), ("1/d", (1, 86400.0)), ("", None), ("0", None), ("0/m", None)])
def test_rates_parse(raw: str, rate: tuple[int, float] | None) -> None:
    assert parse_rate(raw) == rate


@pytest.mark.parametrize("raw", ["60", "x/m", "60/", "60/fortnight", "-1/m", "1/0s"])
def test_bad_rates_are_refused_naming_the_setting(raw: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidValue):
        parse_rate(raw)
    with pytest.raises(ConfigError, match="RATE_LIMIT_RENDERS"):
        load_settings(local_settings(tmp_path) | {"RATE_LIMIT_RENDERS": raw})


def test_limits_are_off_by_default(make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    limits = app_context(client).rate_limits

    assert not limits.uploads.enabled and not limits.renders.enabled
    assert all(c2corg_upload(client).status_code == 200 for _ in range(12))


# -- uploads ----------------------------------------------------------------------------------

def test_an_upload_burst_is_refused_with_retry_after_and_stores_nothing(
        make_limited: Callable[..., TestClient], clock: FakeClock) -> None:
    client = make_limited(RATE_LIMIT_UPLOADS="3/m")
    incoming = app_context(client).settings.incoming_folder
    for _ in range(3):
        assert c2corg_upload(client).status_code == 200
    stored = files_under(incoming)

    assert_limited(c2corg_upload(client), 20)
    assert_limited(client.post("/upload", content=JPEG * 100, headers={      # body unread
        "Content-Type": "multipart/form-data; boundary=x"}), 20)
    assert files_under(incoming) == stored
    assert records_upload(client, "x/keyed.jpg", A).status_code == 201   # a key of its own

    clock.now += 20
    assert c2corg_upload(client).status_code == 200
    assert_limited(c2corg_upload(client), 20)


def test_uploads_count_per_key_else_per_address(
        make_limited: Callable[..., TestClient]) -> None:
    client = make_limited(RATE_LIMIT_UPLOADS="2/h")

    assert [records_upload(client, f"a/{i}.jpg", A).status_code for i in range(3)] == [
        201, 201, 429]
    assert [records_upload(client, f"b/{i}.jpg", B).status_code for i in range(3)] == [
        201, 201, 429]
    assert [c2corg_upload(client).status_code for _ in range(3)] == [200, 200, 429]
    other = from_address(client, "192.0.2.7")
    assert [c2corg_upload(other).status_code for _ in range(3)] == [200, 200, 429]
    # a key the server does not know buys no bucket of its own: the address pays
    unknown = {"Authorization": "Bearer made-up-key-123"}
    assert_limited(c2corg_upload(client, unknown), 1800)
    assert_limited(records_upload(other, "u/1.jpg", unknown), 1800)


def test_every_upload_route_is_counted_and_nothing_else(
        make_limited: Callable[..., TestClient]) -> None:
    client = make_limited(RATE_LIMIT_UPLOADS="4/h")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("zipped/a.jpg", JPEG)

    record = records_upload(client, "r/a.jpg", A).json()                       # 1
    put = client.put("/images/r/b.jpg", content=JPEG,                          # 2
                     headers={**A, "Content-Type": "image/jpeg"})
    posted = client.post("/images/r/c.jpg", headers=A,                          # 3
                         files={"file": ("c.jpg", JPEG, "image/jpeg")})
    imported = client.post("/import", headers=A,                                # 4
                           files={"archive": ("a.zip", buffer.getvalue(), "application/zip")})
    # not uploads: data edits, reads, deletes
    data = client.put(f"/images/{record['id']}", json={"k": 1}, headers=A)
    patched = client.patch(f"/images/{record['id']}", json={"k": 2}, headers=A)
    read = client.get(f"/images/{record['id']}/image")
    deleted = client.delete(f"/images/{record['id']}", headers=A)

    assert (put.status_code, posted.status_code, imported.status_code) == (201, 201, 200)
    assert (data.status_code, patched.status_code, read.status_code,
            deleted.status_code) == (200, 200, 200, 200)
    assert_limited(records_upload(client, "r/d.jpg", A), 900)
    assert_limited(client.post("/import", headers=A, files={
        "archive": ("a.zip", buffer.getvalue(), "application/zip")}), 900)


# -- renders ----------------------------------------------------------------------------------

def published(client: TestClient, path: str) -> dict[str, Any]:
    response = client.post("/images", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                           data={"path": path, "data": json.dumps({})}, headers=A)
    assert response.status_code == 201, response.text
    return response.json()


def render(client: TestClient, record_id: int, width: int,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return client.get(f"/images/{record_id}/image", params={"w": width}, headers=headers)


def test_a_render_burst_is_refused_and_hits_never_are(
        make_limited: Callable[..., TestClient], clock: FakeClock) -> None:
    client = make_limited(RATE_LIMIT_RENDERS="2/m")
    record = published(client, "renders/a.jpg")["id"]
    first = render(client, record, 10)
    assert source(first) == "rendered"
    assert source(render(client, record, 20)) == "rendered"

    assert_limited(render(client, record, 30), 30)
    calls = route_calls(client)
    for _ in range(5):                                 # memory hits, by the fast path
        assert source(render(client, record, 10)) == "memory"
    assert calls == []
    for _ in range(3):                                 # memory hits through the route
        assert source(render(client, record, 20, headers=A)) == "memory"
    assert render(client, record, 10, headers={"If-None-Match": first.headers["etag"]}
                  ).status_code == 304
    app_context(client).cache.memory.purge(f"derived/{record}/")
    assert source(render(client, record, 10)) == "disk"    # a disk hit, out of renders
    assert render(client, record, 10).content == first.content
    assert render(client, record, 0).status_code == 400   # an error is an error, not a 429
    assert render(client, record, 30).status_code == 429

    clock.now += 30
    assert source(render(client, record, 30)) == "rendered"
    assert_limited(render(client, record, 40), 30)


def test_renders_count_per_key_else_per_address(
        make_limited: Callable[..., TestClient]) -> None:
    client = make_limited(RATE_LIMIT_RENDERS="1/h")
    record = published(client, "renders/b.jpg")["id"]
    other = from_address(client, "198.51.100.9")

    assert source(render(client, record, 11)) == "rendered"
    assert_limited(render(client, record, 12), 3600)
    assert source(render(client, record, 13, headers=A)) == "rendered"
    assert_limited(render(client, record, 14, headers=A), 3600)
    assert source(render(client, record, 15, headers={"Authorization": f"Bearer {READER}"})
                  ) == "rendered"
    assert source(render(other, record, 16)) == "rendered"
    assert_limited(render(other, record, 17), 3600)
    assert_limited(render(other, record, 18, headers=A), 3600)


def test_the_openapi_document_lists_429_where_a_limit_applies(
        make_client: Callable[..., TestClient]) -> None:
    spec = make_client().get("/openapi.json").json()["paths"]

    for path, method in (("/upload", "post"), ("/images", "post"), ("/images/{ref}", "put"),
                         ("/images/{ref}", "post"), ("/import", "post"),
                         ("/images/{record_id}/image", "get")):
        assert "429" in spec[path][method]["responses"], (path, method)
    assert "429" not in spec["/images"]["get"]["responses"]
