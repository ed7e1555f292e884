"""The derived-image fast path: DerivedFastPath asks the same `serve_derived` the route
calls and answers an anonymous derivation (a memory hit, a 304, a disk or store hit, or a
render) before FastAPI's routing, with the same bytes and headers as the route; the original,
meta, url and variants only from memory (`memory_only=True`). Everything else (errors,
Authorization, unpublished images, renders while RATE_LIMIT_RENDERS is on) goes on to the
route. The service code that writes a record forgets it in
the record cache, so once a write through this process has answered, the next read sees it;
changes behind its back show only after RECORD_CACHE_SECONDS.

Three levels: `serve_derived` itself on a ServiceContext; the middleware in front of a stub
application (whether it answered or let the request through is seen directly); and HTTP, where
whether the route ran is seen through a FastAPI dependency override of `context` (the image
route depends on it; the fast path calls no dependency at all)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from imagehost import runtime
from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.errors import BadRequest
from imagehost.service.context import ServiceContext
from imagehost.service.derived import ImageAnswer, ImageRequest, serve_derived
from imagehost.service.record_cache import RecordCache
from imagehost.service.records import patch_data, store_record
from imagehost.service.url_signing import sign
from imagehost.web import state
from imagehost.web.fast_path import DerivedFastPath
from imagehost.web.metrics import Metrics
from tests import imagegen
from tests.api.test_derived import (
    ADMIN,
    BLOCKS_PNG,
    BLUE,
    EXIF_JPEG,
    GREEN,
    flip_last,
    get,
    has_colour,
    magic,
    metric,
    size,
    upload,
)
from tests.conftest import SECRET, app_context

SIGNING_KEY = "fast-path-signing-key"
ALLOWED = "https://a.example,https://b.example"
ROUTE_LABEL = "/images/{record_id}/image"
SAME_HEADERS = ("etag", "cache-control", "content-type", "content-length")


def modified(count: int) -> dict[str, object]:
    """A bulk PATCH answer: imagehost's count and MongoDB's names for the microservice."""
    return {"modified": count, "modifiedCount": count, "acknowledged": True}


def deleted(count: int) -> dict[str, object]:
    return {"deleted": count, "deletedCount": count, "acknowledged": True}


@pytest.fixture
def make_fast_client(make_client: Callable[..., TestClient],
                     tmp_path: Path) -> Callable[..., TestClient]:
    """A client whose caches live under tmp_path, with a record cache of 60 s unless told
    otherwise (so that a slow first render cannot let the record expire before the second
    request)."""

    def make(**extra: str) -> TestClient:
        return make_client(**{"CACHE_FOLDER": str(tmp_path / "cache"),
                              "DISK_CACHE_FOLDER": str(tmp_path / "derived"),
                              "RECORD_CACHE_SECONDS": "60", **extra})

    return make


@pytest.fixture
def client(make_fast_client: Callable[..., TestClient]) -> TestClient:
    return make_fast_client()


class FakeClock:
    """An injected clock for the record cache's TTL."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def route_calls(client: TestClient) -> list[str]:
    """From now on, the path of every request that reaches the image route (FastAPI calls
    `context` for it; the fast path calls no dependency)."""
    calls: list[str] = []

    async def counted(request: Request) -> ServiceContext:
        if request.url.path.endswith("/image"):
            calls.append(request.url.path)
        return request.app.state.ctx

    app: Any = client.app
    app.dependency_overrides[state.context] = counted
    return calls


def requests_metric(client: TestClient, method: str, route: str, status: int) -> float:
    text = client.get("/metrics").text
    name = f'imagehost_requests_total{{method="{method}",route="{route}",status="{status}"}}'
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def source(response: httpx.Response) -> str | None:
    return response.headers.get("x-imagehost-source")


def warm(client: TestClient, record_id: int, headers: dict[str, str] | None = None,
         **params: Any) -> httpx.Response:
    """Render `params` into the memory tier (and the record into the record cache)."""
    first = get(client, record_id, headers=headers, **params)
    assert first.status_code == 200, first.text
    assert source(first) == "rendered"
    return first


def assert_json_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert source(response) is None


# -- the hit itself ----------------------------------------------------------------------------

def test_second_request_is_a_memory_hit_identical_to_the_rendered_one_with_cors(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(ALLOWED_ORIGINS=ALLOWED)
    record = upload(client, EXIF_JPEG, "photos/fast.jpg")
    origin = {"Origin": "https://b.example"}
    params = {"w": 64, "h": 64, "format": "webp"}
    first = warm(client, record["id"], headers=origin, **params)
    calls = route_calls(client)

    second = get(client, record["id"], headers=origin, **params)

    assert second.status_code == 200
    assert source(second) == "memory"
    assert calls == []                                   # the fast path answered
    assert second.content == first.content
    assert magic(second.content) == "webp" and size(second.content) == (64, 48)
    for name in SAME_HEADERS:
        assert second.headers[name] == first.headers[name], name
    assert int(second.headers["content-length"]) == len(first.content)
    assert "vary" not in first.headers or "accept" not in first.headers["vary"].lower()
    for response in (first, second):
        assert response.headers["access-control-allow-origin"] == "https://b.example"
        assert "ETag" in response.headers["access-control-expose-headers"]
        assert "origin" in response.headers["vary"].lower()


def test_the_fast_path_answers_without_the_route_and_is_counted_under_the_route(
        client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/counted.jpg")
    warm(client, record["id"], w=64, h=64, format="webp")
    requests = requests_metric(client, "GET", ROUTE_LABEL, 200)
    memory = metric(client, "memory")
    rendered = metric(client, "rendered")
    calls = route_calls(client)

    for _ in range(3):
        response = get(client, record["id"], w=64, h=64, format="webp")
        assert response.status_code == 200 and source(response) == "memory"

    assert calls == []
    assert requests_metric(client, "GET", ROUTE_LABEL, 200) == requests + 3
    assert requests_metric(client, "GET", "unmatched", 200) == 0
    assert metric(client, "memory") == memory + 3
    assert metric(client, "rendered") == rendered
    # a miss is rendered on the fast path too; with a key, the route answers it
    other = get(client, record["id"], w=32, format="webp")
    assert source(other) == "rendered" and size(other.content) == (32, 24)
    assert calls == []
    keyed = get(client, record["id"], headers=ADMIN, w=31, format="webp")
    assert source(keyed) == "rendered" and size(keyed.content) == (31, 23)
    assert calls == [f"/images/{record['id']}/image"]


def test_the_fast_path_under_a_route_prefix(make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(ROUTE_PREFIX="/img/")
    response = client.post("/img/images", files={"image": ("p.jpg", EXIF_JPEG)},
                           data={"path": "prefixed/p.jpg"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    url = f"/img/images/{response.json()['id']}/image?w=40&format=png"
    first = client.get(url)
    assert source(first) == "rendered"
    calls = route_calls(client)

    second = client.get(url)

    assert source(second) == "memory" and second.content == first.content
    assert calls == []
    assert client.get(url.replace("/img/", "/", 1)).status_code == 404
    # both answers, the route's and the fast path's, are counted under one and the same label
    text = client.get("/img/metrics").text
    labels = re.findall(r'^imagehost_requests_total\{method="GET",route="([^"]*/image)",'
                        r'status="200"\} (\S+)$', text, re.M)
    assert labels in ([("/img" + ROUTE_LABEL, "2.0")], [(ROUTE_LABEL, "2.0")]), labels


def test_head_of_a_memory_hit(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/head.jpg")
    full = warm(client, record["id"], w=64, h=64, format="webp")
    calls = route_calls(client)

    head = client.head(f"/images/{record['id']}/image", params={"w": 64, "h": 64,
                                                               "format": "webp"})

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert source(head) == "memory"
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-type"] == "image/webp"
    assert calls == []


# -- conditional requests ----------------------------------------------------------------------

@pytest.mark.parametrize("form", ["{etag}", "W/{etag}", '"other", W/{etag}', "*"])
def test_if_none_match_is_304_on_the_fast_path(client: TestClient, form: str) -> None:
    record = upload(client, EXIF_JPEG, "photos/etag.jpg")
    etag = warm(client, record["id"], w=64, h=64, format="webp").headers["etag"]
    calls = route_calls(client)
    memory = metric(client, "memory")

    response = get(client, record["id"], headers={"If-None-Match": form.format(etag=etag)},
                   w=64, h=64, format="webp")

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert source(response) is None
    assert calls == []
    assert metric(client, "memory") == memory


def test_if_none_match_304_needs_no_bytes_in_memory(client: TestClient) -> None:
    """The record cached is enough: a matching ETag for bytes no longer in memory is a 304."""
    record = upload(client, EXIF_JPEG, "photos/gone.jpg")
    etag = warm(client, record["id"], w=50).headers["etag"]
    app_context(client).cache.memory.purge(f"derived/{record['id']}/")
    calls = route_calls(client)

    assert get(client, record["id"], headers={"If-None-Match": etag}, w=50).status_code == 304
    other = get(client, record["id"], headers={"If-None-Match": '"nope"'}, w=50)
    assert other.status_code == 200
    assert source(other) == "disk"                       # not in memory: read from disk
    assert calls == []


# -- staleness: writes by this process are seen at once, changes behind its back after the TTL --

def test_a_row_deleted_behind_the_back_is_served_until_the_record_is_forgotten(
        client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/stale.jpg")
    first = warm(client, record["id"], w=64, h=64, format="webp")
    ctx = app_context(client)
    assert ctx.records.delete([record["id"]]) == 1       # another process, say: no service
    assert ctx.records.get(record["id"]) is None

    stale = get(client, record["id"], w=64, h=64, format="webp")

    assert stale.status_code == 200 and source(stale) == "memory"
    assert stale.content == first.content
    ctx.record_cache.forget(record["id"])
    assert_json_error(get(client, record["id"], w=64, h=64, format="webp"), 404, "not_found")


def test_a_row_deleted_behind_the_back_is_404_once_the_ttl_has_passed(
        make_fast_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(runtime, "RecordCache", functools.partial(RecordCache, clock=clock))
    client = make_fast_client(RECORD_CACHE_SECONDS="0.5")
    record = upload(client, EXIF_JPEG, "photos/ttl.jpg")
    warm(client, record["id"], w=64)
    assert len(app_context(client).record_cache) == 1
    app_context(client).records.delete([record["id"]])

    clock.now += 0.499
    stale = get(client, record["id"], w=64)
    assert stale.status_code == 200 and source(stale) == "memory"   # within the TTL
    clock.now += 0.001                                               # the TTL has passed

    assert_json_error(get(client, record["id"], w=64), 404, "not_found")
    assert len(app_context(client).record_cache) == 0


def test_delete_through_http_is_404_at_once(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/deleted.jpg")
    warm(client, record["id"], w=64, h=64, format="webp")
    assert source(get(client, record["id"], w=64, h=64, format="webp")) == "memory"

    assert client.delete(f"/images/{record['id']}", headers=ADMIN).status_code == 200

    assert len(app_context(client).record_cache) == 0
    assert_json_error(get(client, record["id"], w=64, h=64, format="webp"), 404, "not_found")
    head = client.head(f"/images/{record['id']}/image?w=64&h=64&format=webp")
    assert head.status_code == 404


def test_a_replacement_published_through_http_has_a_new_etag_at_once(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/replaced.jpg")
    old = warm(client, record["id"], w=64, format="png")
    assert source(get(client, record["id"], w=64, format="png")) == "memory"

    again = upload(client, imagegen.photo_jpeg(400, 300, quality=50), "photos/replaced.jpg")
    assert again["id"] == record["id"] and again["sha256"] != record["sha256"]

    new = get(client, record["id"], w=64, format="png")

    assert new.status_code == 200
    assert source(new) == "rendered"
    assert new.headers["etag"] != old.headers["etag"]
    assert new.headers["etag"].startswith(f'"{again["sha256"][:16]}-')
    assert new.content != old.content


def test_a_focal_point_patched_through_http_moves_the_crop_at_once(client: TestClient) -> None:
    record = upload(client, BLOCKS_PNG, "focal/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    before = warm(client, record["id"], **params)
    assert source(get(client, record["id"], **params)) == "memory"
    assert has_colour(before.content, GREEN) and not has_colour(before.content, BLUE)

    patched = client.patch(f"/images/{record['id']}", json={"focal": {"x": 0.8, "y": 0.2}},
                           headers=ADMIN)
    assert patched.status_code == 200, patched.text

    after = get(client, record["id"], **params)
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert "g-0.8_0.2" in after.headers["etag"]
    assert source(after) == "rendered"
    assert has_colour(after.content, BLUE) and not has_colour(after.content, GREEN)


def test_a_get_answered_during_a_patch_does_not_outlive_the_patch(
        make_fast_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that runs while a PATCH is writing may get the old record (and cache it); once
    the PATCH has answered, the next GET must see the change (the service forgets the record
    after it saved it)."""
    client = make_fast_client(RENDER_THREADS="2")    # the GET and the PATCH run together
    record = upload(client, BLOCKS_PNG, "during/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    old = warm(client, record["id"], **params)
    catalog = app_context(client).records
    original_save = catalog.save
    saving, release = threading.Event(), threading.Event()

    def slow_save(row: ImageRecord) -> ImageRecord:
        saving.set()
        release.wait(10)
        return original_save(row)

    monkeypatch.setattr(catalog, "save", slow_save)
    patched: list[httpx.Response] = []
    writer = threading.Thread(target=lambda: patched.append(client.patch(
        f"/images/{record['id']}", json={"focal": {"x": 0.8, "y": 0.2}}, headers=ADMIN)))
    writer.start()
    try:
        assert saving.wait(10)                            # the PATCH is about to write
        during = get(client, record["id"], **params)
        assert during.headers["etag"] == old.headers["etag"]
        assert len(app_context(client).record_cache) == 1    # the old row, cached again
    finally:
        release.set()
        writer.join(10)
    assert patched[0].status_code == 200, patched[0].text

    after = get(client, record["id"], **params)

    assert "g-0.8_0.2" in after.headers["etag"], (source(after), after.headers["etag"])
    assert source(after) == "rendered"


def test_a_patch_racing_a_record_lookup_is_not_hidden_by_the_record_cache(
        make_fast_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that read the row before a PATCH committed must not put that old row into the
    record cache after the PATCH forgot it: the PATCH has answered, so this process would then
    serve a record it changed (the README promises it never does)."""
    client = make_fast_client(RENDER_THREADS="2")    # the GET and the PATCH run together
    record = upload(client, BLOCKS_PNG, "race/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    catalog = app_context(client).records
    original_get = catalog.get
    read, release = threading.Event(), threading.Event()
    armed = [True]

    def slow_get(record_id: int) -> ImageRecord | None:
        row = original_get(record_id)
        if armed[0]:
            armed[0] = False
            read.set()
            release.wait(10)
        return row

    monkeypatch.setattr(catalog, "get", slow_get)
    racing: list[httpx.Response] = []
    reader = threading.Thread(target=lambda: racing.append(get(client, record["id"], **params)))
    reader.start()
    try:
        assert read.wait(10)                              # the GET has read the old row
        patched = client.patch(f"/images/{record['id']}",
                               json={"focal": {"x": 0.8, "y": 0.2}}, headers=ADMIN)
        assert patched.status_code == 200, patched.text
    finally:
        release.set()
        reader.join(10)
    assert racing[0].status_code == 200                    # either answer is fine for it

    after = get(client, record["id"], **params)            # begun after the PATCH answered

    assert "g-0.8_0.2" in after.headers["etag"], (source(after), after.headers["etag"])


# -- what the fast path leaves to the route ----------------------------------------------------

def test_url_signing_on_a_memory_cached_derivation(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(URL_SIGNING_KEY=SIGNING_KEY)
    record = upload(client, EXIF_JPEG, "signed/fast.jpg")
    path = f"/images/{record['id']}/image"
    query = sign(SIGNING_KEY, path, [("w", "64"), ("h", "64"), ("format", "webp")])
    first = client.get(f"{path}?{query}")
    assert first.status_code == 200 and source(first) == "rendered"
    assert len(app_context(client).record_cache) == 1

    unsigned = get(client, record["id"], w=64, h=64, format="webp")
    assert_json_error(unsigned, 403, "forbidden")
    assert_json_error(client.get(f"{path}?{flip_last(query)}"), 403, "forbidden")
    assert_json_error(client.get(f"{path}?{query.replace('w=64', 'w=65')}"), 403, "forbidden")
    other_key = sign("other-key", path, [("w", "64"), ("h", "64"), ("format", "webp")])
    assert_json_error(client.get(f"{path}?{other_key}"), 403, "forbidden")
    calls = route_calls(client)
    good = client.get(f"{path}?{query}")

    assert good.status_code == 200
    assert source(good) == "memory"
    assert good.content == first.content
    assert calls == []


def test_unknown_parameter_on_a_cached_record_is_400(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/bogus.jpg")
    warm(client, record["id"], w=64)
    assert source(get(client, record["id"], w=64)) == "memory"

    for query in ("w=64&bogus=1", "w=99999", "w=64&w=65", "fit=contain&w=64"):
        response = client.get(f"/images/{record['id']}/image?{query}")
        assert_json_error(response, 400, "bad_request")


def test_an_invalid_bearer_key_on_a_public_hit_is_401(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/bearer.jpg")
    warm(client, record["id"], w=64, h=64, format="webp")
    assert source(get(client, record["id"], w=64, h=64, format="webp")) == "memory"
    calls = route_calls(client)

    bad = get(client, record["id"], headers={"Authorization": "Bearer nope"},
              w=64, h=64, format="webp")
    assert_json_error(bad, 401, "unauthorized")
    not_bearer = get(client, record["id"], headers={"Authorization": "Basic eDp5"},
                     w=64, h=64, format="webp")
    assert_json_error(not_bearer, 401, "unauthorized")
    good = get(client, record["id"], headers=ADMIN, w=64, h=64, format="webp")
    assert good.status_code == 200 and source(good) == "memory"   # the route's memory hit
    assert len(calls) == 3


def test_preset_with_format_auto_varies_on_accept(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(DERIVED_PRESETS="card:w=80&h=60&fit=cover&format=auto")
    record = upload(client, EXIF_JPEG, "photos/preset.jpg")
    webp = {"Accept": "image/webp,*/*"}

    rendered = get(client, record["id"], headers=webp, preset="card")
    memory = get(client, record["id"], headers=webp, preset="card")

    assert (source(rendered), source(memory)) == ("rendered", "memory")
    for response in (rendered, memory):
        assert response.status_code == 200
        assert magic(response.content) == "webp" and size(response.content) == (80, 60)
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["vary"] == "Accept"
    assert memory.content == rendered.content
    assert memory.headers["etag"] == rendered.headers["etag"]

    jpeg = get(client, record["id"], headers={"Accept": "image/jpeg"}, preset="card")
    assert magic(jpeg.content) == "jpeg" and size(jpeg.content) == (80, 60)
    assert jpeg.headers["vary"] == "Accept"
    assert jpeg.headers["etag"] != rendered.headers["etag"]
    again = get(client, record["id"], headers={"Accept": "image/jpeg"}, preset="card")
    assert source(again) == "memory" and again.content == jpeg.content
    assert again.headers["vary"] == "Accept"
    # a preset with a fixed format does not vary
    fixed = make_fast_client(DERIVED_PRESETS="card:w=80&format=webp")
    fixed_record = upload(fixed, EXIF_JPEG, "photos/fixed.jpg")
    for _ in range(2):
        response = get(fixed, fixed_record["id"], headers=webp, preset="card")
        assert response.status_code == 200 and "vary" not in response.headers


def test_meta_url_and_variant_keep_their_answers_after_a_memory_hit(client: TestClient,
                                                                   tmp_path: Path) -> None:
    record = upload(client, EXIF_JPEG, "photos/others.jpg")
    derived = warm(client, record["id"], w=64, format="webp")
    assert source(get(client, record["id"], w=64, format="webp")) == "memory"

    meta = get(client, record["id"], meta="true")
    assert meta.status_code == 200
    assert meta.headers["content-type"] == "application/json"
    assert (meta.json()["width"], meta.json()["height"], meta.json()["format"]) == (400, 300,
                                                                                    "jpeg")
    url = get(client, record["id"], w=64, format="webp", url="true")
    assert url.status_code == 200, url.text
    assert url.headers["content-type"] == "application/json"
    answer = url.json()
    assert {"url", "expires"} <= set(answer)
    parts = urlsplit(answer["url"])
    fetched = client.get(f"{parts.path}?{parts.query}")
    assert fetched.status_code == 200 and fetched.content == derived.content
    variant = get(client, record["id"], variant="MI")
    assert variant.status_code == 200
    assert variant.content == (tmp_path / "active" / "photos/othersMI.jpg").read_bytes()
    assert source(variant) is None
    original = client.get(f"/images/{record['id']}/image")
    assert original.content == (tmp_path / "active" / "photos/others.jpg").read_bytes()


def test_record_cache_seconds_zero_keeps_nothing_and_still_serves_from_memory(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(RECORD_CACHE_SECONDS="0")
    ctx = app_context(client)
    assert ctx.settings.record_cache_seconds == 0
    record = upload(client, EXIF_JPEG, "photos/zero.jpg")
    first = warm(client, record["id"], w=64, h=64, format="webp")
    calls = route_calls(client)

    second = get(client, record["id"], w=64, h=64, format="webp")

    assert second.status_code == 200
    assert source(second) == "memory"
    assert second.content == first.content
    for name in SAME_HEADERS:
        assert second.headers[name] == first.headers[name], name
    assert len(ctx.record_cache) == 0
    assert calls == []                                   # the record read, then the hit


def test_the_default_record_cache_is_one_second(make_client: Callable[..., TestClient],
                                                tmp_path: Path) -> None:
    client = make_client(CACHE_FOLDER=str(tmp_path / "cache"),
                         DISK_CACHE_FOLDER=str(tmp_path / "derived"))
    assert app_context(client).record_cache.ttl == 1.0
    record = upload(client, EXIF_JPEG, "photos/default.jpg")
    warm(client, record["id"], w=64)
    assert len(app_context(client).record_cache) == 1


def test_an_unpublished_image_still_needs_the_read_scope_after_a_memory_render(
        client: TestClient) -> None:
    response = client.post("/upload", files={"file": ("photo.jpg", EXIF_JPEG, "image/jpeg")})
    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    listed = client.get("/images", params={"status": "incoming"}, headers=ADMIN).json()["items"]
    [record] = [r for r in listed if r["file"] == key]
    assert record["status"] == "incoming"
    record_id = record["id"]
    assert_json_error(get(client, record_id, w=64, format="webp"), 401, "unauthorized")

    first = warm(client, record_id, headers=ADMIN, w=64, format="webp")
    second = get(client, record_id, headers=ADMIN, w=64, format="webp")
    assert source(second) == "memory"
    assert first.headers["cache-control"] == "private, no-store"
    assert len(app_context(client).record_cache) == 0
    calls = route_calls(client)

    anonymous = get(client, record_id, w=64, format="webp")
    assert_json_error(anonymous, 401, "unauthorized")
    conditional = get(client, record_id, headers={"If-None-Match": first.headers["etag"]},
                      w=64, format="webp")
    assert_json_error(conditional, 401, "unauthorized")
    head = client.head(f"/images/{record_id}/image?w=64&format=webp")
    assert head.status_code == 401
    assert len(calls) == 3


# -- writes: the service forgets what it wrote, whatever the route or the HTTP method -----------

def test_a_c2corg_delete_is_404_at_once(client: TestClient) -> None:
    response = client.post("/upload", files={"file": ("p.jpg", EXIF_JPEG, "image/jpeg")})
    key = response.json()["filename"]
    assert client.post("/publish", data={"secret": SECRET, "filename": key}).status_code == 200
    [record] = client.get("/images", params={"file": key}, headers=ADMIN).json()["items"]
    warm(client, record["id"], w=64)
    assert source(get(client, record["id"], w=64)) == "memory"

    assert client.post("/delete", data={"secret": SECRET, "filenames": [key]}).status_code == 200

    assert_json_error(get(client, record["id"], w=64), 404, "not_found")


def test_a_write_by_the_service_without_http_is_seen_at_once(client: TestClient) -> None:
    """The record cache is forgotten by the code that writes the record, not by the HTTP
    layer: a use case called directly (as a CLI command or a job would) is seen at once."""
    record = upload(client, BLOCKS_PNG, "service/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    before = warm(client, record["id"], **params)
    assert source(get(client, record["id"], **params)) == "memory"

    patch_data(app_context(client), record["id"], {"focal": {"x": 0.8, "y": 0.2}})

    after = get(client, record["id"], **params)
    assert after.headers["etag"] != before.headers["etag"]
    assert "g-0.8_0.2" in after.headers["etag"]
    assert has_colour(after.content, BLUE) and not has_colour(after.content, GREEN)


def test_a_write_to_another_record_or_a_refused_write_keeps_the_record_cached(
        client: TestClient) -> None:
    """No request clears the record cache by its method alone: a PATCH of another record, a
    PATCH refused before it wrote anything and a failed DELETE leave this record's hit on the
    fast path."""
    record = upload(client, EXIF_JPEG, "keep/cached.jpg")
    other = upload(client, EXIF_JPEG, "keep/other.jpg")
    warm(client, record["id"], w=64)
    warm(client, other["id"], w=64)
    calls = route_calls(client)

    assert client.patch(f"/images/{other['id']}", json={"x": 1}, headers=ADMIN).status_code == 200
    assert client.patch(f"/images/{record['id']}", content=b"{oops", headers={
        **ADMIN, "Content-Type": "application/json"}).status_code == 400
    assert client.patch(f"/images/{record['id']}", json={"x": 1}).status_code == 401
    assert client.delete("/images/999999", headers=ADMIN).status_code == 404
    assert client.post("/images", headers=ADMIN).status_code == 400

    hit = get(client, record["id"], w=64)
    assert hit.status_code == 200 and source(hit) == "memory"
    assert calls == []
    assert app_context(client).record_cache.get(record["id"]) is not None
    assert app_context(client).record_cache.get(other["id"]) is None   # the one written


def test_a_bulk_patch_forgets_every_record(client: TestClient) -> None:
    first = upload(client, BLOCKS_PNG, "bulk/one.png", data={"focal": {"x": 0.2, "y": 0.8}})
    second = upload(client, BLOCKS_PNG, "bulk/two.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    for record in (first, second):
        warm(client, record["id"], **params)

    response = client.patch("/images", params={"file": "bulk/"},
                            json={"focal": {"x": 0.8, "y": 0.2}}, headers=ADMIN)
    assert response.json() == modified(2)

    for record in (first, second):
        assert "g-0.8_0.2" in get(client, record["id"], **params).headers["etag"]


# -- serve_derived(memory_only=True): the answer the middleware gives, with no read or render --

@pytest.fixture
def hot(ctx: ServiceContext) -> ServiceContext:
    """The test's context with a 60 s record cache on a clock of its own."""
    return dataclasses.replace(ctx, record_cache=RecordCache(60, clock=FakeClock()))


def serve(ctx: ServiceContext, record_id: int, query: str, *, memory_only: bool = False,
          accept: str = "", if_none_match: str = "") -> ImageAnswer | None:
    request = ImageRequest(record_id, parse_qsl(query, keep_blank_values=True), accept,
                           if_none_match)
    return asyncio.run(serve_derived(ctx, request, memory_only=memory_only))


def stored(ctx: ServiceContext, path: str, data: bytes = EXIF_JPEG,
           metadata: dict[str, Any] | None = None) -> ImageRecord:
    return store_record(ctx, data, path=path, metadata=metadata).record


def test_memory_only_answers_a_hit_exactly_as_the_full_path(hot: ServiceContext) -> None:
    record = stored(hot, "svc/hit.jpg")
    assert serve(hot, record.id, "w=64&format=webp", memory_only=True) is None   # not cached

    rendered = serve(hot, record.id, "w=64&format=webp")
    hit = serve(hot, record.id, "format=webp&w=64", memory_only=True)

    assert rendered is not None and hit is not None
    assert (rendered.source, hit.source) == ("rendered", "memory")
    assert hit.status == rendered.status == 200
    assert hit.body == rendered.body and hit.content_type == rendered.content_type == "image/webp"
    assert {**hit.headers, "X-Imagehost-Source": "-"} == \
        {**rendered.headers, "X-Imagehost-Source": "-"}
    assert hit.headers["X-Imagehost-Source"] == "memory"
    not_modified = serve(hot, record.id, "w=64&format=webp", memory_only=True,
                         if_none_match=rendered.headers["ETag"])
    assert not_modified is not None and not_modified.status == 304
    assert not_modified.body == b"" and not_modified.headers["ETag"] == rendered.headers["ETag"]


def test_memory_only_leaves_everything_else_to_the_route(hot: ServiceContext) -> None:
    record = stored(hot, "svc/others.jpg")
    assert serve(hot, record.id, "w=64") is not None                   # the record is cached
    assert hot.record_cache.get(record.id) is not None

    for query in ("w=65", "", "meta=true", "url=true&w=64", "variant=MI", "w=64&format=png"):
        assert serve(hot, record.id, query, memory_only=True) is None, query
    hot.cache.memory.purge(f"derived/{record.id}/")                    # on disk only now
    assert serve(hot, record.id, "w=64", memory_only=True) is None
    assert serve(hot, record.id, "w=64").source == "disk"              # type: ignore[union-attr]


@pytest.mark.parametrize("query", ["w=64&bogus=1", "w=0", "w=64&w=65", "w=64&enlarge=2",
                                   "w=64&quality=101"])
def test_memory_only_refuses_bad_parameters_like_the_route(hot: ServiceContext,
                                                          query: str) -> None:
    """The middleware turns this into a fall-through, and the route gives the 400."""
    record = stored(hot, "svc/bad.jpg")
    serve(hot, record.id, "w=64")
    for memory_only in (True, False):
        with pytest.raises(BadRequest):
            serve(hot, record.id, query, memory_only=memory_only)


@pytest.mark.parametrize("query", ["meta=true&w=x", "url=true&fit=contain", "meta=maybe",
                                   "url=1&w=0", "variant=MI&w=10"])
def test_meta_url_and_variant_with_bad_parameters_are_the_routes_400(hot: ServiceContext,
                                                                    query: str) -> None:
    """memory_only leaves meta, url and variant to the route, which checks every parameter."""
    record = stored(hot, "svc/bad-meta.jpg")
    serve(hot, record.id, "w=64")
    assert serve(hot, record.id, query, memory_only=True) is None
    with pytest.raises(BadRequest):
        serve(hot, record.id, query)


def test_memory_only_never_answers_an_unpublished_image(hot: ServiceContext) -> None:
    record = store_record(hot, EXIF_JPEG, path="svc/incoming.jpg",
                          status=ImageStatus.INCOMING).record
    assert hot.record_cache.get(record.id) is None
    assert serve(hot, record.id, "w=64", memory_only=True) is None
    assert len(hot.record_cache) == 0


def test_a_record_read_before_a_concurrent_write_is_not_cached(hot: ServiceContext) -> None:
    """The read of the record starts, a write of it ends, then the read puts its (old) row:
    the record cache refuses it, so the next request reads the new row."""
    record = stored(hot, "svc/race.png", BLOCKS_PNG, {"focal": {"x": 0.2, "y": 0.8}})
    query = "w=50&h=150&fit=cover&gravity=focal"

    class WriteDuringRead:
        """The catalog, but the first read of a record lets a write of it finish before it
        returns the row it read."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.armed = True

        def get(self, record_id: int) -> ImageRecord | None:
            row = self.inner.get(record_id)
            if self.armed:
                self.armed = False
                patch_data(hot, record_id, {"focal": {"x": 0.8, "y": 0.2}})
            return row

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    racing = dataclasses.replace(hot, records=WriteDuringRead(hot.records))
    during = serve(racing, record.id, query)
    assert during is not None and "g-0.2_0.8" in during.headers["ETag"]   # the old row
    assert hot.record_cache.get(record.id) is None                        # ... not kept

    after = serve(hot, record.id, query)
    assert after is not None and "g-0.8_0.2" in after.headers["ETag"]
    cached = hot.record_cache.get(record.id)                              # kept this time
    assert cached is not None and cached.data == {"focal": {"x": 0.8, "y": 0.2}}


# -- the middleware in front of a stub application --------------------------------------------

class Downstream:
    """The application behind the middleware: it records what reached it and answers 418."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope.get("path", scope["type"]))
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"route"})


def asgi(app: Any, method: str, path: str, query: str = "",
         headers: tuple[tuple[bytes, bytes], ...] = ()) -> tuple[dict[str, Any], list[Message]]:
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path,
                             "raw_path": path.encode(), "query_string": query.encode(),
                             "headers": list(headers), "http_version": "1.1",
                             "scheme": "http", "server": ("test", 80),
                             "client": ("test", 1), "root_path": ""}
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    return scope, messages


@pytest.fixture
def middleware(hot: ServiceContext) -> Iterator[tuple[DerivedFastPath, Downstream, int]]:
    """The middleware on `hot`, a stub route behind it, and a record whose w=64 is in memory
    and in the record cache."""
    record = stored(hot, "mw/hit.jpg")
    serve(hot, record.id, "w=64")
    downstream = Downstream()
    yield DerivedFastPath(downstream, hot, Metrics()), downstream, record.id


def test_the_middleware_answers_a_hit_without_the_application(
        middleware: tuple[DerivedFastPath, Downstream, int], hot: ServiceContext) -> None:
    app, downstream, record_id = middleware
    expected = serve(hot, record_id, "w=64", memory_only=True)
    assert expected is not None

    for method in ("GET", "HEAD"):
        scope, messages = asgi(app, method, f"/images/{record_id}/image", "w=64")

        assert downstream.paths == []
        start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        assert start["status"] == 200
        assert headers["etag"] == expected.headers["ETag"]
        assert headers["cache-control"] == expected.headers["Cache-Control"]
        assert headers["content-type"] == "image/jpeg"
        assert headers["content-length"] == str(len(expected.body))
        assert headers["x-imagehost-source"] == "memory"
        if method == "GET":           # for HEAD the server drops the body, as for the route
            assert body == expected.body
        assert scope["route"].path == "/images/{record_id}/image"   # the metrics label
    _, messages = asgi(app, "GET", f"/images/{record_id}/image", "w=64",
                       ((b"if-none-match", expected.headers["ETag"].encode()),))
    assert messages[0]["status"] == 304 and downstream.paths == []


def test_the_middleware_renders_a_miss_without_the_application(
        middleware: tuple[DerivedFastPath, Downstream, int], hot: ServiceContext) -> None:
    app, downstream, record_id = middleware
    hot.record_cache.forget(record_id)                  # the record is read too

    scope, messages = asgi(app, "GET", f"/images/{record_id}/image", "w=65&format=png")

    assert downstream.paths == []
    start, body = messages[0], b"".join(m.get("body", b"") for m in messages[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200 and headers["x-imagehost-source"] == "rendered"
    assert magic(body) == "png" and size(body)[0] == 65
    again = serve(hot, record_id, "w=65&format=png", memory_only=True)
    assert again is not None and again.body == body and again.headers["ETag"] == headers["etag"]
    assert scope["route"].path == "/images/{record_id}/image"


def test_with_render_rate_limits_a_miss_goes_to_the_route(
        make_settings: Callable[..., Any]) -> None:
    with runtime.open_context(make_settings(RATE_LIMIT_RENDERS="100/m")) as limited:
        record = stored(limited, "mw/limited.jpg")
        serve(limited, record.id, "w=64")
        downstream = Downstream()
        app = DerivedFastPath(downstream, limited, Metrics())

        _, hit = asgi(app, "GET", f"/images/{record.id}/image", "w=64")
        _, miss = asgi(app, "GET", f"/images/{record.id}/image", "w=65")

    assert hit[0]["status"] == 200                      # a hit is never counted: answered here
    assert miss[0]["status"] == 418 and downstream.paths == [f"/images/{record.id}/image"]


@pytest.mark.parametrize(("method", "path", "query", "headers"), [
    ("POST", "/images/{id}/image", "w=64", ()),
    ("PUT", "/images/{id}/image", "w=64", ()),
    ("OPTIONS", "/images/{id}/image", "w=64", ()),
    ("GET", "/images/{id}/image", "", ()),                            # the original
    ("GET", "/images/{id}/image", "w=64&meta=true", ()),
    ("GET", "/images/{id}/image", "w=64&url=true", ()),
    ("GET", "/images/{id}/image", "variant=MI", ()),
    ("GET", "/images/{id}/image", "w=0", ()),                         # an error: the route's
    ("GET", "/images/{id}/image", "w=64&bogus=1", ()),
    ("GET", "/images/{id}/image", "w=64", ((b"authorization", b"Bearer " + SECRET.encode()),)),
    ("GET", "/images/{id}/image/", "w=64", ()),
    ("GET", "/prefix/images/{id}/image", "w=64", ()),
    ("GET", "/images/0/image", "w=64", ()),
    ("GET", "/images/2147483648/image", "w=64", ()),                  # beyond MAX_ID
    ("GET", "/images/99999/image", "w=64", ()),                       # unknown: the route's 404
])
def test_the_middleware_leaves_everything_else_to_the_application(
        middleware: tuple[DerivedFastPath, Downstream, int], method: str, path: str,
        query: str, headers: tuple[tuple[bytes, bytes], ...]) -> None:
    app, downstream, record_id = middleware
    path = path.format(id=record_id)

    _, messages = asgi(app, method, path, query, headers)

    assert downstream.paths == [path]
    assert messages[0]["status"] == 418


def test_the_middleware_passes_other_scopes_through(
        middleware: tuple[DerivedFastPath, Downstream, int]) -> None:
    app, downstream, _ = middleware
    messages: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert downstream.paths == ["lifespan"]
