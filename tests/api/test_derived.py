"""GET /images/{id}/image over HTTP (in-process): every derivation parameter gives an exact
output (size, format by magic bytes, no EXIF or GPS), metadata and temporary URLs, stored
variants, conditional requests, animations and SVG, broken originals, signed URLs and presets,
overload, and GET /images?archive=zip."""

from __future__ import annotations

import io
import json
import re
import struct
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pyvips
from fastapi.testclient import TestClient

from imagehost.config import load_settings
from imagehost.service.url_signing import sign
from imagehost.web.app import create_app
from tests import imagegen
from tests.conftest import SECRET, app_context, files_under
from tests.kit.environ import local_settings

ADMIN = {"Authorization": f"Bearer {SECRET}"}
# stored 300x400 with EXIF orientation 6: displayed 400x300, the red block top right
EXIF_JPEG = imagegen.jpeg_with_exif(300, 400, orientation=6, gps=True)
GREY, GREEN, BLUE = [128, 128, 128], [0, 255, 0], [0, 0, 255]


def modified(count: int) -> dict[str, object]:
    """A bulk PATCH answer: imagehost's count and MongoDB's names for the microservice."""
    return {"modified": count, "modifiedCount": count, "acknowledged": True}


def deleted(count: int) -> dict[str, object]:
    return {"deleted": count, "deletedCount": count, "acknowledged": True}


def _blocks_png() -> bytes:
    """400x300 grey, a green square around (0.2, 0.8) and a blue one around (0.8, 0.2)."""
    image = pyvips.Image.black(400, 300).new_from_image(GREY).cast("uchar")
    image = image.draw_rect(GREEN, 40, 200, 80, 80, fill=True)
    image = image.draw_rect(BLUE, 280, 20, 80, 80, fill=True)
    return image.copy(interpretation="srgb").pngsave_buffer(keep="none")


BLOCKS_PNG = _blocks_png()


@pytest.fixture
def make_derived_client(make_client: Callable[..., TestClient],
                        tmp_path: Path) -> Callable[..., TestClient]:
    """A client whose caches (store, disk) live under tmp_path too."""

    def make(**extra: str) -> TestClient:
        return make_client(**{"CACHE_FOLDER": str(tmp_path / "cache"),
                              "DISK_CACHE_FOLDER": str(tmp_path / "derived"), **extra})

    return make


@pytest.fixture
def client(make_derived_client: Callable[..., TestClient]) -> TestClient:
    return make_derived_client()


def upload(client: TestClient, content: bytes, path: str,
           data: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/images", files={"image": (path.rsplit("/", 1)[-1], content)},
                           data={"data": json.dumps(data or {}), "path": path}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def photo(client: TestClient) -> dict[str, Any]:
    return upload(client, EXIF_JPEG, "photos/exif.jpg")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, int]]:
    """One app and one uploaded photo for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("shared")
    settings = load_settings(local_settings(root) | {"API_SECRET_KEY": SECRET})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, upload(client, EXIF_JPEG, "photos/exif.jpg")["id"]


def get(client: TestClient, record_id: int, headers: dict[str, str] | None = None,
        **params: Any):
    return client.get(f"/images/{record_id}/image", params=params, headers=headers)


def magic(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"\x89PNG":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] == b"ftypavif":
        return "avif"
    if data[:4] == b"GIF8":
        return "gif"
    return "unknown"


def load(data: bytes, **options: Any) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "", **options)


def size(data: bytes) -> tuple[int, int]:
    """Width and height (of one page) from the header; AVIF from its ispe box."""
    if magic(data) == "avif":
        at = data.index(b"ispe")
        width, height = struct.unpack(">II", data[at + 8:at + 16])
        return width, height
    image = load(data)
    return image.width, image.height


def pages(data: bytes) -> int:
    image = load(data, n=-1)
    return int(image.get("n-pages")) if image.get_typeof("n-pages") else 1


def assert_no_exif(data: bytes) -> None:
    if magic(data) == "avif":
        assert b"Exif" not in data
        return
    assert not imagegen.has_exif_gps(data)
    assert imagegen.exif_orientation(data) is None
    assert not load(data).get_typeof("exif-data")


def metric(client: TestClient, source: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^imagehost_derived_total{{source="{source}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def flip_last(text: str) -> str:
    """`text` with its last (hex) character changed."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def has_colour(data: bytes, colour: list[int]) -> bool:
    """Whether some pixel is close to `colour`."""
    image = load(data).extract_band(0, n=3)
    distance = sum((image[i] - colour[i]).abs() for i in range(3))
    return (distance < 60).max() > 0


# -- sizes, formats, metadata stripping --------------------------------------------------------

SIZES = [
    ({"format": "png"}, (400, 300)),
    ({"w": 200}, (200, 150)),
    ({"h": 150}, (200, 150)),
    ({"xsize": 100}, (100, 75)),
    ({"ysize": 60}, (80, 60)),
    ({"w": 30}, (30, 23)),
    ({"w": 100, "h": 100}, (100, 75)),
    ({"w": 100, "h": 100, "fit": "inside"}, (100, 75)),
    ({"w": 100, "h": 100, "fit": "cover"}, (100, 100)),
    ({"w": 50, "h": 100, "fit": "cover"}, (50, 100)),
    ({"w": 100, "h": 50, "fit": "fill"}, (100, 50)),
    ({"w": 100, "h": 100, "fit": "fill"}, (100, 100)),
    ({"w": 100, "h": 100, "fit": "pad"}, (100, 100)),
    ({"w": 800}, (400, 300)),
    ({"w": 800, "enlarge": "false"}, (400, 300)),
    ({"w": 800, "enlarge": "true"}, (800, 600)),
    ({"h": 600, "enlarge": "1"}, (800, 600)),
    ({"w": 1000, "h": 100, "fit": "cover"}, (400, 100)),
    ({"w": 1000, "h": 100, "fit": "cover", "enlarge": "true"}, (1000, 100)),
    ({"w": 600, "h": 600, "fit": "pad"}, (600, 600)),
    ({"thumbnail": "true"}, (50, 38)),
    ({"thumbnail": "true", "w": 80}, (67, 50)),
]


@pytest.mark.parametrize(("params", "expected"), SIZES, ids=[str(p) for p, _ in SIZES])
def test_each_parameter_gives_the_exact_size(shared: tuple[TestClient, int],
                                             params: dict[str, Any],
                                             expected: tuple[int, int]) -> None:
    client, record_id = shared
    fmt = params.get("format", "jpeg")
    response = get(client, record_id, **params)
    assert response.status_code == 200, response.text
    assert size(response.content) == expected
    assert magic(response.content) == fmt
    assert response.headers["content-type"] == f"image/{fmt}"
    assert_no_exif(response.content)


@pytest.mark.parametrize(("fmt", "content_type"), [
    ("jpeg", "image/jpeg"), ("jpg", "image/jpeg"), ("png", "image/png"),
    ("webp", "image/webp"), ("avif", "image/avif"), ("gif", "image/gif"),
])
def test_formats_by_magic_bytes_without_exif_or_gps(shared: tuple[TestClient, int],
                                                    fmt: str, content_type: str) -> None:
    client, record_id = shared
    assert imagegen.has_exif_gps(EXIF_JPEG)
    response = get(client, record_id, w=120, format=fmt)
    assert response.status_code == 200, response.text
    assert magic(response.content) == content_type.split("/")[1]
    assert response.headers["content-type"] == content_type
    assert size(response.content) == (120, 90)
    assert_no_exif(response.content)
    kind = get(client, record_id, w=120, kind=fmt)
    assert kind.content == response.content
    assert kind.headers["etag"] == response.headers["etag"]


def test_no_parameters_serve_the_original(client: TestClient, photo: dict[str, Any]) -> None:
    response = get(client, photo["id"])
    assert response.status_code == 200
    assert response.content == app_context(client).stores.active.get("photos/exif.jpg")
    assert imagegen.jpeg_scan(response.content) == imagegen.jpeg_scan(EXIF_JPEG)
    assert "x-imagehost-source" not in response.headers


def test_derived_images_are_upright(client: TestClient, photo: dict[str, Any]) -> None:
    """EXIF orientation 6 is applied: the stored top-left red block shows top right."""
    response = get(client, photo["id"], format="png")
    image = load(response.content)
    assert (image.width, image.height) == (400, 300)
    assert image(390, 10)[0] > 200 and image(390, 10)[1] < 60
    assert image(10, 10)[0] < 250 or image(10, 10)[1] > 60
    assert not (image(10, 290)[0] > 200 and image(10, 290)[1] < 60)
    assert_no_exif(response.content)
    assert photo["width"] == 400 and photo["height"] == 300


def test_without_format_the_source_format_is_kept(client: TestClient,
                                                  photo: dict[str, Any]) -> None:
    png = upload(client, imagegen.photo_png(160, 120, alpha=True), "alpha.png")
    response = get(client, png["id"], w=80)
    assert magic(response.content) == "png"
    assert size(response.content) == (80, 60)
    assert load(response.content).hasalpha()
    assert magic(get(client, photo["id"], w=80).content) == "jpeg"
    jpeg = get(client, png["id"], w=80, format="jpeg")
    assert magic(jpeg.content) == "jpeg" and not load(jpeg.content).hasalpha()


def test_pad_fills_the_box_with_transparency_for_png_and_white_for_jpeg(
        client: TestClient, photo: dict[str, Any]) -> None:
    png = load(get(client, photo["id"], w=100, h=100, fit="pad", format="png").content)
    assert (png.width, png.height, png.bands) == (100, 100, 4)
    assert png(50, 2)[3] == 0 and png(50, 97)[3] == 0       # padding above and below
    assert png(50, 50)[3] == 255 and png(2, 50)[3] == 255     # the image spans the width
    jpeg = load(get(client, photo["id"], w=100, h=100, fit="pad", format="jpeg").content)
    assert (jpeg.width, jpeg.height) == (100, 100)
    assert all(v > 245 for v in jpeg(50, 2)[:3])
    big = load(get(client, photo["id"], w=600, h=600, fit="pad", format="png").content)
    assert (big.width, big.height) == (600, 600)
    assert big(300, 10)[3] == 0 and big(10, 300)[3] == 0 and big(300, 300)[3] == 255


def test_enlarge(client: TestClient, photo: dict[str, Any]) -> None:
    kept = get(client, photo["id"], w=800)
    enlarged = get(client, photo["id"], w=800, enlarge="true")
    assert size(kept.content) == (400, 300)
    assert size(enlarged.content) == (800, 600)
    assert kept.headers["etag"] != enlarged.headers["etag"]


def test_cover_gravity_north_and_south_take_different_rows(client: TestClient) -> None:
    blocks = upload(client, BLOCKS_PNG, "blocks.png")
    north = get(client, blocks["id"], w=100, h=25, fit="cover", gravity="north").content
    south = get(client, blocks["id"], w=100, h=25, fit="cover", gravity="south").content
    centre = get(client, blocks["id"], w=100, h=25, fit="cover").content
    assert size(north) == size(south) == size(centre) == (100, 25)
    assert north != south
    assert has_colour(north, BLUE) and not has_colour(north, GREEN)
    assert has_colour(south, GREEN) and not has_colour(south, BLUE)


def test_gravity_attention_crops_to_the_box(client: TestClient) -> None:
    blocks = upload(client, BLOCKS_PNG, "blocks.png")
    response = get(client, blocks["id"], w=50, h=150, fit="cover", gravity="attention")
    assert response.status_code == 200, response.text
    assert size(response.content) == (50, 150)
    assert has_colour(response.content, GREEN) or has_colour(response.content, BLUE)
    assert "attention" in response.headers["etag"]


def test_focal_point_from_data_and_explicit(client: TestClient) -> None:
    blocks = upload(client, BLOCKS_PNG, "blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    # a tall crop moves across: the green block is around x=0.2, the blue one around x=0.8
    focal = get(client, blocks["id"], w=50, h=150, fit="cover", gravity="focal").content
    assert size(focal) == (50, 150)
    assert has_colour(focal, GREEN) and not has_colour(focal, BLUE)
    explicit = get(client, blocks["id"], w=50, h=150, fit="cover", gravity="0.8,0.2").content
    assert has_colour(explicit, BLUE) and not has_colour(explicit, GREEN)
    centre = get(client, blocks["id"], w=50, h=150, fit="cover").content
    assert not has_colour(centre, GREEN) and not has_colour(centre, BLUE)
    # a wide crop moves down to y=0.8
    wide = get(client, blocks["id"], w=150, h=50, fit="cover", gravity="focal").content
    assert size(wide) == (150, 50)
    assert has_colour(wide, GREEN) and not has_colour(wide, BLUE)
    same = get(client, blocks["id"], w=50, h=150, fit="cover", gravity="0.2,0.8")
    assert same.content == focal
    assert same.headers["etag"] == get(client, blocks["id"], w=50, h=150, fit="cover",
                                       gravity="focal").headers["etag"]


def test_thumbnail_is_a_50px_box_by_default(client: TestClient, photo: dict[str, Any]) -> None:
    response = get(client, photo["id"], thumbnail="true")
    assert response.status_code == 200
    assert size(response.content) == (50, 38)
    assert "thumb" in response.headers["etag"]
    tall = upload(client, imagegen.photo_jpeg(90, 300), "tall.jpg")
    assert size(get(client, tall["id"], thumbnail="true").content) == (15, 50)


# -- negotiation, quality ----------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "fmt"), [
    ("image/avif,image/webp,*/*", "avif"), ("image/webp,*/*", "webp"), (None, "jpeg"),
    ("*/*", "jpeg"),
])
def test_format_auto_negotiates_by_accept(shared: tuple[TestClient, int],
                                          accept: str | None, fmt: str) -> None:
    client, record_id = shared
    headers = {"Accept": accept} if accept is not None else {}
    response = get(client, record_id, headers=headers, w=80, format="auto")
    assert response.status_code == 200, response.text
    assert magic(response.content) == fmt
    assert response.headers["content-type"] == f"image/{fmt}"
    assert response.headers["vary"] == "Accept"
    assert size(response.content) == (80, 60)


def test_vary_only_for_auto(client: TestClient, photo: dict[str, Any]) -> None:
    accept = {"Accept": "image/avif,image/webp,*/*"}
    for params in ({"w": 80}, {"w": 80, "format": "webp"}, {"format": "png"}):
        response = get(client, photo["id"], headers=accept, **params)
        assert response.status_code == 200
        assert "vary" not in response.headers, params
    assert magic(get(client, photo["id"], headers=accept, w=80).content) == "jpeg"
    assert get(client, photo["id"], headers=accept, w=80, kind="auto").headers["vary"] == "Accept"


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_quality_changes_the_size(shared: tuple[TestClient, int], fmt: str) -> None:
    client, record_id = shared
    low = get(client, record_id, w=300, format=fmt, quality=10)
    high = get(client, record_id, w=300, format=fmt, quality=95)
    default = get(client, record_id, w=300, format=fmt)
    assert len(low.content) < len(default.content) < len(high.content)
    assert low.headers["etag"] != high.headers["etag"]


# -- meta=true, url=true, variant --------------------------------------------------------------

def test_meta(client: TestClient, photo: dict[str, Any]) -> None:
    response = get(client, photo["id"], meta="true")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    meta = response.json()
    assert (meta["width"], meta["height"], meta["format"]) == (400, 300, "jpeg")
    assert meta["exif"]["make"] == "imagehost-tests"
    assert meta["exif"]["orientation"] == "6"
    assert "gps" not in meta
    assert "gps" not in json.dumps(meta["exif"]).lower()
    assert isinstance(meta["blurhash"], str) and len(meta["blurhash"]) == 28
    assert meta["blurhash"][0] == "L"          # 4x3 components
    assert re.fullmatch(r"[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]{28}", meta["blurhash"])
    assert re.fullmatch(r"#[0-9a-f]{6}", meta["dominant_color"])
    assert get(client, photo["id"], meta="true").json() == meta


def test_meta_gps_only_when_exposed(make_derived_client: Callable[..., TestClient]) -> None:
    client = make_derived_client(EXPOSE_GPS="1", ORIGINAL_METADATA="keep")
    record = upload(client, EXIF_JPEG, "gps.jpg")
    gps = get(client, record["id"], meta="true").json()["gps"]
    assert gps["latitude"] == pytest.approx(52 + 31 / 60 + 12.34 / 3600, abs=1e-6)
    assert gps["longitude"] == pytest.approx(13 + 24 / 60 + 56.78 / 3600, abs=1e-6)
    plain = upload(client, imagegen.jpeg_with_exif(300, 400, orientation=6, gps=False),
                   "plain.jpg")
    assert get(client, plain["id"], meta="true").json()["gps"] is None


def test_meta_dominant_colour_and_blurhash_of_a_flat_image(client: TestClient) -> None:
    image = pyvips.Image.black(200, 150).new_from_image([30, 60, 200]).cast("uchar")
    image = image.draw_rect([250, 250, 250], 0, 0, 40, 30, fill=True)
    record = upload(client, image.copy(interpretation="srgb").pngsave_buffer(keep="none"),
                    "flat.png")
    meta = get(client, record["id"], meta="true").json()
    colour = meta["dominant_color"]
    assert re.fullmatch(r"#[0-9a-f]{6}", colour)
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    assert all(abs(a - b) <= 4 for a, b in zip(rgb, [30, 60, 200], strict=True)), colour
    assert len(meta["blurhash"]) == 28 and meta["exif"] == {}
    assert (meta["width"], meta["height"], meta["format"]) == (200, 150, "png")


def test_meta_reports_frames(client: TestClient) -> None:
    gif = upload(client, imagegen.animated_gif(60, 45, frames=4), "anim.gif")
    meta = get(client, gif["id"], meta="true").json()
    assert (meta["format"], meta["width"], meta["height"]) == ("gif", 60, 45)
    assert meta["frames"] == 4


def test_meta_reports_alpha(client: TestClient) -> None:
    png = upload(client, imagegen.photo_png(60, 45, alpha=True), "alpha.png")
    response = get(client, png["id"], meta="true")
    assert response.status_code == 200, response.text
    assert response.json()["has_alpha"] is True


def test_url_fetches_the_derived_bytes(client: TestClient, photo: dict[str, Any]) -> None:
    derived = get(client, photo["id"], w=150, format="webp")
    before = time.time()
    response = get(client, photo["id"], w=150, format="webp", url="true")
    assert response.status_code == 200, response.text
    answer = response.json()
    expires = datetime.fromisoformat(answer["expires"])
    assert expires.tzinfo is not None
    assert before + 172800 - 5 <= expires.timestamp() <= time.time() + 172800 + 5
    parts = urlsplit(answer["url"])
    assert parts.path.startswith("/files/cache/derived/")
    fetched = client.get(f"{parts.path}?{parts.query}")
    assert fetched.status_code == 200
    assert fetched.content == derived.content
    assert magic(fetched.content) == "webp"
    assert client.get(f"{parts.path}?{flip_last(parts.query)}").status_code == 403


def test_url_renders_when_not_cached(client: TestClient, photo: dict[str, Any]) -> None:
    answer = get(client, photo["id"], w=64, url="true").json()
    parts = urlsplit(answer["url"])
    fetched = client.get(f"{parts.path}?{parts.query}")
    assert fetched.status_code == 200
    assert size(fetched.content) == (64, 48) and magic(fetched.content) == "jpeg"
    assert fetched.content == get(client, photo["id"], w=64).content


def test_variant_is_the_stored_file(client: TestClient, photo: dict[str, Any],
                                    tmp_path: Path) -> None:
    stored = (tmp_path / "active" / "photos/exifMI.jpg").read_bytes()
    rendered, variants = metric(client, "rendered"), metric(client, "variant")
    response = get(client, photo["id"], variant="MI")
    assert response.status_code == 200
    assert response.content == stored
    assert response.headers["content-type"] == "image/jpeg"
    assert size(response.content) == (400, 300)
    assert_no_exif(response.content)
    assert metric(client, "variant") == variants + 1
    assert metric(client, "rendered") == rendered
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = response.headers["etag"]
    again = get(client, photo["id"], headers={"If-None-Match": etag}, variant="MI")
    assert again.status_code == 304
    assert get(client, photo["id"], variant="XX").status_code == 404
    assert get(client, photo["id"], variant="MI", w=10).status_code == 400


# -- conditional requests, headers, errors -----------------------------------------------------

def test_etag_is_the_canonical_name(client: TestClient, photo: dict[str, Any]) -> None:
    first = get(client, photo["id"], w=100, h=80, fit="cover", gravity="center", kind="jpg")
    second = client.get(f"/images/{photo['id']}/image?fit=cover&ysize=80&xsize=100&format=jpeg")
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    assert "w100_h80_cover_g-centre_q82.jpg" in first.headers["etag"]
    assert first.headers["etag"].startswith('"') and first.headers["etag"].endswith('"')
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert int(first.headers["content-length"]) == len(first.content)
    other = get(client, photo["id"], w=100, h=80, fit="cover", gravity="north")
    assert other.headers["etag"] != first.headers["etag"]


def test_if_none_match_answers_304_without_rendering(client: TestClient,
                                                     photo: dict[str, Any],
                                                     tmp_path: Path) -> None:
    etag = get(client, photo["id"], w=90).headers["etag"]
    counts = {s: metric(client, s) for s in ("rendered", "memory", "disk", "store")}
    response = get(client, photo["id"], headers={"If-None-Match": etag}, w=90)
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert {s: metric(client, s) for s in counts} == counts
    cached = app_context(client).cache.disk.keys()
    weak = get(client, photo["id"], headers={"If-None-Match": f'"x", W/{etag}'}, w=90)
    assert weak.status_code == 304
    assert app_context(client).cache.disk.keys() == cached
    assert get(client, photo["id"], headers={"If-None-Match": '"other"'}, w=90).status_code == 200


def test_304_before_any_render(make_derived_client: Callable[..., TestClient]) -> None:
    client = make_derived_client()
    record = upload(client, imagegen.photo_jpeg(200, 150), "fresh.jpg")
    etag = get(client, record["id"], w=90).headers["etag"]
    # a new instance without memory or disk tier: the 304 needs neither the store nor a render
    restarted = make_derived_client(MEMORY_CACHE_BYTES="0", DISK_CACHE_BYTES="0")
    response = get(restarted, record["id"], headers={"If-None-Match": etag}, w=90)
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert metric(restarted, "rendered") == 0
    assert metric(restarted, "store") == 0


def test_head_returns_headers_without_body(client: TestClient, photo: dict[str, Any]) -> None:
    full = get(client, photo["id"], w=70, format="webp")
    head = client.head(f"/images/{photo['id']}/image", params={"w": 70, "format": "webp"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["etag"] == full.headers["etag"]
    assert head.headers["content-type"] == "image/webp"


@pytest.mark.parametrize("query", [
    "foo=1", "w=99999", "w=0", "quality=101", "fit=contain", "gravity=2,0.5", "format=tiff",
    "w=100&w=200", "width=100",
    # the derivation parameters are checked on meta=true and url=true too
    "meta=true&w=x", "meta=true&foo=1", "meta=1&quality=0", "url=true&w=0",
    "url=true&fit=contain", "url=yes&format=tiff",
    # one boolean parser: anything but true/false, 1/0, yes/no, on/off is refused
    "meta=bogus", "url=maybe", "w=10&enlarge=perhaps", "thumbnail=2",
])
def test_bad_parameters_are_400(shared: tuple[TestClient, int], query: str) -> None:
    client, record_id = shared
    response = client.get(f"/images/{record_id}/image?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"


def test_out_of_range_sides_name_the_parameter_and_the_range(
        shared: tuple[TestClient, int]) -> None:
    client, record_id = shared
    for query, name in (("w=99999", "w"), ("meta=true&h=0", "h"), ("url=true&xsize=5000", "w")):
        response = client.get(f"/images/{record_id}/image?{query}")
        assert response.status_code == 400, response.text
        message = response.json()["message"]
        assert f"Parameter '{name}'" in message, message      # xsize is an alias of w
        assert "must be 1..4096" in message, message


@pytest.mark.parametrize(("spelling", "meta"), [
    ("true", True), ("1", True), ("yes", True), ("on", True), ("ON", True), ("True", True),
    ("false", False), ("0", False), ("no", False), ("off", False), ("OFF", False),
])
def test_query_booleans_take_every_spelling(shared: tuple[TestClient, int], spelling: str,
                                            meta: bool) -> None:
    client, record_id = shared
    response = client.get(f"/images/{record_id}/image?meta={spelling}&w=40&format=png")
    assert response.status_code == 200, response.text
    if meta:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["width"] == 400
    else:
        assert magic(response.content) == "png" and size(response.content) == (40, 30)


def test_unknown_image_is_404(client: TestClient) -> None:
    response = get(client, 999, w=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- animation, SVG, broken originals ----------------------------------------------------------

def test_animated_gif_stays_animated_in_gif_and_webp(client: TestClient) -> None:
    record = upload(client, imagegen.animated_gif(120, 90, frames=4), "anim.gif")
    for fmt in (None, "gif", "webp"):
        params = {"w": 60} | ({"format": fmt} if fmt else {})
        response = get(client, record["id"], **params)
        assert response.status_code == 200, response.text
        assert magic(response.content) == (fmt or "gif")
        assert pages(response.content) == 4
        image = load(response.content, n=-1)
        assert (image.width, image.get("page-height")) == (60, 45)
        assert_no_exif(response.content)
    jpeg = get(client, record["id"], w=60, format="jpeg")
    assert magic(jpeg.content) == "jpeg"
    assert size(jpeg.content) == (60, 45)
    cover = get(client, record["id"], w=40, h=40, fit="cover", format="gif")
    assert pages(cover.content) == 4
    image = load(cover.content, n=-1)
    assert (image.width, image.get("page-height")) == (40, 40)


def test_svg_source_gives_a_raster(client: TestClient) -> None:
    record = upload(client, imagegen.svg(400, 300), "drawing.svg")
    default = get(client, record["id"], w=200)
    assert default.status_code == 200, default.text
    assert magic(default.content) == "png" and size(default.content) == (200, 150)
    assert default.headers["content-type"] == "image/png"
    full = get(client, record["id"], format="webp")
    assert magic(full.content) == "webp" and size(full.content) == (400, 300)
    jpeg = get(client, record["id"], w=40, h=40, fit="cover", format="jpeg")
    assert magic(jpeg.content) == "jpeg" and size(jpeg.content) == (40, 40)


@pytest.mark.parametrize("garbage", [
    pytest.param(lambda data: imagegen.truncated(data, 0.3), id="truncated"),
    pytest.param(lambda data: imagegen.bmp_like_garbage(), id="garbage"),
])
def test_a_broken_original_is_an_error_and_is_not_cached(
        client: TestClient, tmp_path: Path, garbage: Callable[[bytes], bytes]) -> None:
    original = imagegen.photo_png(200, 150)
    record = upload(client, original, "broken.png")
    (tmp_path / "active" / "broken.png").write_bytes(garbage(original))
    rendered = metric(client, "rendered")
    for _ in range(2):
        response = get(client, record["id"], format="webp")   # no resize: from the original
        assert 400 <= response.status_code < 600, response.status_code
        assert response.json()["error"]
        assert response.headers["content-type"] == "application/json"
    assert metric(client, "rendered") == rendered
    prefix = f"derived/{record['id']}/"
    assert [k for k in app_context(client).cache.memory._items
            if k.startswith(prefix)] == []
    assert app_context(client).cache.disk.keys(prefix) == []
    assert [p for p in files_under(tmp_path / "cache") if p.startswith(prefix)] == []


def derived_everywhere(client: TestClient, tmp_path: Path, record_id: int) -> dict[str, list]:
    """The derived objects of a record in each tier: memory, disk, cache store."""
    prefix = f"derived/{record_id}/"
    return {"memory": app_context(client).cache.memory.keys(prefix),
            "disk": app_context(client).cache.disk.keys(prefix),
            "store": [p for p in files_under(tmp_path / "cache") if p.startswith(prefix)]}


def render_into_every_tier(client: TestClient, tmp_path: Path, record_id: int) -> None:
    assert get(client, record_id, w=64, format="webp").status_code == 200
    url = get(client, record_id, w=32, url="true")                # also puts it in the store
    assert url.status_code == 200, url.text
    assert get(client, record_id, meta="true").status_code == 200
    tiers = derived_everywhere(client, tmp_path, record_id)
    assert all(tiers.values()), tiers


def test_deleting_an_image_purges_its_derived_images_from_every_tier(
        client: TestClient, tmp_path: Path) -> None:
    """README: DELETE /images/{id} removes "its cached derivatives (derived/{id}/...)"; the
    c2corg /delete and the bulk DELETE go the same one delete path."""
    one = upload(client, EXIF_JPEG, "purge/one.jpg")
    bulk = upload(client, imagegen.photo_jpeg(200, 150), "purge/bulk.jpg", data={"bulk": True})
    kept = upload(client, imagegen.photo_png(200, 150), "purge/kept.png")
    for record in (one, bulk, kept):
        render_into_every_tier(client, tmp_path, record["id"])
    key = client.post("/upload", files={"file": ("p.jpg", imagegen.photo_jpeg(120, 90))}
                      ).json()["filename"]
    assert client.post("/publish", data={"secret": SECRET, "filename": key}).status_code == 200
    [c2corg] = client.get("/images", params={"file": key}, headers=ADMIN).json()["items"]
    render_into_every_tier(client, tmp_path, c2corg["id"])

    assert client.delete(f"/images/{one['id']}", headers=ADMIN).status_code == 200
    assert client.delete("/images", params={"data.bulk": "true"},
                         headers=ADMIN).json() == deleted(1)
    assert client.post("/delete", data={"secret": SECRET, "filenames": [key]}).status_code == 200

    empty = {"memory": [], "disk": [], "store": []}
    for record in (one, bulk, c2corg):
        assert derived_everywhere(client, tmp_path, record["id"]) == empty, record["file"]
        assert get(client, record["id"], w=64, format="webp").status_code == 404
    assert all(derived_everywhere(client, tmp_path, kept["id"]).values())


# -- signed URLs and presets -------------------------------------------------------------------

SIGNING_KEY = "url-signing-key-1"


@pytest.fixture
def signed_client(make_derived_client: Callable[..., TestClient]) -> TestClient:
    return make_derived_client(URL_SIGNING_KEY=SIGNING_KEY,
                               DERIVED_PRESETS="small:w=100&format=webp;thumb:thumbnail=true")


def test_signing_refuses_unsigned_derivations(signed_client: TestClient) -> None:
    record = upload(signed_client, EXIF_JPEG, "signed.jpg")
    for params in ({"w": 100}, {"format": "png"}, {"meta": "true"}, {"url": "true", "w": 10}):
        response = get(signed_client, record["id"], **params)
        assert response.status_code == 403, params
        assert response.json()["error"] == "forbidden"
    variant = get(signed_client, record["id"], variant="MI")
    assert variant.status_code == 200 and size(variant.content) == (400, 300)
    preset = get(signed_client, record["id"], preset="small")
    assert preset.status_code == 200
    assert magic(preset.content) == "webp" and size(preset.content) == (100, 75)
    thumb = get(signed_client, record["id"], preset="thumb")
    assert thumb.status_code == 200 and size(thumb.content) == (50, 38)
    unknown = get(signed_client, record["id"], preset="huge")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    assert get(signed_client, record["id"]).status_code == 200     # the original


def test_signed_requests(signed_client: TestClient) -> None:
    record = upload(signed_client, EXIF_JPEG, "signed.jpg")
    path = f"/images/{record['id']}/image"
    query = sign(SIGNING_KEY, path, [("w", "100"), ("format", "webp")])
    good = signed_client.get(f"{path}?{query}")
    assert good.status_code == 200, good.text
    assert magic(good.content) == "webp" and size(good.content) == (100, 75)
    tampered = query.replace("w=100", "w=101")
    assert signed_client.get(f"{path}?{tampered}").status_code == 403
    assert signed_client.get(f"{path}?{flip_last(query)}").status_code == 403
    other_key = sign("another-key", path, [("w", "100"), ("format", "webp")])
    assert signed_client.get(f"{path}?{other_key}").status_code == 403
    other_image = sign(SIGNING_KEY, "/images/999999/image", [("w", "100"), ("format", "webp")])
    assert signed_client.get(f"{path}?{other_image}").status_code == 403
    expiring = sign(SIGNING_KEY, path, [("w", "100")], expires_in=60)
    assert signed_client.get(f"{path}?{expiring}").status_code == 200
    expired = sign(SIGNING_KEY, path, [("w", "100")], expires_in=-60)
    response = signed_client.get(f"{path}?{expired}")
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


def test_preset_takes_no_other_parameters(signed_client: TestClient) -> None:
    record = upload(signed_client, EXIF_JPEG, "signed.jpg")
    path = f"/images/{record['id']}/image"
    query = sign(SIGNING_KEY, path, [("preset", "small"), ("w", "10")])
    assert signed_client.get(f"{path}?{query}").status_code == 400


def test_presets_without_signing(make_derived_client: Callable[..., TestClient]) -> None:
    client = make_derived_client(DERIVED_PRESETS="card:w=120&h=120&fit=cover&format=png")
    record = upload(client, EXIF_JPEG, "p.jpg")
    preset = get(client, record["id"], preset="card")
    direct = get(client, record["id"], w=120, h=120, fit="cover", format="png")
    assert preset.content == direct.content
    assert preset.headers["etag"] == direct.headers["etag"]
    assert size(preset.content) == (120, 120)
    assert get(client, record["id"], preset="nope").status_code == 404


# -- overload ----------------------------------------------------------------------------------

def test_full_pool_is_503_with_retry_after(make_derived_client: Callable[..., TestClient]) -> None:
    client = make_derived_client(RENDER_THREADS="1", RENDER_QUEUE="0")
    record = upload(client, imagegen.photo_jpeg(120, 90), "busy.jpg")
    pool = app_context(client).pool
    assert pool.capacity == 1
    pool.in_flight = pool.capacity
    try:
        response = get(client, record["id"], w=50)
    finally:
        pool.in_flight = 0
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "overloaded"
    assert size(get(client, record["id"], w=50).content) == (50, 38)


# -- archive=zip -------------------------------------------------------------------------------

def zip_entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_archive_of_derived_images(client: TestClient) -> None:
    a = upload(client, EXIF_JPEG, "plots/a.jpg")
    b = upload(client, imagegen.photo_png(300, 200), "plots/site/b.png")
    upload(client, imagegen.photo_jpeg(200, 200), "other/c.jpg")
    response = client.get("/images", params={"archive": "zip", "w": 100, "format": "webp"},
                          headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    entries = zip_entries(response.content)
    assert sorted(entries) == ["other/c+w100_inside_q80.webp", "plots/a+w100_inside_q80.webp",
                               "plots/site/b+w100_inside_q80.webp"]
    for data in entries.values():
        assert magic(data) == "webp" and size(data)[0] == 100
        assert_no_exif(data)
    assert size(entries["plots/a+w100_inside_q80.webp"]) == (100, 75)
    assert size(entries["plots/site/b+w100_inside_q80.webp"]) == (100, 67)
    # the same bytes as the image route gives
    assert entries["plots/a+w100_inside_q80.webp"] == get(client, a["id"], w=100,
                                                          format="webp").content
    assert entries["plots/site/b+w100_inside_q80.webp"] == get(client, b["id"], w=100,
                                                               format="webp").content
    prefixed = client.get("/images", params={"archive": "zip", "w": 100, "format": "webp",
                                             "file": "plots/"}, headers=ADMIN)
    assert prefixed.status_code == 200
    assert sorted(zip_entries(prefixed.content)) == ["plots/a+w100_inside_q80.webp",
                                                     "plots/site/b+w100_inside_q80.webp"]


def test_archive_follows_the_focal_point_like_the_image_route(client: TestClient) -> None:
    record = upload(client, BLOCKS_PNG, "focal/blocks.png", data={"focal": {"x": 0.2, "y": 0.8}})
    params = {"w": 50, "h": 150, "fit": "cover", "gravity": "focal", "format": "png"}
    direct = get(client, record["id"], **params)
    response = client.get("/images", params={"archive": "zip", **params}, headers=ADMIN)
    assert response.status_code == 200
    [(name, data)] = zip_entries(response.content).items()
    assert name == "focal/blocks+w50_h150_cover_g-0.2_0.8_q90.png"
    assert has_colour(data, GREEN) and not has_colour(data, BLUE)
    assert data == direct.content


def test_archive_limits(make_derived_client: Callable[..., TestClient]) -> None:
    client = make_derived_client(ARCHIVE_MAX_IMAGES="1")
    upload(client, imagegen.photo_jpeg(80, 60), "lim/a.jpg")
    upload(client, imagegen.photo_jpeg(80, 60), "lim/b.jpg")
    too_many = client.get("/images", params={"archive": "zip", "w": 50}, headers=ADMIN)
    assert too_many.status_code == 413
    assert too_many.json()["error"] == "limit_exceeded"
    one = client.get("/images", params={"archive": "zip", "w": 50, "file": "lim/a"},
                     headers=ADMIN)
    assert one.status_code == 200
    assert list(zip_entries(one.content)) == ["lim/a+w50_inside_q82.jpg"]
    small = make_derived_client(ARCHIVE_MAX_BYTES="100")
    too_big = small.get("/images", params={"archive": "zip", "w": 50}, headers=ADMIN)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "limit_exceeded"
    assert client.get("/images", params={"archive": "tar"}, headers=ADMIN).status_code == 400
