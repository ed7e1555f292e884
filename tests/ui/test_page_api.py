"""The page's files and its own JSON routes (/ui/api/...), in process: what each answers, and
the scope each needs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert

from imagehost.catalog.models import ImageRecord, ItemState, JobState
from imagehost.config import Settings
from imagehost.runtime import open_context
from imagehost.service.access import Caller
from imagehost.service.link_signing import MAX_LINKS
from imagehost.service.overview import CHART_DAYS, cache_ratio, catalog_overview
from imagehost.web.ui import ASSETS, PAGE_FOLDER
from tests import imagegen
from tests.conftest import app_context

ADMIN, WRITER, READER = "page-admin-key", "page-writer-key", "page-reader-key"
KEYS = f"{ADMIN}:admin;{WRITER}:write;{READER}:read"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def page_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(API_KEYS=KEYS)


def upload_record(client: TestClient, width: int = 64) -> dict:
    answer = client.post("/images", headers=bearer(WRITER),
                         files={"image": ("x.jpg", imagegen.photo_jpeg(width, 48))})
    assert answer.status_code == 201, answer.text
    return answer.json()


def c2corg_upload(client: TestClient) -> str:
    answer = client.post("/upload", files={"file": ("x.jpg", imagegen.photo_jpeg(64, 48))})
    assert answer.status_code == 200, answer.text
    return answer.json()["filename"]


def test_the_page_and_its_files_are_served_under_the_route_prefix(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(ROUTE_PREFIX="/media")
    for path in ("/media/", "/media/ui"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 307 and answer.headers["location"] == "ui/"
    page = client.get("/media/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/media/ui/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/media/ui/style.css").headers["content-type"].startswith("text/css")
    for missing in ("/media/ui/nope.js", "/media/ui/..%2Fui.py", "/ui/"):
        answer = client.get(missing)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_every_file_the_page_loads_is_one_it_ships() -> None:
    referenced = set(re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css))"',
                                (PAGE_FOLDER / "index.html").read_text()))
    for module in PAGE_FOLDER.glob("*.js"):
        referenced |= set(re.findall(r'from "\./([\w.-]+\.js)"', module.read_text()))
    assert referenced and referenced <= set(ASSETS)
    assert set(ASSETS) - referenced == set()  # nothing shipped that nothing loads


def test_the_session_names_the_scopes_and_refuses_an_unknown_key(page_client: TestClient) -> None:
    anonymous = page_client.get("/ui/api/session").json()
    assert anonymous["scopes"] == [] and anonymous["anonymous"] is True
    assert anonymous["signing"] is False and anonymous["variants"] == ["BI", "MI", "SI"]
    assert "webp" in anonymous["formats"] and "cover" in anonymous["fits"]
    reader = page_client.get("/ui/api/session", headers=bearer(READER)).json()
    assert reader["scopes"] == ["read"] and reader["anonymous"] is False
    admin = page_client.get("/ui/api/session", headers=bearer(ADMIN)).json()
    assert admin["scopes"] == ["admin", "read", "write"]
    refused = page_client.get("/ui/api/session", headers=bearer("unknown-key-123"))
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"


def test_links_are_signed_for_the_read_scope_and_verify(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(API_KEYS=KEYS, URL_SIGNING_KEY="page-signing-key")
    record = upload_record(client)
    links = {"links": [{"id": record["id"], "query": "w=32&format=webp"},
                       {"id": record["id"], "query": "meta=true&sig=forged"}]}
    assert client.post("/ui/api/sign", json=links).status_code == 401
    queries = client.post("/ui/api/sign", json=links, headers=bearer(READER)).json()["queries"]
    image = client.get(f"/images/{record['id']}/image?{queries[0]}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
    meta = client.get(f"/images/{record['id']}/image?{queries[1]}")
    assert meta.status_code == 200 and meta.json()["width"] == 64
    assert client.get(f"/images/{record['id']}/image?w=32&format=webp").status_code == 403
    other = client.get(f"/images/{record['id'] + 1}/image?{queries[0]}")
    assert other.status_code in (403, 404)
    expiring = client.post("/ui/api/sign", headers=bearer(READER),
                           json={**links, "expires_in": 60}).json()["queries"][0]
    assert int(parse_qs(expiring)["expires"][0]) > datetime.now(UTC).timestamp()
    assert client.get(f"/images/{record['id']}/image?{expiring}").status_code == 200
    for body in ({"links": [{"id": 1, "query": "w=1"}] * (MAX_LINKS + 1)},
                 {"links": [{"id": 0, "query": "w=1"}]}, {"links": "w=1"},
                 {"links": [], "expires_in": 0}):
        answer = client.post("/ui/api/sign", json=body, headers=bearer(READER))
        assert answer.status_code == 400, (body, answer.text)
    deep = client.post("/ui/api/sign", content=b"[" * 5000, headers=bearer(READER))
    assert deep.status_code == 400


def test_without_a_signing_key_links_come_back_canonical_and_unsigned(
        page_client: TestClient) -> None:
    answer = page_client.post("/ui/api/sign", headers=bearer(READER), json={
        "links": [{"id": 7, "query": "w=10&format=auto&sig=x"}]})
    assert answer.json() == {"queries": ["format=auto&w=10"]}


def test_publish_and_delete_need_the_admin_scope_and_use_the_c2corg_paths(
        page_client: TestClient) -> None:
    ctx = app_context(page_client)
    key = c2corg_upload(page_client)
    for caller, status in ((None, 401), (WRITER, 403)):
        headers = bearer(caller) if caller else {}
        answer = page_client.post("/ui/api/publish", json={"key": key}, headers=headers)
        assert answer.status_code == status
    assert ctx.records.by_file(key).status == "incoming"
    published = page_client.post("/ui/api/publish", json={"key": key}, headers=bearer(ADMIN))
    assert published.json() == {"success": True, "filename": key}
    assert ctx.records.by_file(key).status == "active"
    assert ctx.stores.active.exists(key) and not ctx.stores.incoming.exists(key)

    waiting = c2corg_upload(page_client)
    thrown = page_client.post("/ui/api/delete", json={"key": waiting}, headers=bearer(ADMIN))
    assert thrown.status_code == 200
    assert ctx.records.by_file(waiting).status == "deleted"
    assert not any(ctx.stores.incoming.exists(k)
                   for k in [waiting, *ctx.policy.variant_keys(waiting)])
    page_client.post("/ui/api/delete", json={"key": key}, headers=bearer(ADMIN))
    assert ctx.records.by_file(key).status == "deleted" and not ctx.stores.active.exists(key)

    for body, status in (({"key": "1_1.jpg"}, 404), ({"key": "../x.jpg"}, 400), ({}, 400),
                         ({"key": waiting}, 404)):
        for route in ("/ui/api/publish", "/ui/api/delete"):
            answer = page_client.post(route, json=body, headers=bearer(ADMIN))
            assert answer.status_code == status, (route, body, answer.text)


def test_jobs_are_listed_with_their_progress_for_the_read_scope(page_client: TestClient) -> None:
    assert page_client.get("/ui/api/jobs").status_code == 401
    jobs = app_context(page_client).jobs
    job = jobs.create("resize", {"from_store": True, "key": None})
    jobs.add_items(job.id, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    listed = page_client.get("/ui/api/jobs", headers=bearer(READER)).json()["jobs"]
    assert listed[0]["progress"] is None  # the listing is not recorded as complete yet
    jobs.set_state(job.id, JobState.RUNNING, listed=True)
    items = jobs.pending(job.id)
    jobs.finish_item(items[0][0], ItemState.DONE)
    jobs.finish_item(items[1][0], ItemState.FAILED, "boom")
    [shown] = page_client.get("/ui/api/jobs", headers=bearer(READER)).json()["jobs"]
    assert shown["id"] == job.id and shown["kind"] == "resize" and shown["state"] == "running"
    assert shown["params"] == {"from_store": True}
    assert shown["counts"] == {"pending": 2, "done": 1, "skipped": 0, "failed": 1, "total": 4}
    assert shown["progress"] == 0.5


def test_the_overview_counts_stores_days_and_cache_hits(page_client: TestClient) -> None:
    assert page_client.get("/ui/api/overview").status_code == 401
    record = upload_record(page_client, 80)
    upload_record(page_client, 60)
    c2corg_upload(page_client)
    for _ in range(3):
        assert page_client.get(f"/images/{record['id']}/image?w=20").status_code == 200
    overview = page_client.get("/ui/api/overview", headers=bearer(READER)).json()
    statuses = {row["status"]: row for row in overview["statuses"]}
    assert statuses["active"]["images"] == 2 and statuses["active"]["store"] == "active"
    assert statuses["incoming"]["images"] == 1 and statuses["incoming"]["store"] == "incoming"
    active = page_client.get("/images", headers=bearer(READER), params={"status": "active"})
    assert statuses["active"]["bytes"] == sum(r["bytes"] for r in active.json()["items"])
    days = overview["uploads_per_day"]
    assert len(days) == CHART_DAYS and days[-1] == {
        "day": datetime.now(UTC).date().isoformat(), "images": 3}
    assert overview["derived"]["misses"] == 1 and overview["derived"]["hits"] == 2
    assert overview["derived"]["ratio"] == pytest.approx(2 / 3)


def test_cache_ratio_counts_cache_tiers_as_hits_and_renders_as_misses() -> None:
    assert cache_ratio({}) == {"hits": 0, "misses": 0, "ratio": None, "by_source": {}}
    ratio = cache_ratio({"memory": 5, "disk": 2, "store": 1, "coalesced": 2, "rendered": 10,
                         "variant": 7})
    assert (ratio["hits"], ratio["misses"], ratio["ratio"]) == (10, 10, 0.5)


def test_uploads_per_day_are_counted_by_utc_day_on_both_databases(
        catalog_url: str, make_settings: Callable[..., Settings]) -> None:
    today = date(2026, 3, 31)
    first = today - timedelta(days=CHART_DAYS - 1)
    moments = [datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),
               datetime(2026, 3, 31, 0, 0, 0, tzinfo=UTC),
               datetime(2026, 3, 30, 23, 59, 59, tzinfo=UTC),
               datetime.combine(first, datetime.min.time(), UTC),
               datetime.combine(first, datetime.min.time(), UTC) - timedelta(seconds=1)]
    with open_context(make_settings(DATABASE_URL=catalog_url)) as ctx:
        engine = create_engine(catalog_url)
        with engine.begin() as connection:
            connection.execute(insert(ImageRecord), [
                {"key": f"d/{n}.jpg", "status": "active", "format": "jpeg", "width": 1,
                 "height": 1, "bytes": 10 * (n + 1), "sha256": "0" * 64, "variants": [],
                 "data": {}, "created_at": moment} for n, moment in enumerate(moments)])
        engine.dispose()
        overview = catalog_overview(ctx, Caller(frozenset({"read"})), {}, today=today)
    per_day = {row["day"]: row["images"] for row in overview["uploads_per_day"]}
    assert len(per_day) == CHART_DAYS and min(per_day) == first.isoformat()
    assert per_day["2026-03-31"] == 2 and per_day["2026-03-30"] == 1
    assert per_day[first.isoformat()] == 1 and sum(per_day.values()) == 4
    assert overview["statuses"] == [{"status": "active", "store": "active", "images": 5,
                                     "bytes": 150}]
