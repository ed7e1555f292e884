"""HEIC, AVIF and JPEG XL photos over HTTP (in-process): c2corg's /upload stores an upright JPEG
under a .jpg key, the records routes keep the original, derived images and meta=true read them,
and header bombs and truncated files are refused with nothing written.

Issue 12 (every photo format people take).
"""

from __future__ import annotations

import re
from pathlib import Path

import pillow_heif
import pillow_jxl
import pytest
import pyvips
from fastapi.testclient import TestClient

from tests import imagegen
from tests.conftest import SECRET, app_context, files_under

ADMIN = {"Authorization": f"Bearer {SECRET}"}
SUFFIXES = ("BI", "MI", "SI")
# each shown 300x400 with a red block in one top corner: the HEIC stores 400x300 pixels with
# an irot transform (from EXIF orientation 6) that brings its top-left block to the top right
PHOTOS = {
    "heic": imagegen.heic_with_exif(400, 300, orientation=6),
    "avif": imagegen.avif_with_exif(300, 400),
    "jxl": imagegen.jxl_with_exif(300, 400),
}
RED_CORNER = {"heic": "right", "avif": "left", "jxl": "left"}
WITHOUT_GPS = {
    "heic": imagegen.heic_with_exif(400, 300, orientation=6, gps=False),
    "avif": imagegen.avif_with_exif(300, 400, gps=False),
    "jxl": imagegen.jxl_with_exif(300, 400, gps=False),
}
BOMBS = {
    "heic": imagegen.heif_header_bomb(imagegen.heic_with_exif(64, 64, orientation=1)),
    "avif": imagegen.heif_header_bomb(imagegen.avif_with_exif(64, 64)),
    "jxl": imagegen.jxl_header_bomb(),
}
FORMATS = tuple(PHOTOS)


def upload(client: TestClient, data: bytes, name: str = "photo.bin"):
    return client.post("/upload", files={"file": (name, data, "application/octet-stream")})


def put_record(client: TestClient, path: str, data: bytes):
    return client.put(f"/images/{path}", content=data,
                      headers={**ADMIN, "Content-Type": "application/octet-stream"})


def incoming(client: TestClient) -> Path:
    return app_context(client).settings.incoming_folder


def stored(client: TestClient) -> list[str]:
    settings = app_context(client).settings
    return [name for root in (settings.incoming_folder, settings.active_folder)
            if root.exists() for name in files_under(root)]


def read_stored(client: TestClient, key: str) -> bytes:
    settings = app_context(client).settings
    for root in (settings.incoming_folder, settings.active_folder):
        if (root / key).exists():
            return (root / key).read_bytes()
    raise AssertionError(f"{key} is not stored")


def jpeg(data: bytes) -> pyvips.Image:
    assert data[:3] == b"\xff\xd8\xff", data[:16]
    return pyvips.Image.new_from_buffer(data, "")


def red_corner(image: pyvips.Image) -> str:
    """Which top corner holds the red block."""
    def red(x: int) -> bool:
        r, g, b = image.getpoint(x, 2)[:3]
        return r > 200 and g < 70 and b < 70

    left, right = red(2), red(image.width - 3)
    assert left != right, (image.getpoint(2, 2), image.getpoint(image.width - 3, 2))
    return "left" if left else "right"


@pytest.mark.parametrize("fmt", FORMATS)
def test_c2corg_upload_stores_an_upright_jpeg_under_a_jpg_key(client: TestClient,
                                                             fmt: str) -> None:
    response = upload(client, PHOTOS[fmt], f"IMG_0001.{fmt}")

    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    assert re.fullmatch(r"\d+_\d{10}\.jpg", key), key
    base = key.removesuffix(".jpg")
    assert sorted(files_under(incoming(client))) == sorted(
        [key, *(f"{base}{suffix}.jpg" for suffix in SUFFIXES), f"{key}.ladder-256"])
    original_bytes = (incoming(client) / key).read_bytes()
    original = jpeg(original_bytes)
    assert (original.width, original.height) == (300, 400)
    assert imagegen.exif_orientation(original_bytes) in (None, 1)
    assert original.get("exif-ifd0-Make").startswith(imagegen.PHOTO_EXIF_MAKE)
    assert not imagegen.has_exif_gps(original_bytes)  # process_upload's privacy strip
    assert red_corner(original) == RED_CORNER[fmt]
    sizes = {"BI": (300, 400), "MI": (300, 400), "SI": (200, 200)}
    for suffix in SUFFIXES:
        variant = jpeg((incoming(client) / f"{base}{suffix}.jpg").read_bytes())
        assert (variant.width, variant.height) == sizes[suffix]
    assert red_corner(jpeg((incoming(client) / f"{base}MI.jpg").read_bytes())) == RED_CORNER[fmt]
    publish = client.post("/publish", data={"secret": SECRET, "filename": key})
    assert publish.status_code == 200, publish.text


@pytest.mark.parametrize("fmt", FORMATS)
def test_records_put_keeps_the_original_and_makes_jpeg_variants(client: TestClient,
                                                                fmt: str) -> None:
    path = f"trips/day1/IMG_0001.{fmt}"
    response = put_record(client, path, WITHOUT_GPS[fmt])

    assert response.status_code == 201, response.text
    record = response.json()
    assert (record["file"], record["format"]) == (path, fmt)
    assert read_stored(client, path) == WITHOUT_GPS[fmt]
    base = path.removesuffix(f".{fmt}")
    assert sorted(stored(client)) == sorted(
        [path, *(f"{base}{suffix}.jpg" for suffix in SUFFIXES), f"{path}.ladder-256"])
    small = jpeg(read_stored(client, f"{base}SI.jpg"))
    assert (small.width, small.height) == (200, 200)
    original = client.get(f"/images/{record['id']}/image", headers=ADMIN)
    assert original.status_code == 200, original.text
    assert original.content == WITHOUT_GPS[fmt]
    assert original.headers["content-type"] == f"image/{fmt}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_derived_images_come_out_as_from_a_jpeg(client: TestClient, fmt: str) -> None:
    record = put_record(client, f"photos/p.{fmt}", PHOTOS[fmt]).json()
    image_url = f"/images/{record['id']}/image"

    derived = client.get(image_url, params={"w": 120}, headers=ADMIN)
    assert derived.status_code == 200, derived.text
    assert derived.headers["content-type"] == "image/jpeg"
    image = jpeg(derived.content)
    assert (image.width, image.height) == (120, 160)
    assert red_corner(image) == RED_CORNER[fmt]
    assert b"Exif" not in derived.content[:200]
    cover = client.get(image_url, params={"w": 100, "h": 100, "fit": "cover",
                                          "gravity": "attention", "format": "webp"},
                       headers=ADMIN)
    assert cover.status_code == 200, cover.text
    assert cover.content[8:12] == b"WEBP"
    full = client.get(image_url, params={"format": "png"}, headers=ADMIN)
    assert full.status_code == 200, full.text
    assert pyvips.Image.new_from_buffer(full.content, "").width == 300


@pytest.mark.parametrize("fmt", FORMATS)
def test_meta_reads_their_exif(client: TestClient, fmt: str) -> None:
    record = put_record(client, f"photos/m.{fmt}", PHOTOS[fmt]).json()

    response = client.get(f"/images/{record['id']}/image", params={"meta": "true"},
                          headers=ADMIN)

    assert response.status_code == 200, response.text
    meta = response.json()
    assert (meta["width"], meta["height"], meta["format"]) == (300, 400, fmt)
    assert meta["exif"]["make"] == imagegen.PHOTO_EXIF_MAKE
    assert meta["exif"]["model"] == imagegen.PHOTO_EXIF_MODEL
    assert meta["exif"]["taken"] == imagegen.PHOTO_EXIF_TAKEN
    assert meta["exif"]["iso"] == "100"
    assert "gps" not in meta
    assert len(meta["blurhash"]) == 28 and re.fullmatch(r"#[0-9a-f]{6}", meta["dominant_color"])


@pytest.fixture
def no_foreign_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if pillow-heif or the JPEG XL decoder is asked to decode."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded before the header was checked")

    monkeypatch.setattr(pillow_heif, "open_heif", refuse)  # foreign.py imports them on use
    monkeypatch.setattr(pillow_jxl, "Decoder", refuse)


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_bombs_are_413_before_any_decode(client: TestClient, no_foreign_decode: None,
                                                fmt: str) -> None:
    c2corg = upload(client, BOMBS[fmt])
    records = put_record(client, f"bombs/b.{fmt}", BOMBS[fmt])

    for response in (c2corg, records):
        assert response.status_code == 413, response.text
        assert "20000x20000" in response.json()["message"]
    assert stored(client) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_photos_are_400_with_nothing_written(client: TestClient, fmt: str) -> None:
    broken = imagegen.truncated(PHOTOS[fmt], 0.6)

    for response in (upload(client, broken), put_record(client, f"broken/b.{fmt}", broken)):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_image"
    assert stored(client) == []


def test_a_heic_path_must_hold_a_heif_image(client: TestClient) -> None:
    response = put_record(client, "photos/not-a.heic", imagegen.photo_jpeg(64, 48))

    assert response.status_code == 400, response.text
    assert ".jpg" in response.json()["message"]
