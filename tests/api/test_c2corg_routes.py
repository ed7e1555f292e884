"""The c2corg image backend contract over HTTP (in-process): /upload, /publish, /delete,
/recrop, /rotate and ROUTE_PREFIX, checked on status codes, JSON bodies, the files left in
the incoming and active folders, and the catalog rows.

Contract: /work/shared/reference/c2corg_v6_images.md, sections 3, 4, 8 and 11.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from fastapi.testclient import TestClient
from httpx import Response

from imagehost.config import Settings
from imagehost.web.app import create_app
from tests import imagegen
from tests.conftest import SECRET, app_context, files_under

KEY_PATTERN = re.compile(r"^\d{10}_\d{1,10}\.(jpg|png|gif|svg)$")
SUFFIXES = ("BI", "MI", "SI")
JPEG_MAGIC = b"\xff\xd8\xff"
GIF_MAGIC = (b"GIF87a", b"GIF89a")
# Namespace declarations are the only URLs a sanitized SVG may keep.
_NAMESPACE_DECLARATION = re.compile(r'xmlns(?::[\w-]+)?\s*=\s*"http://www\.w3\.org/[^"]*"')


# ---------------------------------------------------------------------------- helpers


def upload(client: TestClient, data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg", path: str = "/upload") -> Response:
    return client.post(path, files={"file": (name, data, content_type)})


def upload_key(client: TestClient, data: bytes, name: str = "photo.jpg",
               content_type: str = "image/jpeg") -> str:
    response = upload(client, data, name, content_type)
    assert response.status_code == 200, response.text
    return response.json()["filename"]


def publish(client: TestClient, key: str, **fields: str) -> Response:
    return client.post("/publish", data={"secret": SECRET, "filename": key, **fields})


def published_key(client: TestClient, data: bytes, name: str = "photo.jpg") -> str:
    key = upload_key(client, data, name)
    response = publish(client, key)
    assert response.status_code == 200, response.text
    return key


def variant_names(key: str) -> list[str]:
    """c2corg naming: `<base><SUFFIX><ext>`, an `.svg` original giving `.jpg` variants."""
    base, ext = key.rsplit(".", 1)
    ext = "jpg" if ext == "svg" else ext
    return [f"{base}{suffix}.{ext}" for suffix in SUFFIXES]


def incoming_dir(client: TestClient) -> Path:
    return app_context(client).settings.incoming_folder


def active_dir(client: TestClient) -> Path:
    return app_context(client).settings.active_folder


def every_file(root: Path) -> list[str]:
    """Every file under a store root, its .tmp work area included (a leak there counts)."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def dimensions(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def status_of(client: TestClient, key: str) -> str | None:
    record = app_context(client).records.by_file(key)
    return None if record is None else record.status


def assert_json_error(response: Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    assert body["error"] and body["message"]
    return body


def mean_difference(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


# ---------------------------------------------------------------------------- upload


@pytest.mark.parametrize(("data", "name", "content_type", "extension"), [
    pytest.param(lambda: imagegen.photo_jpeg(300, 200), "photo.jpg", "image/jpeg", "jpg",
                 id="jpeg"),
    pytest.param(lambda: imagegen.photo_png(300, 200), "photo.jpg", "image/jpeg", "png",
                 id="png-named-jpg"),
    pytest.param(lambda: imagegen.animated_gif(120, 80, 3), "anim.png", "image/png", "gif",
                 id="gif-named-png"),
    pytest.param(lambda: imagegen.svg(300, 200), "drawing.jpg", "image/jpeg", "svg",
                 id="svg-named-jpg"),
])
def test_upload_names_the_key_from_content_and_stores_everything_in_incoming(
        client: TestClient, data: Callable[[], bytes], name: str, content_type: str,
        extension: str) -> None:
    payload = data()
    response = upload(client, payload, name, content_type)

    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    assert response.json() == {"filename": key}
    assert KEY_PATTERN.match(key), key
    assert key.endswith(f".{extension}")
    assert len(key) <= 30  # v6_api's String(30) filename column
    assert files_under(incoming_dir(client)) == sorted([key, *variant_names(key)])
    assert every_file(active_dir(client)) == []
    record = app_context(client).records.by_file(key)
    assert record is not None
    assert record.status == "incoming"
    assert sorted(record.variants) == sorted(variant_names(key))


def test_upload_keeps_the_original_bytes_and_records_them(client: TestClient) -> None:
    data = imagegen.photo_jpeg(300, 200)
    key = upload_key(client, data)

    assert (incoming_dir(client) / key).read_bytes() == data
    record = app_context(client).records.by_file(key)
    assert record is not None
    assert (record.format, record.width, record.height) == ("jpeg", 300, 200)
    assert record.bytes == len(data)
    assert record.sha256 == hashlib.sha256(data).hexdigest()


def test_upload_variants_follow_the_default_resizing_config(client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(1000, 800))
    sizes = {name: dimensions((incoming_dir(client) / name).read_bytes())
             for name in variant_names(key)}

    bi, mi, si = variant_names(key)
    assert sizes == {bi: (1000, 800), mi: (400, 320), si: (200, 200)}


_REJECTED = [
    pytest.param(imagegen.text_file, "photo.jpg", {}, 400, None, id="text-file"),
    pytest.param(lambda: b"", "photo.jpg", {}, 400, None, id="empty-body"),
    pytest.param(lambda: imagegen.tiff(64, 48), "photo.tif", {}, 400, "TIFF", id="tiff"),
    pytest.param(lambda: imagegen.truncated(imagegen.photo_jpeg(300, 200)), "photo.jpg", {},
                 400, None, id="truncated-jpeg"),
    pytest.param(lambda: imagegen.corrupt_jpeg(300, 200), "photo.jpg", {}, 400, None,
                 id="corrupt-jpeg"),
    pytest.param(imagegen.png_pixel_bomb, "photo.png", {}, 413, "max_pixels",
                 id="png-pixel-bomb"),
    pytest.param(imagegen.jpeg_header_bomb, "photo.jpg", {}, 413, "max_pixels",
                 id="jpeg-header-bomb"),
    pytest.param(imagegen.gif_frame_bomb, "anim.gif", {}, 413, "max_frames",
                 id="gif-frame-bomb"),
    pytest.param(imagegen.svg_bomb_size, "huge.svg", {}, 413, "max_svg_side",
                 id="svg-declared-100000px"),
    pytest.param(imagegen.svg_entity_bomb, "lol.svg", {}, 400, None, id="svg-entity-bomb"),
    # 100 KB body: over MAX_UPLOAD_BYTES + form overhead, refused from Content-Length.
    pytest.param(lambda: imagegen.photo_jpeg(1000, 1000), "photo.jpg",
                 {"MAX_UPLOAD_BYTES": "20000"}, 413, None, id="over-max-upload-bytes"),
    # ~50 KB: within the form overhead, so refused by the upload's own byte check.
    pytest.param(lambda: imagegen.photo_jpeg(800, 600), "photo.jpg",
                 {"MAX_UPLOAD_BYTES": "20000"}, 413, "max_upload_bytes",
                 id="over-max-upload-bytes-within-form-overhead"),
]


@pytest.mark.parametrize(("data", "name", "environ", "status", "named"), _REJECTED)
def test_rejected_upload_answers_json_error_and_stores_nothing(
        make_client: Callable[..., TestClient], data: Callable[[], bytes], name: str,
        environ: dict[str, str], status: int, named: str | None) -> None:
    client = make_client(**environ)
    payload = data()
    if "MAX_UPLOAD_BYTES" in environ:
        assert len(payload) > int(environ["MAX_UPLOAD_BYTES"])

    body = assert_json_error(upload(client, payload, name), status)

    if named is not None:
        assert named in body["message"]
    assert every_file(incoming_dir(client)) == []
    assert every_file(active_dir(client)) == []
    assert app_context(client).records.count_by_status() == {}


@pytest.mark.parametrize("form", [
    pytest.param({"data": {"image": "x"}}, id="no-file-field"),
    pytest.param({"files": {"image": ("photo.jpg", b"\xff\xd8\xff", "image/jpeg")}},
                 id="file-under-another-name"),
    pytest.param({"data": {"file": "not a file"}}, id="file-field-is-text"),
])
def test_upload_without_a_file_part_named_file_is_a_400(client: TestClient,
                                                         form: dict) -> None:
    body = assert_json_error(client.post("/upload", **form), 400)

    assert "file" in body["message"]
    assert every_file(incoming_dir(client)) == []
    assert app_context(client).records.count_by_status() == {}


def test_svg_upload_keeps_the_svg_original_and_makes_jpeg_variants(client: TestClient) -> None:
    key = upload_key(client, imagegen.svg(400, 300), "drawing.svg", "image/svg+xml")

    assert key.endswith(".svg")
    base = key.removesuffix(".svg")
    assert files_under(incoming_dir(client)) == sorted(
        [key, f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"])
    for name in variant_names(key):
        assert (incoming_dir(client) / name).read_bytes()[:3] == JPEG_MAGIC, name
    bi, mi, si = (dimensions((incoming_dir(client) / n).read_bytes()) for n in variant_names(key))
    assert (bi, mi, si) == ((400, 300), (400, 300), (200, 200))


def test_svg_with_scripts_is_stored_sanitized_with_jpeg_variants(client: TestClient) -> None:
    hostile = imagegen.svg(400, 300, script=True)
    response = upload(client, hostile, "drawing.svg", "image/svg+xml")

    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    assert KEY_PATTERN.match(key) and key.endswith(".svg")
    stored = (incoming_dir(client) / key).read_text(encoding="utf-8")
    for marker in ("<script", "onload", "onclick", "foreignObject", "javascript:"):
        assert marker.lower() not in stored.lower(), marker
    for marker in imagegen.SVG_HOSTILE_MARKERS:
        assert marker not in stored, marker
    assert "http://" not in _NAMESPACE_DECLARATION.sub("", stored)
    assert "<circle" in stored  # the drawing itself survives
    base = key.removesuffix(".svg")
    assert files_under(incoming_dir(client)) == sorted(
        [key, f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"])
    for name in variant_names(key):
        assert (incoming_dir(client) / name).read_bytes()[:3] == JPEG_MAGIC, name


def test_animated_gif_variants_are_gifs_with_every_frame(client: TestClient) -> None:
    key = upload_key(client, imagegen.animated_gif(300, 200, frames=5), "anim.gif", "image/gif")

    assert key.endswith(".gif")
    for name in variant_names(key):
        data = (incoming_dir(client) / name).read_bytes()
        assert data[:6] in GIF_MAGIC, name
        assert pyvips.Image.new_from_buffer(data, "", n=-1).get("n-pages") == 5, name


# ---------------------------------------------------------------------------- EXIF orientation


def test_auto_orient_original_rotates_the_stored_original(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(AUTO_ORIENT_ORIGINAL="1")
    upload_bytes = imagegen.jpeg_with_exif(300, 200, orientation=6)

    key = upload_key(client, upload_bytes)

    original = (incoming_dir(client) / key).read_bytes()
    assert dimensions(original) == (200, 300)
    assert imagegen.exif_orientation(original) in (None, 1)
    image = pyvips.Image.new_from_buffer(original, "")
    # Stored top-left red block, displayed (orientation 6) at the top right.
    red, green, _ = image.getpoint(image.width - 3, 3)
    assert red > 200 and green < 60
    record = app_context(client).records.by_file(key)
    assert record is not None and (record.width, record.height) == (200, 300)


def test_without_auto_orient_the_original_is_stored_byte_identical(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(AUTO_ORIENT_ORIGINAL="0", ORIGINAL_METADATA="keep")
    upload_bytes = imagegen.jpeg_with_exif(300, 200, orientation=6)

    key = upload_key(client, upload_bytes)

    assert (incoming_dir(client) / key).read_bytes() == upload_bytes


@pytest.mark.parametrize("auto_orient", ["1", "0"])
def test_variants_are_upright_and_carry_no_exif(make_client: Callable[..., TestClient],
                                                auto_orient: str) -> None:
    client = make_client(AUTO_ORIENT_ORIGINAL=auto_orient)
    key = upload_key(client, imagegen.jpeg_with_exif(300, 200, orientation=6, gps=True))

    bi, mi, si = variant_names(key)
    expected = {bi: (200, 300), mi: (200, 300), si: (200, 200)}
    for name in variant_names(key):
        data = (incoming_dir(client) / name).read_bytes()
        assert dimensions(data) == expected[name], name
        assert not imagegen.has_exif_gps(data), name
        assert imagegen.exif_orientation(data) in (None, 1), name
        image = pyvips.Image.new_from_buffer(data, "")
        red, green, _ = image.getpoint(image.width - 3, 3)
        assert red > 200 and green < 60, (name, "the red corner is not at the top right")


# ---------------------------------------------------------------------------- publish


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_publish_moves_original_and_variants_to_active(client: TestClient,
                                                       encoding: str) -> None:
    data = imagegen.photo_jpeg(300, 200)
    key = upload_key(client, data)
    fields = {"secret": SECRET, "filename": key}

    if encoding == "urlencoded":
        response = client.post("/publish", data=fields)
        assert response.request.headers["content-type"].startswith(
            "application/x-www-form-urlencoded")
    else:
        response = client.post("/publish", files={k: (None, v) for k, v in fields.items()})
        assert response.request.headers["content-type"].startswith("multipart/form-data")

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert every_file(incoming_dir(client)) == []
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key)])
    assert (active_dir(client) / key).read_bytes() == data
    assert status_of(client, key) == "active"


def test_publish_twice_succeeds_both_times(client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(300, 200))

    first = publish(client, key)
    snapshot = {name: (active_dir(client) / name).read_bytes()
                for name in files_under(active_dir(client))}
    second = publish(client, key)

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json() == {"success": True}
    assert {name: (active_dir(client) / name).read_bytes()
            for name in files_under(active_dir(client))} == snapshot
    assert sorted(snapshot) == sorted([key, *variant_names(key)])
    assert status_of(client, key) == "active"


def test_publish_without_secret_is_401_and_moves_nothing(client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(300, 200))

    assert_json_error(client.post("/publish", data={"filename": key}), 401)

    assert files_under(incoming_dir(client)) == sorted([key, *variant_names(key)])
    assert every_file(active_dir(client)) == []
    assert status_of(client, key) == "incoming"


def test_publish_with_bad_secret_is_403_with_cors(client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(300, 200))

    response = client.post("/publish", data={"secret": "bad_secret", "filename": key})

    assert_json_error(response, 403)
    assert response.headers["access-control-allow-origin"] == "*"
    assert every_file(active_dir(client)) == []
    assert status_of(client, key) == "incoming"


def test_publish_with_empty_api_secret_key_refuses_every_secret(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(API_SECRET_KEY="")
    key = upload_key(client, imagegen.photo_jpeg(300, 200))

    for secret in (SECRET, ""):
        body = assert_json_error(client.post("/publish", data={"secret": secret,
                                                               "filename": key}), 403)
        assert body["message"] == "publishing is disabled: API_SECRET_KEY is not set"

    assert every_file(active_dir(client)) == []


def test_publish_with_api_secret_key_unset_refuses_every_secret(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings().model_copy(update={"api_secret_key": None})
    assert settings.api_secret_key is None
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        key = upload_key(client, imagegen.photo_jpeg(300, 200))
        for secret in (SECRET, "None", "null", ""):
            response = client.post("/publish", data={"secret": secret, "filename": key})
            body = assert_json_error(response, 403)
            assert body["message"] == "publishing is disabled: API_SECRET_KEY is not set"
        assert every_file(active_dir(client)) == []
        assert status_of(client, key) == "incoming"


@pytest.mark.parametrize("key", ["1_2.jpg", "1475660224_882910455.jpg", "1475660224_1.svg"])
def test_publish_of_an_unknown_key_is_404(client: TestClient, key: str) -> None:
    body = assert_json_error(publish(client, key), 404)

    assert body["error"] == "not_found"
    assert every_file(active_dir(client)) == []


@pytest.mark.parametrize("key", ["../../etc/passwd", "abc.jpg", "1475660224_882910455BI.jpg",
                                 "1_2.tiff", "/1_2.jpg"])
def test_publish_of_a_malformed_key_is_400(client: TestClient, key: str) -> None:
    assert_json_error(publish(client, key), 400)

    assert every_file(active_dir(client)) == []


def test_publish_accepts_an_unpadded_legacy_key_present_in_incoming(client: TestClient) -> None:
    """v5/v6 keys have an unpadded random part; they must still publish."""
    legacy = "1475660224_882910455.jpg"
    data = imagegen.photo_jpeg(300, 200)
    incoming_dir(client).mkdir(parents=True, exist_ok=True)
    (incoming_dir(client) / legacy).write_bytes(data)

    response = publish(client, legacy)

    assert response.status_code == 200, response.text
    assert files_under(active_dir(client)) == sorted([legacy, *variant_names(legacy)])
    assert (active_dir(client) / legacy).read_bytes() == data
    assert status_of(client, legacy) == "active"


def test_publish_with_crop_keeps_the_original_and_crops_the_variants(
        client: TestClient) -> None:
    data = imagegen.photo_jpeg(1000, 800)
    key = upload_key(client, data)

    response = publish(client, key, crop="300x200+10+10")

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert (active_dir(client) / key).read_bytes() == data
    bi, mi, si = variant_names(key)
    assert dimensions((active_dir(client) / bi).read_bytes()) == (300, 200)
    assert dimensions((active_dir(client) / mi).read_bytes()) == (300, 200)
    assert dimensions((active_dir(client) / si).read_bytes()) == (200, 200)
    original = pyvips.Image.new_from_buffer(data, "")
    variant = pyvips.Image.new_from_file(str(active_dir(client) / bi))
    # The BI variant shows the 300x200 region at (10, 10): closer to it than to the same
    # region shifted by 10 px (crop offset ignored) or taken elsewhere.
    from_region = mean_difference(variant, original.extract_area(10, 10, 300, 200))
    from_origin = mean_difference(variant, original.extract_area(0, 0, 300, 200))
    from_elsewhere = mean_difference(variant, original.extract_area(600, 500, 300, 200))
    assert from_region < 2.5 < from_origin < from_elsewhere, (
        from_region, from_origin, from_elsewhere)
    assert status_of(client, key) == "active"


def test_publish_with_crop_after_publish_recrops_the_variants(client: TestClient) -> None:
    data = imagegen.photo_jpeg(1000, 800)
    key = published_key(client, data)

    response = publish(client, key, crop="300x200+10+10")

    assert response.status_code == 200, response.text
    assert (active_dir(client) / key).read_bytes() == data
    assert dimensions((active_dir(client) / variant_names(key)[0]).read_bytes()) == (300, 200)


@pytest.mark.parametrize("crop", ["abc", "0x0+1+1", "300x200+a+b"])
def test_publish_with_invalid_crop_is_400_and_moves_nothing(client: TestClient,
                                                            crop: str) -> None:
    key = upload_key(client, imagegen.photo_jpeg(400, 300))

    assert_json_error(publish(client, key, crop=crop), 400)

    assert files_under(incoming_dir(client)) == sorted([key, *variant_names(key),
                                                        f"{key}.ladder-256"])
    assert every_file(active_dir(client)) == []


def test_publish_with_crop_outside_the_image_is_400_and_moves_nothing(
        client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(400, 300))

    body = assert_json_error(publish(client, key, crop="100x100+5000+5000"), 400)

    assert "crop" in body["message"]
    assert files_under(incoming_dir(client)) == sorted([key, *variant_names(key),
                                                        f"{key}.ladder-256"])
    assert every_file(active_dir(client)) == []


# ---------------------------------------------------------------------------- delete


def test_delete_removes_originals_and_variants_of_every_filename(client: TestClient) -> None:
    first = published_key(client, imagegen.photo_jpeg(300, 200))
    second = published_key(client, imagegen.svg(300, 200), "drawing.svg")
    assert len(files_under(active_dir(client))) == 8

    response = client.post("/delete", data={"secret": SECRET, "filenames": [first, second]})

    assert response.request.content.count(b"filenames=") == 2
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert files_under(active_dir(client)) == []
    assert status_of(client, first) == "deleted"
    assert status_of(client, second) == "deleted"


def test_delete_ignores_unknown_and_malformed_keys(client: TestClient) -> None:
    doomed = published_key(client, imagegen.photo_jpeg(300, 200))
    kept = published_key(client, imagegen.photo_png(200, 100))

    response = client.post("/delete", data={"secret": SECRET, "filenames": [
        "1_2.jpg", "../../etc/passwd", "abc.jpg", doomed, "1475660224_882910455.jpg"]})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert files_under(active_dir(client)) == sorted([kept, *variant_names(kept)])
    assert status_of(client, doomed) == "deleted"
    assert status_of(client, kept) == "active"


def test_delete_with_no_filenames_succeeds(client: TestClient) -> None:
    response = client.post("/delete", data={"secret": SECRET})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


def test_delete_never_touches_incoming(client: TestClient) -> None:
    key = upload_key(client, imagegen.photo_jpeg(300, 200))

    response = client.post("/delete", data={"secret": SECRET, "filenames": [key]})

    assert response.status_code == 200
    assert files_under(incoming_dir(client)) == sorted([key, *variant_names(key)])


@pytest.mark.parametrize(("secret", "status"), [("bad_secret", 403), (None, 401)])
def test_delete_without_the_right_secret_deletes_nothing(client: TestClient,
                                                         secret: str | None,
                                                         status: int) -> None:
    key = published_key(client, imagegen.photo_jpeg(300, 200))
    form: dict = {"filenames": [key]}
    if secret is not None:
        form["secret"] = secret

    response = client.post("/delete", data=form)

    assert_json_error(response, status)
    assert response.headers["access-control-allow-origin"] == "*"
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key)])
    assert status_of(client, key) == "active"


# ---------------------------------------------------------------------------- recrop


def test_recrop_makes_a_new_key_with_the_same_original_and_cropped_variants(
        client: TestClient) -> None:
    data = imagegen.photo_jpeg(1000, 800)
    old = published_key(client, data)
    old_files = {name: (active_dir(client) / name).read_bytes()
                 for name in [old, *variant_names(old)]}

    response = client.post("/recrop", data={"secret": SECRET, "filename": old,
                                            "crop": "300x200+10+10"})

    assert response.status_code == 200, response.text
    new = response.json()["filename"]
    assert KEY_PATTERN.match(new) and new.endswith(".jpg") and new != old
    # the new key's ladder would be of the uncropped original: it renders from that instead
    assert files_under(active_dir(client)) == sorted(
        [old, *variant_names(old), f"{old}.ladder-256", new, *variant_names(new)])
    for name, content in old_files.items():
        assert (active_dir(client) / name).read_bytes() == content, name
    assert (active_dir(client) / new).read_bytes() == data
    bi, mi, si = (dimensions((active_dir(client) / n).read_bytes()) for n in variant_names(new))
    assert (bi, mi, si) == ((300, 200), (300, 200), (200, 200))
    assert status_of(client, old) == "active"
    assert status_of(client, new) == "active"


def test_recrop_of_an_unknown_key_is_404(client: TestClient) -> None:
    response = client.post("/recrop", data={"secret": SECRET, "filename": "1_2.jpg",
                                            "crop": "10x10+0+0"})

    assert_json_error(response, 404)
    assert every_file(active_dir(client)) == []


def test_recrop_needs_the_secret(client: TestClient) -> None:
    key = published_key(client, imagegen.photo_jpeg(300, 200))

    assert_json_error(client.post("/recrop", data={"secret": "bad", "filename": key}), 403)
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key)])


# ---------------------------------------------------------------------------- rotate


def test_rotate_90_makes_a_new_upright_key_and_removes_the_old_files(
        client: TestClient) -> None:
    old = published_key(client, imagegen.jpeg_with_exif(600, 400, orientation=1, gps=False))

    response = client.post("/rotate", data={"secret": SECRET, "filename": old,
                                            "rotation": "90"})

    assert response.status_code == 200, response.text
    new = response.json()["filename"]
    assert response.json() == {"success": True, "filename": new}
    assert KEY_PATTERN.match(new) and new.endswith(".jpg") and new != old
    assert files_under(active_dir(client)) == sorted([new, *variant_names(new)])
    rotated = pyvips.Image.new_from_file(str(active_dir(client) / new))
    assert (rotated.width, rotated.height) == (400, 600)
    red, green, _ = rotated.getpoint(rotated.width - 3, 3)  # clockwise: top-left -> top-right
    assert red > 200 and green < 60
    bi = dimensions((active_dir(client) / variant_names(new)[0]).read_bytes())
    assert bi == (400, 600)
    assert status_of(client, old) == "deleted"
    assert status_of(client, new) == "active"


@pytest.mark.parametrize("rotation", ["45", "abc", "360"])
def test_rotate_by_an_unsupported_angle_is_400(client: TestClient, rotation: str) -> None:
    key = published_key(client, imagegen.photo_jpeg(600, 400))

    response = client.post("/rotate", data={"secret": SECRET, "filename": key,
                                            "rotation": rotation})

    assert_json_error(response, 400)
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key),
                                                      f"{key}.ladder-256"])
    assert status_of(client, key) == "active"


def test_rotate_of_an_svg_is_400(client: TestClient) -> None:
    key = published_key(client, imagegen.svg(300, 200), "drawing.svg")

    response = client.post("/rotate", data={"secret": SECRET, "filename": key,
                                            "rotation": "90"})

    assert_json_error(response, 400)
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key)])


# ---------------------------------------------------------------------------- ROUTE_PREFIX


@pytest.mark.parametrize("prefix", ["/images", "/images/"])
def test_route_prefix_moves_every_route(make_client: Callable[..., TestClient],
                                        prefix: str) -> None:
    client = make_client(ROUTE_PREFIX=prefix)

    ping = client.get("/images/ping")
    assert ping.status_code == 200
    assert ping.text == "Pong!"
    uploaded = upload(client, imagegen.photo_jpeg(300, 200), path="/images/upload")
    assert uploaded.status_code == 200, uploaded.text
    key = uploaded.json()["filename"]
    published = client.post("/images/publish", data={"secret": SECRET, "filename": key})
    assert published.status_code == 200, published.text
    assert files_under(active_dir(client)) == sorted([key, *variant_names(key)])

    body = assert_json_error(client.get("/ping"), 404)
    assert body["error"] == "not_found"
    assert_json_error(upload(client, imagegen.photo_jpeg(50, 50)), 404)   # no such route
    assert files_under(incoming_dir(client)) == []


def test_ping_answers_pong_to_any_method(client: TestClient) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, "/ping")
        assert response.status_code == 200
        assert response.text == "Pong!"
