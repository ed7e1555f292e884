"""The image records API over HTTP (in-process), on SQLite and on PostgreSQL: POST/PUT/GET/
PATCH/DELETE /images, bulk PATCH/DELETE, /images/fields, /export and /import, access rules
and the OpenAPI document."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests import imagegen
from tests.conftest import SECRET, app_context, files_under
from tests.kit.environ import local_settings
from tests.kit.servers import FreshPostgresDatabase

READ_KEY, WRITE_KEY, ADMIN_KEY = "reader-key-0001", "writer-key-0001", "admin-key-00001"
API_KEYS = f"{READ_KEY}:read;{WRITE_KEY}:write;{ADMIN_KEY}:admin"


def modified(count: int) -> dict[str, object]:
    """A bulk PATCH answer: imagehost's count and MongoDB's names for the microservice."""
    return {"modified": count, "modifiedCount": count, "acknowledged": True}


def deleted(count: int) -> dict[str, object]:
    return {"deleted": count, "deletedCount": count, "acknowledged": True}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


READ, WRITE, ADMIN = bearer(READ_KEY), bearer(WRITE_KEY), bearer(ADMIN_KEY)
JPEG = imagegen.photo_jpeg(64, 48)
JPEG_B = imagegen.photo_jpeg(64, 48, quality=60)
PNG = imagegen.photo_png(32, 24)
EVERY_STATUS = "incoming,active,deleted"


def client_environ(root: Path, database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a client whose stores all live under `root`."""
    return local_settings(root) | {"DATABASE_URL": database_url, "API_KEYS": API_KEYS, **extra}


@pytest.fixture
def make_records_client(make_client: Callable[..., TestClient], catalog_url: str,
                        tmp_path: Path) -> Callable[..., TestClient]:
    """A client on this test's database (SQLite or PostgreSQL) with extra environment."""

    def make(**extra: str) -> TestClient:
        return make_client(**client_environ(tmp_path / "stores", catalog_url, **extra))

    return make


@pytest.fixture
def client(make_records_client: Callable[..., TestClient]) -> TestClient:
    return make_records_client()


@pytest.fixture
def other_catalog_url(catalog_url: str, tmp_path: Path,
                      request: pytest.FixtureRequest) -> Iterator[str]:
    """A second empty database of the same kind as catalog_url (for round trips)."""
    if catalog_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    with FreshPostgresDatabase(request.getfixturevalue("postgres_server_url")) as url:
        yield url


@pytest.fixture
def other_client(make_client: Callable[..., TestClient], other_catalog_url: str,
                 tmp_path: Path) -> TestClient:
    """A fresh, empty service: its own database and its own folders."""
    return make_client(**client_environ(tmp_path / "other-stores", other_catalog_url))


# ---------------------------------------------------------------------------- helpers


def post_image(client: TestClient, image: bytes = JPEG, *, data: Any = None,
               path: str | None = None, time: str | None = None,
               headers: dict[str, str] | None = None, image_field: str = "image",
               data_field: str = "data", fields: dict[str, str] | None = None,
               content_type: str = "image/jpeg") -> httpx.Response:
    form: dict[str, str] = dict(fields or {})
    if data is not None:
        form[data_field] = data if isinstance(data, str) else json.dumps(data)
    if path is not None:
        form["path"] = path
    if time is not None:
        form["time"] = time
    return client.post("/images", files={image_field: ("upload.bin", image, content_type)},
                       data=form, headers=WRITE if headers is None else headers)


def created(client: TestClient, image: bytes = JPEG, **kwargs: Any) -> dict[str, Any]:
    response = post_image(client, image, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def active_root(client: TestClient) -> Path:
    return app_context(client).settings.active_folder


def incoming_root(client: TestClient) -> Path:
    return app_context(client).settings.incoming_folder


def stored_files(client: TestClient) -> list[str]:
    roots = (active_root(client), incoming_root(client))
    return [f"{root.name}/{name}" for root in roots if root.exists()
            for name in files_under(root)]


def all_records(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/images", params={"status": EVERY_STATUS, "sort": "id", **params},
                          headers=READ)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def incoming_record(client: TestClient) -> dict[str, Any]:
    """Upload through the c2corg /upload route: the record stays incoming."""
    response = client.post("/upload", files={"file": ("photo.jpg", JPEG, "image/jpeg")})
    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    [record] = [r for r in all_records(client, status="incoming") if r["file"] == key]
    return record


def assert_error(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "message"}, body
    for word in words:
        assert word in body["message"], body
    return body


def escaped_files(tmp_path: Path) -> list[Path]:
    """Files a traversal would have written: anywhere under this test's folder, or next to it."""
    return [*tmp_path.rglob("escaped.jpg"), *tmp_path.parent.glob("escaped.jpg"),
            *Path("/tmp").glob("escaped.jpg")]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def post_import(client: TestClient, archive: bytes, headers: dict[str, str] | None = None,
                data: str | None = None) -> httpx.Response:
    return client.post("/import", files={"archive": ("export.zip", archive, "application/zip")},
                       data={"data": data} if data is not None else None,
                       headers=WRITE if headers is None else headers)


def unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# ---------------------------------------------------------------------------- POST /images


def test_post_multipart_image_with_json_data_is_201_with_the_record(client: TestClient) -> None:
    data = {"site": 4, "tags": ["a", "b"], "camera": {"model": "x", "iso": 100}, "ok": True}

    response = post_image(client, data=data)

    assert response.status_code == 201, response.text
    record = response.json()
    assert set(record) >= {"id", "file", "time", "data", "status", "format", "width", "height",
                           "bytes", "sha256", "variants"}
    assert isinstance(record["id"], int)
    assert record["data"] == data
    assert record["status"] == "active"
    assert (record["format"], record["width"], record["height"]) == ("jpeg", 64, 48)
    assert record["bytes"] == len(JPEG)
    assert record["sha256"] == sha256(JPEG)
    assert record["file"].endswith(".jpg")
    assert len(record["variants"]) == 3
    on_disk = files_under(active_root(client))
    assert record["file"] in on_disk
    assert set(record["variants"]) <= set(on_disk)
    assert (active_root(client) / record["file"]).read_bytes() == JPEG
    assert client.get(f"/images/{record['id']}", headers=READ).json() == record


def test_post_accepts_the_file_field_and_json_field(client: TestClient) -> None:
    record = created(client, image_field="file", data_field="json", data={"a": 1})

    assert record["data"] == {"a": 1}
    assert record["sha256"] == sha256(JPEG)


def test_post_plain_fields_become_string_data(client: TestClient) -> None:
    record = created(client, fields={"site": "4", "camera": "north", "empty": ""})

    assert record["data"] == {"site": "4", "camera": "north", "empty": ""}


def test_post_without_data_has_empty_data(client: TestClient) -> None:
    assert created(client)["data"] == {}


def test_post_path_field_chooses_the_file(client: TestClient) -> None:
    record = created(client, path="plots/site-4/cam1.jpg", data={"x": 1})

    assert record["file"] == "plots/site-4/cam1.jpg"
    assert (active_root(client) / "plots/site-4/cam1.jpg").read_bytes() == JPEG


def test_post_text_file_field_chooses_the_file(client: TestClient) -> None:
    record = created(client, fields={"file": "chosen/by-file-field.jpg"})

    assert record["file"] == "chosen/by-file-field.jpg"
    assert record["data"] == {}
    assert "chosen/by-file-field.jpg" in files_under(active_root(client))


def test_post_path_with_a_long_segment_is_stored_or_refused_not_500(client: TestClient) -> None:
    """validate_key allows 1024 characters; a file system allows 255 bytes per name."""
    path = "long/" + "a" * 300 + ".jpg"

    response = post_image(client, path=path)

    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert client.get(f"/images/{response.json()['id']}/image").content == JPEG
    else:
        assert stored_files(client) == []
        assert all_records(client) == []


def test_post_png_keeps_its_format(client: TestClient) -> None:
    record = created(client, PNG, path="pics/p.png", content_type="image/png")

    assert (record["format"], record["width"], record["height"]) == ("png", 32, 24)
    assert record["sha256"] == sha256(PNG)


def test_post_time_override_is_the_record_time(client: TestClient) -> None:
    record = created(client, time="2020-05-06T09:08:09+02:00")

    assert client.get(f"/images/{record['id']}",
                      headers=READ).json()["time"] == "2020-05-06T07:08:09+00:00"
    assert record["time"] == "2020-05-06T07:08:09+00:00"  # the answer reads like later reads
    naive = created(client, time="2019-01-02T03:04:05", path="naive/t.jpg")
    assert client.get(f"/images/{naive['id']}",
                      headers=READ).json()["time"] == "2019-01-02T03:04:05+00:00"


def test_post_same_path_replaces_and_keeps_the_id(client: TestClient) -> None:
    first = created(client, path="site/cam.jpg", data={"v": 1, "old": True})

    response = post_image(client, JPEG_B, path="site/cam.jpg", data={"v": 2})

    assert response.status_code == 201, response.text  # POST answers 201 even on replace
    second = response.json()
    assert second["id"] == first["id"]
    assert second["data"] == {"v": 2}
    assert second["sha256"] == sha256(JPEG_B) != first["sha256"]
    assert (active_root(client) / "site/cam.jpg").read_bytes() == JPEG_B
    assert [r["id"] for r in all_records(client)] == [first["id"]]


def test_post_malformed_fields_are_400(client: TestClient) -> None:
    for form, word in [({"data": "{not json"}, "JSON"), ({"data": "[1, 2]"}, "object"),
                       ({"json": "42"}, "object"), ({"time": "yesterday"}, "time")]:
        response = client.post("/images", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                               data=form, headers=WRITE)

        assert_error(response, 400, word)
    assert stored_files(client) == []
    assert all_records(client) == []


def test_post_without_an_image_is_400(client: TestClient) -> None:
    response = client.post("/images", data={"data": "{}"}, headers=WRITE)

    assert_error(response, 400, "image")


def test_post_wrong_extension_for_content_is_400(client: TestClient) -> None:
    response = post_image(client, path="site/cam.png")

    assert_error(response, 400, ".png", "jpeg")
    assert stored_files(client) == []
    assert all_records(client) == []


def test_post_non_image_is_400(client: TestClient) -> None:
    response = post_image(client, imagegen.text_file(), path="notes/a.jpg")

    assert_error(response, 400)
    assert stored_files(client) == []
    assert all_records(client) == []


def test_post_pixel_bomb_is_413(client: TestClient) -> None:
    response = post_image(client, imagegen.png_pixel_bomb(), content_type="image/png")

    assert_error(response, 413)
    assert stored_files(client) == []
    assert all_records(client) == []


def test_post_without_key_is_401_and_read_key_is_403(client: TestClient) -> None:
    assert_error(post_image(client, headers={}), 401)
    assert_error(post_image(client, headers=READ), 403, "write")
    assert_error(post_image(client, headers=bearer("unknown-key-123")), 401)

    assert stored_files(client) == []
    assert all_records(client) == []


def test_auth_required_false_opens_the_records_api_to_callers_without_a_key(
        make_records_client: Callable[..., TestClient]) -> None:
    client = make_records_client(AUTH_REQUIRED="false")

    created = post_image(client, headers={}, path="open/a.jpg")
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    assert client.patch(f"/images/{record_id}", json={"k": 1}).json()["data"] == {"k": 1}
    assert client.get("/images", params={"status": "active,deleted"}).status_code == 200
    assert client.get("/export").status_code == 200
    assert_error(post_image(client, headers=bearer("unknown-key-123")), 401)
    assert_error(post_image(client, headers=READ), 403, "write")   # a key keeps its scopes
    assert_error(client.post("/publish", data={"filename": "1_2.jpg"}), 401)  # c2corg: secret
    assert client.delete(f"/images/{record_id}").status_code == 200


@pytest.mark.parametrize("value", ["", "1", "true"])
def test_auth_is_required_unless_turned_off(make_records_client: Callable[..., TestClient],
                                            value: str) -> None:
    client = make_records_client(AUTH_REQUIRED=value)

    assert_error(post_image(client, headers={}), 401)
    assert_error(client.get("/export"), 401)


def test_post_with_admin_key_and_api_secret_key(client: TestClient) -> None:
    assert post_image(client, headers=ADMIN, path="a/admin.jpg").status_code == 201
    assert post_image(client, headers=bearer(SECRET), path="a/secret.jpg").status_code == 201

    assert [r["file"] for r in all_records(client)] == ["a/admin.jpg", "a/secret.jpg"]


# ---------------------------------------------------------------------------- PUT /images/{path}


def test_put_raw_image_is_201_then_200_on_replace(client: TestClient) -> None:
    first = client.put("/images/plots/p1/cam.jpg", content=JPEG,
                       headers={**WRITE, "Content-Type": "image/jpeg"})

    assert first.status_code == 201, first.text
    record = first.json()
    assert record["file"] == "plots/p1/cam.jpg"
    assert record["data"] == {}
    assert record["sha256"] == sha256(JPEG)

    second = client.put("/images/plots/p1/cam.jpg", content=JPEG_B,
                        headers={**WRITE, "Content-Type": "image/jpeg"})

    assert second.status_code == 200, second.text
    assert second.json()["id"] == record["id"]
    assert second.json()["sha256"] == sha256(JPEG_B)
    assert (active_root(client) / "plots/p1/cam.jpg").read_bytes() == JPEG_B
    assert len(all_records(client)) == 1


def test_put_octet_stream_and_multipart_store_an_image(client: TestClient) -> None:
    raw = client.put("/images/raw/a.png", content=PNG,
                     headers={**WRITE, "Content-Type": "application/octet-stream"})
    form = client.put("/images/form/b.jpg", files={"image": ("x.jpg", JPEG, "image/jpeg")},
                      data={"data": json.dumps({"k": "v"})}, headers=WRITE)

    assert raw.status_code == 201, raw.text
    assert raw.json()["format"] == "png"
    assert form.status_code == 201, form.text
    assert (form.json()["file"], form.json()["data"]) == ("form/b.jpg", {"k": "v"})


def test_put_json_replaces_data_by_id_and_by_path(client: TestClient) -> None:
    record = created(client, path="site/cam.jpg", data={"a": 1, "nested": {"b": 2}})

    by_id = client.put(f"/images/{record['id']}", json={"c": 3}, headers=WRITE)

    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["data"] == {"c": 3}  # replaced, not merged
    assert by_id.json()["sha256"] == record["sha256"]

    by_path = client.put("/images/site/cam.jpg", json={"d": [1, 2]}, headers=WRITE)

    assert by_path.status_code == 200, by_path.text
    assert by_path.json()["id"] == record["id"]
    assert client.get(f"/images/{record['id']}", headers=READ).json()["data"] == {"d": [1, 2]}


def test_put_json_errors(client: TestClient) -> None:
    record = created(client, path="site/cam.jpg", data={"a": 1})
    as_json = {**WRITE, "Content-Type": "application/json"}

    assert_error(client.put("/images/999999", json={"x": 1}, headers=WRITE), 404)
    assert_error(client.put("/images/no/such.jpg", json={"x": 1}, headers=WRITE), 404)
    assert_error(client.put(f"/images/{record['id']}", json=[1], headers=WRITE), 400)
    assert_error(client.put(f"/images/{record['id']}", content=b"{oops", headers=as_json), 400)
    assert_error(client.put(f"/images/{record['id']}", json={"x": 1}, headers=READ), 403)
    assert_error(client.put(f"/images/{record['id']}", json={"x": 1}), 401)
    assert client.get(f"/images/{record['id']}", headers=READ).json()["data"] == {"a": 1}


# A path that reaches PUT /images/{path} with a traversal in it is a malformed key: 400. The
# client resolves literal dot segments itself (RFC 3986), so the last two ask for
# PUT /escaped.jpg, an unknown route: 404.
TRAVERSALS = {"/images/%2e%2e/escaped.jpg": 400, "/images/%2E%2E/%2E%2E/escaped.jpg": 400,
              "/images/..%2fescaped.jpg": 400, "/images/a/%2e%2e/%2e%2e/escaped.jpg": 400,
              "/images/..%5cescaped.jpg": 400, "/images//escaped.jpg": 400,
              "/images/../escaped.jpg": 404, "/images/a/../../escaped.jpg": 404}


def test_put_path_traversal_is_refused_and_writes_nothing(client: TestClient,
                                                         tmp_path: Path) -> None:
    answers = {url: client.put(url, content=JPEG,
                               headers={**WRITE, "Content-Type": "image/jpeg"})
               for url in TRAVERSALS}

    assert {url: r.status_code for url, r in answers.items()} == TRAVERSALS
    for response in answers.values():
        assert set(response.json()) == {"error", "message"}
    assert escaped_files(tmp_path) == []
    assert stored_files(client) == []
    assert all_records(client) == []


def test_put_image_on_a_digits_only_path_is_400(client: TestClient) -> None:
    response = client.put("/images/12345", content=JPEG,
                          headers={**WRITE, "Content-Type": "image/jpeg"})

    assert_error(response, 400)
    assert stored_files(client) == []


def test_put_image_needs_write(client: TestClient) -> None:
    headers = {"Content-Type": "image/jpeg"}

    assert_error(client.put("/images/a/b.jpg", content=JPEG, headers=headers), 401)
    assert_error(client.put("/images/a/b.jpg", content=JPEG, headers={**headers, **READ}), 403)
    assert stored_files(client) == []


def test_put_wrong_extension_and_non_image_are_400(client: TestClient) -> None:
    headers = {**WRITE, "Content-Type": "image/jpeg"}

    assert_error(client.put("/images/a/b.gif", content=JPEG, headers=headers), 400)
    assert_error(client.put("/images/a/c.jpg", content=imagegen.text_file(), headers=headers),
                 400)
    assert stored_files(client) == []


# ---------------------------------------------------------------------------- GET /images/{id}


def test_get_unknown_id_is_404(client: TestClient) -> None:
    assert_error(client.get("/images/999999", headers=READ), 404)
    assert_error(client.get("/images/999999/image"), 404)


def test_get_bad_id_is_400_json(client: TestClient) -> None:
    for ref in ("abc", "1.5", "12abc", "-"):
        body = assert_error(client.get(f"/images/{ref}"), 400)

        assert body["error"] == "bad_request"
        assert "record_id" in body["message"]
        assert_error(client.get(f"/images/{ref}/image"), 400)


def test_get_out_of_range_id_is_404_not_500(client: TestClient) -> None:
    """No record can have an id beyond the 32-bit column: an unknown id, which the README
    answers with 404 ("404 for unknown ids and routes")."""
    for ref in ("2147483648", "9223372036854775808", "100000000000000000000"):
        response = client.get(f"/images/{ref}", headers=READ)

        assert_error(response, 404)
        for method in ("PATCH", "PUT", "DELETE"):
            answer = client.request(method, f"/images/{ref}", json={"a": 1}, headers=WRITE)
            assert answer.status_code == 404, (method, ref, answer.text)
            assert set(answer.json()) == {"error", "message"}


def test_get_after_delete_is_404(client: TestClient) -> None:
    record = created(client)
    assert client.delete(f"/images/{record['id']}", headers=WRITE).status_code == 200

    assert_error(client.get(f"/images/{record['id']}", headers=READ), 404)
    assert_error(client.get(f"/images/{record['id']}/image", headers=READ), 404)


# ------------------------------------------------------------------------ GET /images/{id}/image


def test_get_image_bytes_headers_and_304(client: TestClient) -> None:
    record = created(client)
    url = f"/images/{record['id']}/image"

    response = client.get(url)

    assert response.status_code == 200
    assert response.content == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    etag = response.headers["etag"]
    assert etag == f'"{sha256(JPEG)}"'
    assert response.headers["cache-control"] == "public, max-age=3600"

    for header in (etag, f"W/{etag}", f'"other", {etag}'):
        cached = client.get(url, headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.content == b""
        assert cached.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).content == JPEG


def test_get_image_if_none_match_star_is_304(client: TestClient) -> None:
    """RFC 9110 13.1.2: `If-None-Match: *` fails when the resource exists (GET -> 304)."""
    record = created(client)

    response = client.get(f"/images/{record['id']}/image", headers={"If-None-Match": "*"})

    assert response.status_code == 304


def test_get_png_image_content_type(client: TestClient) -> None:
    record = created(client, PNG, path="p/x.png", content_type="image/png")

    response = client.get(f"/images/{record['id']}/image")

    assert response.headers["content-type"] == "image/png"
    assert response.content == PNG


def test_replaced_image_has_a_new_etag(client: TestClient) -> None:
    record = created(client, path="a/b.jpg")
    old = client.get(f"/images/{record['id']}/image").headers["etag"]
    created(client, JPEG_B, path="a/b.jpg")

    response = client.get(f"/images/{record['id']}/image", headers={"If-None-Match": old})

    assert response.status_code == 200
    assert response.content == JPEG_B
    assert response.headers["etag"] != old


def test_incoming_image_needs_a_key_and_is_not_publicly_cacheable(client: TestClient) -> None:
    record = incoming_record(client)
    url = f"/images/{record['id']}/image"

    assert_error(client.get(url), 401)
    response = client.get(url, headers=READ)

    assert response.status_code == 200
    assert sha256(response.content) == record["sha256"]
    # a response that needed Authorization must not be stored by shared caches
    assert "public" not in response.headers.get("cache-control", "")


# ---------------------------------------------------------------------------- PATCH /images/{id}


def test_patch_is_an_rfc7396_merge(client: TestClient) -> None:
    record = created(client, data={"a": {"b": 1, "c": 2, "deep": {"x": 1}}, "d": 1,
                                   "keep": True, "list": [1, 2]})
    patch = {"a": {"b": None, "e": 3, "deep": {"y": 2}}, "d": None, "list": [3],
             "new": {"n": None, "m": 1}}

    response = client.patch(f"/images/{record['id']}", content=json.dumps(patch),
                            headers={**WRITE, "Content-Type": "application/merge-patch+json"})

    assert response.status_code == 200, response.text
    expected = {"a": {"c": 2, "e": 3, "deep": {"x": 1, "y": 2}}, "keep": True, "list": [3],
                "new": {"m": 1}}
    assert response.json()["data"] == expected
    assert client.get(f"/images/{record['id']}", headers=READ).json()["data"] == expected


def test_patch_with_application_json_and_null_removing_a_missing_key(client: TestClient) -> None:
    record = created(client, data={"a": 1})

    response = client.patch(f"/images/{record['id']}", json={"zz": None, "b": "x"},
                            headers=WRITE)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"a": 1, "b": "x"}


def test_patch_non_object_body_is_400(client: TestClient) -> None:
    record = created(client, data={"a": 1})

    for body in (b"[1, 2]", b'"text"', b"42", b"null", b"true"):
        response = client.patch(f"/images/{record['id']}", content=body, headers={
            **WRITE, "Content-Type": "application/merge-patch+json"})

        assert_error(response, 400)
    assert client.get(f"/images/{record['id']}", headers=READ).json()["data"] == {"a": 1}


def test_patch_invalid_json_is_400(client: TestClient) -> None:
    record = created(client, data={"a": 1})

    response = client.patch(f"/images/{record['id']}", content=b"{'a': 2}",
                            headers={**WRITE, "Content-Type": "application/json"})

    assert_error(response, 400, "JSON")
    assert client.get(f"/images/{record['id']}", headers=READ).json()["data"] == {"a": 1}


def test_patch_errors(client: TestClient) -> None:
    record = created(client, data={"a": 1})
    url = f"/images/{record['id']}"

    assert_error(client.patch("/images/999999", json={"a": 2}, headers=WRITE), 404)
    assert_error(client.patch("/images/abc", json={"a": 2}, headers=WRITE), 400)
    assert_error(client.patch(url, json={"a": 2}), 401)
    assert_error(client.patch(url, json={"a": 2}, headers=READ), 403)
    assert client.get(url, headers=READ).json()["data"] == {"a": 1}


# ---------------------------------------------------------------------------- DELETE /images/{id}


def test_delete_removes_files_and_variants_and_leaves_a_tombstone(client: TestClient) -> None:
    keep = created(client, path="keep/k.jpg")
    record = created(client, path="gone/g.jpg", data={"x": 1})
    assert {record["file"], *record["variants"]} <= set(files_under(active_root(client)))

    response = client.delete(f"/images/{record['id']}", headers=WRITE)

    assert response.status_code == 200, response.text
    assert response.json() == {"id": record["id"], "_id": record["id"], "status": "deleted"}
    assert files_under(active_root(client)) == sorted([keep["file"], *keep["variants"]])
    assert_error(client.get(f"/images/{record['id']}", headers=READ), 404)
    assert_error(client.get(f"/images/{record['id']}/image"), 404)
    tombstones = client.get("/images", params={"status": "deleted"}, headers=READ).json()
    assert [(r["id"], r["status"], r["file"]) for r in tombstones["items"]] == [
        (record["id"], "deleted", "gone/g.jpg")]
    assert tombstones["total"] == 1
    listed = client.get("/images", headers=READ).json()
    assert [r["id"] for r in listed["items"]] == [keep["id"]]


def test_delete_errors(client: TestClient) -> None:
    record = created(client)
    url = f"/images/{record['id']}"

    assert_error(client.delete(url), 401)
    assert_error(client.delete(url, headers=READ), 403)
    assert_error(client.delete("/images/999999", headers=WRITE), 404)
    assert_error(client.delete("/images/abc", headers=WRITE), 400)
    assert client.get(url, headers=READ).status_code == 200
    assert client.delete(url, headers=WRITE).status_code == 200
    assert_error(client.delete(url, headers=WRITE), 404)
    assert_error(client.patch(url, json={"a": 1}, headers=WRITE), 404)


def test_path_of_a_deleted_image_can_be_reused(client: TestClient) -> None:
    record = created(client, path="re/use.jpg", data={"v": 1})
    client.delete(f"/images/{record['id']}", headers=WRITE)

    again = created(client, JPEG_B, path="re/use.jpg", data={"v": 2})

    assert again["status"] == "active"
    assert again["data"] == {"v": 2}
    assert client.get(f"/images/{again['id']}/image").content == JPEG_B


# ---------------------------------------------------------------------------- bulk PATCH / DELETE


def bulk_set(client: TestClient) -> dict[str, dict[str, Any]]:
    return {name: created(client, path=f"bulk/{name}.jpg", data=data) for name, data in [
        ("a1", {"kind": "a", "n": 1}), ("a2", {"kind": "a", "n": 2}),
        ("b1", {"kind": "b", "n": 3}), ("c1", {"n": 4})]}


def data_by_file(client: TestClient) -> dict[str, Any]:
    return {r["file"]: r["data"] for r in all_records(client, status="active")}


def test_bulk_patch_by_filter_counts_changes(client: TestClient) -> None:
    bulk_set(client)

    response = client.patch("/images", params={"data.kind": "a"}, json={"seen": True},
                            headers=WRITE)

    assert response.status_code == 200, response.text
    assert response.json() == modified(2)
    assert data_by_file(client) == {
        "bulk/a1.jpg": {"kind": "a", "n": 1, "seen": True},
        "bulk/a2.jpg": {"kind": "a", "n": 2, "seen": True},
        "bulk/b1.jpg": {"kind": "b", "n": 3}, "bulk/c1.jpg": {"n": 4}}

    again = client.patch("/images", params={"data.kind": "a"}, json={"seen": True},
                         headers=WRITE)
    assert again.json() == modified(0)

    by_op = client.patch("/images", params={"data.n__gte": "3"}, json={"n": None},
                         headers=WRITE)
    assert by_op.json() == modified(2)
    assert data_by_file(client)["bulk/b1.jpg"] == {"kind": "b"}
    assert data_by_file(client)["bulk/c1.jpg"] == {}


def test_bulk_patch_needs_a_filter_or_all(client: TestClient) -> None:
    bulk_set(client)

    assert_error(client.patch("/images", json={"x": 1}, headers=WRITE), 400, "all=true")
    assert_error(client.patch("/images", params={"limit": "5", "sort": "id"}, json={"x": 1},
                              headers=WRITE), 400, "all=true")
    assert_error(client.patch("/images", params={"all": "off"}, json={"x": 1},
                              headers=WRITE), 400, "all=true")
    assert all("x" not in data for data in data_by_file(client).values())

    response = client.patch("/images", params={"all": "true"}, json={"x": 1}, headers=WRITE)

    assert response.json() == modified(4)
    assert all(data["x"] == 1 for data in data_by_file(client).values())
    # all takes every boolean spelling
    response = client.patch("/images", params={"all": "On"}, json={"x": 2}, headers=WRITE)
    assert response.json() == modified(4)
    assert all(data["x"] == 2 for data in data_by_file(client).values())


def test_bulk_patch_errors(client: TestClient) -> None:
    bulk_set(client)

    assert_error(client.patch("/images", params={"all": "true"}, json=[1], headers=WRITE), 400)
    assert_error(client.patch("/images", params={"all": "true"}, content=b"{x",
                              headers={**WRITE, "Content-Type": "application/json"}), 400)
    assert_error(client.patch("/images", params={"data.n__zz": "1"}, json={"x": 1},
                              headers=WRITE), 400, "data.n__zz")
    assert_error(client.patch("/images", params={"all": "true"}, json={"x": 1}), 401)
    assert_error(client.patch("/images", params={"all": "true"}, json={"x": 1},
                              headers=READ), 403)
    assert all("x" not in data for data in data_by_file(client).values())


def test_bulk_delete_by_filter(client: TestClient) -> None:
    records = bulk_set(client)

    response = client.delete("/images", params={"data.kind__in": "a,b"}, headers=WRITE)

    assert response.status_code == 200, response.text
    assert response.json() == deleted(3)
    assert list(data_by_file(client)) == ["bulk/c1.jpg"]
    c1 = records["c1"]
    assert files_under(active_root(client)) == sorted([c1["file"], *c1["variants"]])
    tombstones = client.get("/images", params={"status": "deleted"}, headers=READ).json()
    assert tombstones["total"] == 3

    again = client.delete("/images", params={"data.kind__in": "a,b"}, headers=WRITE)
    assert again.json() == deleted(0)


def test_bulk_delete_needs_a_filter_or_all(client: TestClient) -> None:
    bulk_set(client)

    assert_error(client.delete("/images", headers=WRITE), 400, "all=true")
    assert_error(client.delete("/images", params={"all": "false"}, headers=WRITE), 400)
    assert_error(client.delete("/images", params={"all": "no"}, headers=WRITE), 400)
    assert_error(client.delete("/images", params={"all": "true"}, headers=READ), 403)
    assert_error(client.delete("/images", params={"all": "true"}), 401)
    assert len(data_by_file(client)) == 4

    response = client.delete("/images", params={"all": "true"}, headers=WRITE)

    assert response.json() == deleted(4)
    assert files_under(active_root(client)) == []


def test_bulk_delete_including_tombstones_skips_them(client: TestClient) -> None:
    """status=active,deleted selects tombstones too: deleting them again is a no-op, not a
    404 in the middle of the operation."""
    records = bulk_set(client)
    client.delete(f"/images/{records['a1']['id']}", headers=WRITE)

    response = client.delete("/images", params={"status": "active,deleted"}, headers=WRITE)

    assert response.status_code == 200, response.text
    assert response.json() == deleted(3)
    assert files_under(active_root(client)) == []


# ---------------------------------------------------------------------------- /images/fields


def test_fields_lists_data_keys_and_values(client: TestClient) -> None:
    created(client, path="f/1.jpg", data={"site": 4, "cam": {"model": "x", "iso": 100},
                                          "ok": True})
    created(client, path="f/2.jpg", data={"site": "4", "cam": {"model": "y"}, "zeta": None})
    created(client, path="f/3.jpg", data={"site": 1.5, "cam": {"model": "x"}, "ok": False})
    created(client, path="f/4.jpg", data={})

    assert client.get("/images/fields", headers=READ).json() == ["cam", "ok", "site", "zeta"]
    assert client.get("/images/fields/site", headers=READ).json() == [1.5, 4, "4"]
    assert client.get("/images/fields/data.site", headers=READ).json() == [1.5, 4, "4"]
    assert client.get("/images/fields/cam.model", headers=READ).json() == ["x", "y"]
    assert client.get("/images/fields/ok", headers=READ).json() == [False, True]
    assert client.get("/images/fields/zeta", headers=READ).json() == [None]
    assert client.get("/images/fields/missing", headers=READ).json() == []
    assert client.get("/images/fields", params={"data.ok": "true"}, headers=READ).json() == [
        "cam", "ok", "site"]
    assert client.get("/images/fields/cam.model",
                      params={"file": "f/2"}, headers=READ).json() == ["y"]


def test_fields_errors_and_visibility(
        make_records_client: Callable[..., TestClient]) -> None:
    """With PUBLIC_LISTING, callers without a key see the fields of published images only."""
    client = make_records_client(PUBLIC_LISTING="true")
    created(client, data={"public": 1})
    incoming = incoming_record(client)
    client.patch(f"/images/{incoming['id']}", json={"secret": 1}, headers=WRITE)

    assert client.get("/images/fields").json() == ["public"]
    assert client.get("/images/fields", headers=READ).json() == ["public", "secret"]
    assert client.get("/images/fields/secret").json() == []
    assert client.get("/images/fields/secret", headers=READ).json() == [1]
    assert_error(client.get("/images/fields", params={"status": "incoming"}), 401)
    assert_error(client.get("/images/fields/bad key"), 400, "name")
    assert_error(client.get("/images/fields", params={"data.n__bogus": "1"}), 400,
                 "data.n__bogus")


# ---------------------------------------------------------------------------- /export


def export_set(client: TestClient) -> list[dict[str, Any]]:
    return [
        created(client, path="plots/p1/cam.jpg", time="2021-03-04T05:06:07+00:00",
                data={"site": 4, "camera": {"model": "x", "iso": 100}, "tags": ["a", "b"],
                      "note": "hé, \"quoted\"\nline", "ok": True, "none": None}),
        created(client, PNG, path="plots/p2/cam.png", content_type="image/png",
                time="2021-03-05T00:00:00+00:00", data={"site": "5", "extra": 1.5}),
        created(client, JPEG_B, path="other/x.jpg", data={}),
    ]


def test_export_is_a_streamed_zip_of_files_and_manifests(client: TestClient) -> None:
    records = export_set(client)
    uploads = {"plots/p1/cam.jpg": JPEG, "plots/p2/cam.png": PNG, "other/x.jpg": JPEG_B}

    response = client.get("/export", headers=READ)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "content-length" not in response.headers  # streamed, not buffered
    entries = unzip(response.content)
    assert set(entries) == {"manifest.json", "manifest.csv", *uploads}
    for name, content in uploads.items():
        assert entries[name] == content, name
    manifest = json.loads(entries["manifest.json"])
    assert sorted(manifest, key=lambda r: r["id"]) == sorted(records, key=lambda r: r["id"])


def test_export_csv_has_one_column_per_data_key(client: TestClient) -> None:
    records = export_set(client)

    entries = unzip(client.get("/export", headers=READ).content)
    rows = list(csv.DictReader(io.StringIO(entries["manifest.csv"].decode())))

    system = ["id", "file", "time", "status", "format", "width", "height", "bytes", "sha256"]
    data_columns = ["data.camera.iso", "data.camera.model", "data.extra", "data.none",
                    "data.note", "data.ok", "data.site", "data.tags"]
    header = next(csv.reader(io.StringIO(entries["manifest.csv"].decode())))
    assert header[:len(system)] == system
    assert sorted(header[len(system):]) == data_columns
    by_file = {row["file"]: row for row in rows}
    assert set(by_file) == {r["file"] for r in records}
    first = by_file["plots/p1/cam.jpg"]
    assert first["id"] == str(records[0]["id"])
    assert first["time"] == "2021-03-04T05:06:07+00:00"
    assert first["sha256"] == sha256(JPEG)
    assert (first["data.site"], first["data.camera.model"], first["data.camera.iso"]) == (
        "4", "x", "100")
    assert first["data.note"] == "hé, \"quoted\"\nline"
    assert (first["data.ok"], first["data.none"], first["data.extra"]) == ("true", "", "")
    assert json.loads(first["data.tags"]) == ["a", "b"]
    second = by_file["plots/p2/cam.png"]
    assert (second["data.site"], second["data.extra"], second["format"]) == ("5", "1.5", "png")
    assert by_file["other/x.jpg"]["data.site"] == ""


def test_export_csv_keeps_data_keys_named_like_system_columns(client: TestClient) -> None:
    """Data owned by the client may use any key, e.g. status or id: it gets a data.<key>
    column and never overwrites the record's own column."""
    record = created(client, path="clash/a.jpg", data={"status": "draft", "id": "custom-7",
                                                       "file": "original-name.jpg"})

    entries = unzip(client.get("/export", headers=READ).content)
    [row] = list(csv.DictReader(io.StringIO(entries["manifest.csv"].decode())))

    assert (row["id"], row["file"], row["status"]) == (str(record["id"]), "clash/a.jpg",
                                                       "active")
    assert (row.get("data.status"), row.get("data.id"), row.get("data.file")) == (
        "draft", "custom-7", "original-name.jpg")


def test_export_applies_filters_and_needs_read(client: TestClient) -> None:
    export_set(client)

    assert_error(client.get("/export"), 401)
    assert_error(client.get("/export", headers=bearer("not-a-known-key")), 401)
    filtered = unzip(client.get("/export", params={"file": "plots/"}, headers=READ).content)
    assert set(filtered) == {"manifest.json", "manifest.csv", "plots/p1/cam.jpg",
                             "plots/p2/cam.png"}
    by_data = unzip(client.get("/export", params={"data.site": "4"}, headers=READ).content)
    assert [r["file"] for r in json.loads(by_data["manifest.json"])] == ["plots/p1/cam.jpg"]
    assert_error(client.get("/export", params={"data.n__bogus": "1"}, headers=READ), 400,
                 "data.n__bogus")


def test_export_of_an_empty_selection_is_a_zip_with_manifests(client: TestClient) -> None:
    entries = unzip(client.get("/export", headers=READ).content)

    assert set(entries) == {"manifest.json", "manifest.csv"}
    assert json.loads(entries["manifest.json"]) == []


def test_export_with_tombstones_selected_is_still_a_valid_zip(client: TestClient) -> None:
    keep = created(client, path="keep/k.jpg")
    gone = created(client, path="gone/g.jpg")
    client.delete(f"/images/{gone['id']}", headers=WRITE)

    response = client.get("/export", params={"status": "active,deleted"}, headers=READ)

    assert response.status_code == 200
    entries = unzip(response.content)  # a tombstone has no file to put in the zip
    assert entries[keep["file"]] == JPEG
    assert "gone/g.jpg" not in entries


# ---------------------------------------------------------------------------- /import


def test_import_round_trip_into_a_fresh_service(client: TestClient,
                                                other_client: TestClient) -> None:
    export_set(client)
    removed = created(client, path="tmp/removed.jpg")
    client.delete(f"/images/{removed['id']}", headers=WRITE)
    source = all_records(client, status="active")
    archive = client.get("/export", headers=READ).content

    response = post_import(other_client, archive)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["failed"]) == (3, 0, 0)
    assert sorted((e["file"], e["id"], e["result"]) for e in report["entries"]) == sorted(
        (r["file"], r["id"], "created") for r in source)
    copied = all_records(other_client)
    fields = ("id", "file", "time", "data", "sha256", "format", "width", "height", "bytes",
              "status")
    assert [{f: r[f] for f in fields} for r in copied] == [
        {f: r[f] for f in fields} for r in source]
    for record in source:
        original = client.get(f"/images/{record['id']}/image").content
        assert other_client.get(f"/images/{record['id']}/image").content == original
        assert set(record["variants"]) <= set(files_under(active_root(other_client)))

    new = created(other_client, path="after/import.jpg")
    assert new["id"] > max(r["id"] for r in source)


def test_import_again_updates_in_place(client: TestClient) -> None:
    records = export_set(client)
    archive = client.get("/export", headers=READ).content
    client.patch(f"/images/{records[0]['id']}", json={"site": 99}, headers=WRITE)

    response = post_import(client, archive)

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (0, 3)
    assert {e["result"] for e in response.json()["entries"]} == {"updated"}
    assert client.get(f"/images/{records[0]['id']}", headers=READ).json()["data"]["site"] == 4
    assert [r["id"] for r in all_records(client)] == sorted(r["id"] for r in records)


def test_import_without_manifest_and_with_user_data(client: TestClient) -> None:
    archive = make_zip([("in/a.jpg", JPEG), ("in/b.png", PNG)])

    response = post_import(client, archive, data=json.dumps({"batch": 7}))

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    records = all_records(client)
    assert [(r["file"], r["data"], r["status"]) for r in records] == [
        ("in/a.jpg", {"batch": 7}, "active"), ("in/b.png", {"batch": 7}, "active")]
    assert [e["id"] for e in sorted(response.json()["entries"], key=lambda e: e["file"])] == [
        r["id"] for r in records]


def test_import_reports_failed_entries_per_entry(client: TestClient) -> None:
    other = created(client, path="taken/by-other.jpg")
    manifest = [{"file": "ok/a.jpg", "id": 500, "data": {"k": 1}},
                {"file": "bad/ext.png", "data": {}},
                {"file": "conflict/c.jpg", "id": other["id"], "data": {}}]
    archive = make_zip([("manifest.json", json.dumps(manifest).encode()),
                        ("ok/a.jpg", JPEG), ("bad/ext.png", JPEG), ("conflict/c.jpg", JPEG)])

    response = post_import(client, archive)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["failed"]) == (1, 0, 2)
    results = {e["file"]: e for e in report["entries"]}
    assert (results["ok/a.jpg"]["result"], results["ok/a.jpg"]["id"]) == ("created", 500)
    assert results["bad/ext.png"]["result"] == "failed"
    assert ".png" in results["bad/ext.png"]["message"]
    assert results["conflict/c.jpg"]["result"] == "failed"
    assert results["conflict/c.jpg"]["message"]
    assert [r["file"] for r in all_records(client)] == ["taken/by-other.jpg", "ok/a.jpg"]
    assert client.get("/images/500", headers=READ).json()["data"] == {"k": 1}


def zeros_bomb() -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    info = zipfile.ZipInfo("bomb/zeros.jpg")
    info.compress_type = zipfile.ZIP_DEFLATED
    return [("ok/a.jpg", JPEG), (info, b"\0" * 2_000_000)]


def bad_crc_archive() -> bytes:
    archive = bytearray(make_zip([("ok/a.jpg", JPEG), ("ok/b.jpg", JPEG_B)]))
    at = archive.find(JPEG_B[:64]) + 300
    archive[at] ^= 0xFF
    return bytes(archive)


REFUSED_ARCHIVES: dict[str, tuple[Callable[[], bytes], int, dict[str, str]]] = {
    "parent traversal": (lambda: make_zip([("ok/a.jpg", JPEG), ("../escaped.jpg", JPEG)]),
                         400, {}),
    "nested traversal": (lambda: make_zip([("ok/a.jpg", JPEG), ("a/../../escaped.jpg", JPEG)]),
                         400, {}),
    "absolute name": (lambda: make_zip([("ok/a.jpg", JPEG), ("/tmp/escaped.jpg", JPEG)]),
                      400, {}),
    "backslash": (lambda: make_zip([("ok/a.jpg", JPEG), ("..\\escaped.jpg", JPEG)]), 400, {}),
    "zip bomb by ratio": (lambda: make_zip(zeros_bomb()), 413, {}),
    "too many entries": (lambda: make_zip([(f"ok/{i}.jpg", JPEG) for i in range(4)]), 413,
                         {"IMPORT_MAX_ENTRIES": "3"}),
    "entry too large": (lambda: make_zip([("ok/a.jpg", JPEG), ("ok/big.png", b"\0" * 4000)]),
                        413, {"MAX_UPLOAD_BYTES": "3000"}),
    "total too large": (lambda: make_zip([(f"ok/{i}.jpg", JPEG) for i in range(3)]), 413,
                        {"IMPORT_MAX_TOTAL_BYTES": str(len(JPEG) * 3 - 1)}),
    "non-image entry": (lambda: make_zip([("ok/a.jpg", JPEG), ("notes.txt", b"hello\n")]),
                        400, {}),
    "fake image entry": (lambda: make_zip([("ok/a.jpg", JPEG),
                                           ("fake.jpg", imagegen.text_file())]), 400, {}),
    "pixel bomb entry": (lambda: make_zip([("ok/a.jpg", JPEG),
                                           ("bomb.png", imagegen.png_pixel_bomb())]), 413, {}),
    "manifest not JSON": (lambda: make_zip([("manifest.json", b"{nope"), ("ok/a.jpg", JPEG)]),
                          400, {}),
    "manifest not a list": (lambda: make_zip([("manifest.json", b'{"file": "ok/a.jpg"}'),
                                              ("ok/a.jpg", JPEG)]), 400, {}),
    "manifest bad id": (lambda: make_zip([
        ("manifest.json", json.dumps([{"file": "ok/a.jpg", "id": -3}]).encode()),
        ("ok/a.jpg", JPEG)]), 400, {}),
    "manifest bad data": (lambda: make_zip([
        ("manifest.json", json.dumps([{"file": "ok/a.jpg", "data": [1]}]).encode()),
        ("ok/a.jpg", JPEG)]), 400, {}),
    "manifest bad time": (lambda: make_zip([
        ("manifest.json", json.dumps([{"file": "ok/a.jpg", "time": "soon"}]).encode()),
        ("ok/a.jpg", JPEG)]), 400, {}),
    "not a zip": (lambda: b"PK\x03\x04 this is not a zip", 400, {}),
    "corrupt entry (bad CRC)": (bad_crc_archive, 400, {}),
}


REFUSAL_WORDS = {"parent traversal": "Unsafe", "nested traversal": "Unsafe",
                 "absolute name": "Unsafe", "backslash": "Unsafe", "zip bomb by ratio": "expands",
                 "too many entries": "entries", "entry too large": "ok/big.png",
                 "total too large": "expands", "non-image entry": "notes.txt",
                 "fake image entry": "fake.jpg", "pixel bomb entry": "pixels",
                 "manifest not JSON": "manifest.json", "manifest not a list": "manifest.json",
                 "manifest bad id": "id", "manifest bad data": "data",
                 "manifest bad time": "time", "not a zip": "zip",
                 "corrupt entry (bad CRC)": "ok/b.jpg"}


def test_import_refuses_unsafe_archives_and_writes_nothing(
        make_records_client: Callable[..., TestClient], tmp_path: Path) -> None:
    """Every case on the same (empty) database and folders: each must leave them empty."""
    default = make_records_client()
    wrong: dict[str, object] = {}
    for case, (build, status, environ) in REFUSED_ARCHIVES.items():
        client = make_records_client(**environ) if environ else default

        response = post_import(client, build())

        is_json = response.headers.get("content-type", "").startswith("application/json")
        if response.status_code != status or not is_json or \
                REFUSAL_WORDS[case] not in response.json().get("message", ""):
            wrong[case] = (response.status_code, response.text[:120])
        if stored_files(client) or all_records(client) or escaped_files(tmp_path):
            wrong[case] = ("wrote", stored_files(client), escaped_files(tmp_path))
            break
    assert wrong == {}


def test_import_needs_write(client: TestClient) -> None:
    archive = make_zip([("ok/a.jpg", JPEG)])

    assert_error(post_import(client, archive, headers={}), 401)
    assert_error(post_import(client, archive, headers=READ), 403)
    assert_error(post_import(client, archive, data="[1]"), 400)
    assert_error(client.post("/import", headers=WRITE), 400)
    assert all_records(client) == []


# ---------------------------------------------------------------------------- access rules


def test_anonymous_sees_only_active_images(
        make_records_client: Callable[..., TestClient]) -> None:
    """With PUBLIC_LISTING, callers without a key list and read published records only."""
    client = make_records_client(PUBLIC_LISTING="true")
    active = created(client, path="pub/a.jpg")
    incoming = incoming_record(client)
    gone = created(client, path="pub/gone.jpg")
    client.delete(f"/images/{gone['id']}", headers=WRITE)

    anonymous = client.get("/images").json()
    assert [r["id"] for r in anonymous["items"]] == [active["id"]]
    assert anonymous["total"] == 1
    assert client.get("/images", params={"status": "active"}).json()["total"] == 1
    for status in ("incoming", "deleted", "active,incoming"):
        assert_error(client.get("/images", params={"status": status}), 401)
    assert_error(client.get(f"/images/{incoming['id']}"), 401)
    assert_error(client.get(f"/images/{incoming['id']}/image"), 401)
    assert client.get(f"/images/{active['id']}").status_code == 200

    read_default = client.get("/images", params={"sort": "id"}, headers=READ).json()
    assert [r["id"] for r in read_default["items"]] == sorted([active["id"], incoming["id"]])
    for key in (READ, WRITE, ADMIN, bearer(SECRET)):
        every = client.get("/images", params={"status": EVERY_STATUS}, headers=key).json()
        assert every["total"] == 3
    assert client.get(f"/images/{incoming['id']}", headers=READ).json()["status"] == "incoming"


def test_keys_are_checked_on_every_route(client: TestClient) -> None:
    record = created(client, path="k/a.jpg")
    unknown = bearer("unknown-key-0001")

    assert_error(client.get("/images", headers=unknown), 401, "Unknown")
    assert_error(client.get(f"/images/{record['id']}", headers=unknown), 401)
    assert_error(client.get("/images", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert_error(client.get("/images", headers={"Authorization": "Bearer"}), 401)
    assert client.get("/images", headers=READ).status_code == 200


WRITE_ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/images", {"files": {"image": ("a.jpg", JPEG, "image/jpeg")}}),
    ("PUT", "/images/w/a.jpg", {"content": JPEG, "headers": {"Content-Type": "image/jpeg"}}),
    ("PUT", "/images/{id}", {"json": {"x": 1}}),
    ("PATCH", "/images/{id}", {"json": {"x": 1}}),
    ("PATCH", "/images?all=true", {"json": {"x": 1}}),
    ("POST", "/import", {"files": {"archive": ("a.zip", make_zip([("w/b.jpg", JPEG)]),
                                              "application/zip")}}),
    ("DELETE", "/images/{id}", {}),
    ("DELETE", "/images?all=true", {}),
]


def test_write_routes_need_the_write_scope(client: TestClient) -> None:
    record = created(client, path="w/existing.jpg", data={"v": 1})
    wrong: dict[str, object] = {}
    for method, route, options in WRITE_ROUTES:
        url = route.replace("{id}", str(record["id"]))
        kwargs = dict(options)
        headers = kwargs.pop("headers", {})
        before = (stored_files(client), all_records(client))
        answers = [client.request(method, url, headers={**headers, **key}, **kwargs)
                   for key in ({}, READ, bearer("bad-key-00001"))]
        statuses = [a.status_code for a in answers]
        if statuses != [401, 403, 401] or "write" not in answers[1].json()["message"]:
            wrong[f"{method} {route}"] = statuses
        if (stored_files(client), all_records(client)) != before:
            wrong[f"{method} {route}"] = "changed something"

        allowed = client.request(method, url, headers={**headers, **WRITE}, **kwargs)
        if allowed.status_code not in (200, 201):
            wrong[f"{method} {route} with write"] = allowed.status_code
    assert wrong == {}


# ---------------------------------------------------------------------------- OpenAPI

DOCUMENTED = {
    ("/images", "get"): {"200", "400", "401"},
    ("/images", "post"): {"201", "400", "401", "403", "413"},
    ("/images", "patch"): {"200", "400", "401", "403"},
    ("/images", "delete"): {"200", "400", "401", "403"},
    ("/images/fields", "get"): {"200", "400", "401"},
    ("/images/fields/{name}", "get"): {"200", "400", "401"},
    ("/images/{record_id}", "get"): {"200", "400", "401", "404"},
    ("/images/{record_id}", "patch"): {"200", "400", "401", "403", "404"},
    ("/images/{record_id}", "delete"): {"200", "400", "401", "403", "404"},
    ("/images/{record_id}/image", "get"): {"200", "304", "400", "401", "404"},
    ("/images/{ref}", "put"): {"200", "201", "400", "401", "403", "404", "413"},
    ("/export", "get"): {"200", "400", "401"},
    ("/import", "post"): {"200", "400", "401", "403", "413"},
}


def test_openapi_lists_every_route_with_its_error_statuses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    for (path, method), statuses in DOCUMENTED.items():
        assert method in spec["paths"].get(path, {}), (path, method)
        responses = spec["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, method, sorted(responses))
        for status in statuses - {"200", "201", "304"}:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, status)
    assert "application/zip" in spec["paths"]["/export"]["get"]["responses"]["200"]["content"]
    upload = spec["paths"]["/images"]["post"]["requestBody"]["content"]
    assert "image" in upload["multipart/form-data"]["schema"]["properties"]
    assert {"application/json", "image/*"} <= set(
        spec["paths"]["/images/{ref}"]["put"]["requestBody"]["content"])
    assert "data.<key>" in spec["paths"]["/images"]["get"]["description"]


def test_openapi_documents_no_422(client: TestClient) -> None:
    """Validation errors are answered 400 {error, message}; the document must not promise
    FastAPI's default 422."""
    spec = client.get("/openapi.json").json()

    with_422 = sorted(f"{method.upper()} {path}" for path, method in DOCUMENTED
                      if "422" in spec["paths"][path][method]["responses"])
    assert with_422 == []
    assert client.get("/images/abc").status_code == 400
