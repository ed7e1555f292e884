"""The derived-image fast path over HTTP (in-process): a memory-tier hit for a record in the
record cache is answered by DerivedHitMiddleware before FastAPI's routing, with the same bytes
and headers as the route; everything else (errors, signatures, Authorization, meta, url,
variant, unpublished images) still gets the route's answer; writes through this process clear
the record cache, and changes behind its back show only after RECORD_CACHE_SECONDS.

Whether the route ran is seen through a FastAPI dependency override of `services` (every
route of the image endpoint depends on it; the fast path calls no dependency at all)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from imagehost.catalog.models import ImageRecord
from imagehost.service.url_signing import sign
from imagehost.web.state import Services, services
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
from tests.conftest import app_services

SIGNING_KEY = "fast-path-signing-key"
ALLOWED = "https://a.example,https://b.example"
ROUTE_LABEL = "/images/{record_id}/image"
SAME_HEADERS = ("etag", "cache-control", "content-type", "content-length")


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


def route_calls(client: TestClient) -> list[str]:
    """From now on, the path of every request that reaches the image route (FastAPI calls
    `services` for it; the fast path calls no dependency)."""
    calls: list[str] = []

    def counted(request: Request) -> Services:
        if request.url.path.endswith("/image"):
            calls.append(request.url.path)
        return request.app.state.services

    app: Any = client.app
    app.dependency_overrides[services] = counted
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
    # a miss on the same record still goes to the route, which renders it
    other = get(client, record["id"], w=32, format="webp")
    assert source(other) == "rendered"
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
    app_services(client).derived.cache.memory.purge(f"derived/{record['id']}/")
    calls = route_calls(client)

    assert get(client, record["id"], headers={"If-None-Match": etag}, w=50).status_code == 304
    other = get(client, record["id"], headers={"If-None-Match": '"nope"'}, w=50)
    assert other.status_code == 200
    assert source(other) == "disk"                       # not in memory: the route answered
    assert calls == [f"/images/{record['id']}/image"]


# -- staleness: writes through HTTP clear, changes behind our back wait for the TTL ------------

def test_a_row_deleted_behind_the_back_is_served_until_the_record_cache_is_cleared(
        client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/stale.jpg")
    first = warm(client, record["id"], w=64, h=64, format="webp")
    svc = app_services(client)
    assert svc.records.delete([record["id"]]) == 1       # another process, say: no HTTP
    assert svc.records.get(record["id"]) is None

    stale = get(client, record["id"], w=64, h=64, format="webp")

    assert stale.status_code == 200 and source(stale) == "memory"
    assert stale.content == first.content
    svc.record_cache.clear()
    assert_json_error(get(client, record["id"], w=64, h=64, format="webp"), 404, "not_found")


def test_a_row_deleted_behind_the_back_is_404_once_the_ttl_has_passed(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(RECORD_CACHE_SECONDS="0.5")
    record = upload(client, EXIF_JPEG, "photos/ttl.jpg")
    warm(client, record["id"], w=64)
    assert len(app_services(client).record_cache) == 1
    app_services(client).records.delete([record["id"]])

    time.sleep(0.6)

    assert_json_error(get(client, record["id"], w=64), 404, "not_found")


def test_delete_through_http_is_404_at_once(client: TestClient) -> None:
    record = upload(client, EXIF_JPEG, "photos/deleted.jpg")
    warm(client, record["id"], w=64, h=64, format="webp")
    assert source(get(client, record["id"], w=64, h=64, format="webp")) == "memory"

    assert client.delete(f"/images/{record['id']}", headers=ADMIN).status_code == 200

    assert len(app_services(client).record_cache) == 0
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
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that runs while a PATCH is writing may get the old record (and cache it); once
    the PATCH has answered, the next GET must see the change (the write clears after)."""
    record = upload(client, BLOCKS_PNG, "during/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    old = warm(client, record["id"], **params)
    catalog = app_services(client).derived.records.records
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
        assert len(app_services(client).record_cache) == 1    # the old row, cached again
    finally:
        release.set()
        writer.join(10)
    assert patched[0].status_code == 200, patched[0].text

    after = get(client, record["id"], **params)

    assert "g-0.8_0.2" in after.headers["etag"], (source(after), after.headers["etag"])
    assert source(after) == "rendered"


def test_a_patch_racing_a_record_lookup_is_not_hidden_by_the_record_cache(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET that read the row before a PATCH committed must not put that old row into the
    record cache after the PATCH cleared it: the PATCH has answered, so this process then
    serves a record it changed (the module promises it never does)."""
    record = upload(client, BLOCKS_PNG, "race/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal"}
    svc = app_services(client)
    catalog = svc.derived.records.records
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
    assert len(app_services(client).record_cache) == 1

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
    assert original.content == EXIF_JPEG


def test_record_cache_seconds_zero_keeps_nothing_and_still_serves_from_memory(
        make_fast_client: Callable[..., TestClient]) -> None:
    client = make_fast_client(RECORD_CACHE_SECONDS="0")
    svc = app_services(client)
    assert svc.settings.record_cache_seconds == 0
    record = upload(client, EXIF_JPEG, "photos/zero.jpg")
    first = warm(client, record["id"], w=64, h=64, format="webp")
    calls = route_calls(client)

    second = get(client, record["id"], w=64, h=64, format="webp")

    assert second.status_code == 200
    assert source(second) == "memory"
    assert second.content == first.content
    for name in SAME_HEADERS:
        assert second.headers[name] == first.headers[name], name
    assert len(svc.record_cache) == 0
    assert calls == [f"/images/{record['id']}/image"]     # the route served the memory hit


def test_the_default_record_cache_is_one_second(make_client: Callable[..., TestClient],
                                                tmp_path: Path) -> None:
    client = make_client(CACHE_FOLDER=str(tmp_path / "cache"),
                         DISK_CACHE_FOLDER=str(tmp_path / "derived"))
    assert app_services(client).record_cache.ttl == 1.0
    record = upload(client, EXIF_JPEG, "photos/default.jpg")
    warm(client, record["id"], w=64)
    assert len(app_services(client).record_cache) == 1


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
    assert len(app_services(client).record_cache) == 0
    calls = route_calls(client)

    anonymous = get(client, record_id, w=64, format="webp")
    assert_json_error(anonymous, 401, "unauthorized")
    conditional = get(client, record_id, headers={"If-None-Match": first.headers["etag"]},
                      w=64, format="webp")
    assert_json_error(conditional, 401, "unauthorized")
    head = client.head(f"/images/{record_id}/image?w=64&format=webp")
    assert head.status_code == 401
    assert len(calls) == 3
