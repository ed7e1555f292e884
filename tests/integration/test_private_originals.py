"""ORIGINAL_METADATA through the app: every upload route stores originals without GPS, serial
numbers or owner names (and, with keep, exactly the uploaded bytes), on the local store and on
S3 and Swift; the scan data is untouched; meta=true still tells the camera and the time."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from imagehost.service.context import ServiceContext
from tests import imagegen
from tests.conftest import SECRET, app_context

ADMIN = {"Authorization": f"Bearer {SECRET}"}
ROUTES = ("c2corg", "records-post", "put-path", "post-path", "import")
UPLOAD = imagegen.jpeg_with_metadata(320, 240)


def store_through(route: str, client: TestClient, data: bytes, name: str) -> str:
    """Upload `data` through `route` and return the key of the stored original (published
    for c2corg)."""
    if route == "c2corg":
        response = client.post("/upload", files={"file": ("photo.jpg", data, "image/jpeg")})
        assert response.status_code == 200, response.text
        key = response.json()["filename"]
        published = client.post("/publish", data={"secret": SECRET, "filename": key})
        assert published.status_code == 200, published.text
        return key
    path = f"private/{name}.jpg"
    if route == "records-post":
        response = client.post("/images", files={"image": ("a.jpg", data, "image/jpeg")},
                               data={"path": path}, headers=ADMIN)
    elif route == "put-path":
        response = client.put(f"/images/{path}", content=data,
                              headers={**ADMIN, "Content-Type": "image/jpeg"})
    elif route == "post-path":
        response = client.post(f"/images/{path}", files={"image": ("a.jpg", data, "image/jpeg")},
                               headers=ADMIN)
    else:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr(path, data)
        response = client.post("/import", headers=ADMIN, files={
            "archive": ("export.zip", archive.getvalue(), "application/zip")})
        assert response.status_code == 200, response.text
        assert response.json()["created"] == 1, response.text
        return path
    assert response.status_code in (200, 201), response.text
    return response.json()["file"]


def stored(ctx: ServiceContext, key: str) -> bytes:
    """The published original, read back from its store."""
    record = ctx.records.by_file(key)
    assert record is not None and record.status == "active", key
    return ctx.stores.active.get(key)


@pytest.fixture(params=["local", "s3", "swift"])
def store_environ(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return {}
    return request.getfixturevalue(f"{request.param}_environ")


@pytest.mark.parametrize("route", ROUTES)
def test_stored_originals_have_no_private_metadata_on_any_route_or_store(
        route: str, store_environ: dict[str, str],
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(**store_environ)
    key = store_through(route, client, UPLOAD, route)
    original = stored(app_context(client), key)
    assert imagegen.has_exif_gps(UPLOAD)
    assert not imagegen.has_exif_gps(original)
    assert [m for m in imagegen.PRIVATE_MARKERS if m in original] == []
    assert [m for m in imagegen.KEPT_MARKERS if m not in original] == []
    assert imagegen.jpeg_scan(original) == imagegen.jpeg_scan(UPLOAD)
    assert imagegen.exif_orientation(original) == 6
    record = app_context(client).records.by_file(key)
    assert record is not None and record.bytes == len(original)


def test_with_keep_every_route_stores_the_uploaded_bytes(
        store_environ: dict[str, str], make_client: Callable[..., TestClient]) -> None:
    client = make_client(ORIGINAL_METADATA="keep", **store_environ)
    for route in ROUTES:
        original = stored(app_context(client), store_through(route, client, UPLOAD, route))
        assert original == UPLOAD, route
        assert imagegen.has_exif_gps(original), route


@pytest.mark.parametrize(("name", "upload"), [
    ("png", imagegen.png_with_metadata(120, 80)),
    ("webp", imagegen.webp_with_metadata(120, 80)),
    ("gif", imagegen.gif_with_metadata(60, 40).removesuffix(b"TRAILER-SECRET")),
    ("avif", imagegen.avif_with_metadata()),
    ("heic", imagegen.heic_with_metadata()),
    ("jxl", imagegen.jxl_with_metadata()),
])
def test_other_formats_lose_their_private_metadata(
        name: str, upload: bytes, make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    response = client.post("/images", files={"image": (f"a.{name}", upload, "image/" + name)},
                           headers=ADMIN)
    assert response.status_code == 201, response.text
    original = stored(app_context(client), response.json()["file"])
    assert [m for m in imagegen.PRIVATE_MARKERS if m in original] == []
    assert b"Jane Photographer" in upload


def test_strip_all_keeps_orientation_only(make_client: Callable[..., TestClient]) -> None:
    client = make_client(ORIGINAL_METADATA="strip-all")
    original = stored(app_context(client), store_through("c2corg", client, UPLOAD, "all"))
    markers = imagegen.PRIVATE_MARKERS + imagegen.KEPT_MARKERS + imagegen.TEXT_MARKERS
    assert [m for m in markers if m in original] == []
    assert imagegen.exif_orientation(original) == 6
    assert imagegen.jpeg_scan(original) == imagegen.jpeg_scan(UPLOAD)


def test_meta_still_reports_camera_and_time_but_no_position(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(EXPOSE_GPS="1")
    key = store_through("c2corg", client, UPLOAD, "meta")
    record = app_context(client).records.by_file(key)
    assert record is not None
    meta = client.get(f"/images/{record.id}/image", params={"meta": "true"}).json()
    assert meta["exif"]["model"] == "TestCam 3000"
    assert meta["exif"]["taken"] == "2021:06:01 10:20:30"
    assert meta["exif"]["orientation"] == "6"
    assert meta["gps"] is None

    kept = make_client(EXPOSE_GPS="1", ORIGINAL_METADATA="keep")
    key = store_through("c2corg", kept, UPLOAD, "meta")
    record = app_context(kept).records.by_file(key)
    assert record is not None
    gps = kept.get(f"/images/{record.id}/image", params={"meta": "true"}).json()["gps"]
    assert gps["latitude"] == pytest.approx(52 + 31 / 60 + 12.34 / 3600, abs=1e-6)


def test_a_broken_container_is_refused_and_nothing_is_written(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()
    broken = imagegen.png_with_metadata()[:-2000]
    response = client.post("/images", files={"image": ("a.png", broken, "image/png")},
                           headers=ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_image"
    assert list(app_context(client).stores.active.list()) == []
