"""The clients of the systems imagehost replaces, replayed over real HTTP against `imagehost
serve` on loopback, request by request as they send them (written from their public code and
documentation; reference/c2corg_v6_images.md section 10 and
reference/image_repository_and_storage_service.md parts A.5 and B):

- c2c_images's form of the c2corg routes: JSON bodies on /publish, /delete, /rotate, /recrop;
- the storage microservice's own test suite (test/images.test.ts), in its order, on a server
  with AUTH_REQUIRED=false, and an import of the microservice's export zip;
- the image repository's upload script: POST /images/<path> with a multipart `file`.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from tests import imagegen
from tests.conftest import SECRET
from tests.kit.serve import Launch, server_environ, serving

AXIOS = {"User-Agent": "axios/1.6.8", "Accept": "application/json, text/plain, */*"}
SUPERTEST = {"User-Agent": "node-superagent/3.8.3"}
PYTHON_REQUESTS = {"User-Agent": "python-requests/2.31.0", "Accept": "*/*"}


@pytest.fixture(scope="module")
def c2corg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("compat-c2corg")
    with serving(Launch(root, server_environ(root))) as [served]:
        yield served.url


@pytest.fixture(scope="module")
def open_records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server run as the microservice runs: no key needed for the records API."""
    root = tmp_path_factory.mktemp("compat-records")
    with serving(Launch(root, server_environ(root, AUTH_REQUIRED="false"))) as [served]:
        yield served.url


def post_json(url: str, body: dict) -> httpx.Response:
    """What axios sends for `axios.post(url, body)`: the JSON bytes, its Content-Type."""
    return httpx.post(url, content=json.dumps(body).encode(), timeout=30,
                      headers={**AXIOS, "Content-Type": "application/json"})


def upload(url: str, name: str = "photo.jpg") -> str:
    response = httpx.post(f"{url}/upload", timeout=30,
                          files={"file": (name, imagegen.photo_jpeg(400, 300), "image/jpeg")})
    assert response.status_code == 200, response.text
    return response.json()["filename"]


# ---------------------------------------------------------------------------- c2c_images


def test_c2c_images_keys_have_a_ten_digit_random_part(c2corg: str) -> None:
    key = upload(c2corg)

    assert re.fullmatch(r"\d{10}_\d{10}\.jpg", key), key
    assert re.fullmatch(r"^\d{10}_\d{10}(BI|MI|SI)?\.(jpg|png|gif|svg)$", key)


def test_c2c_images_publishes_and_deletes_with_json_bodies(c2corg: str) -> None:
    key = upload(c2corg)

    published = post_json(f"{c2corg}/publish", {"secret": SECRET, "filename": key})
    assert published.status_code == 200, published.text
    assert published.json() == {"success": True}
    assert httpx.get(f"{c2corg}/active/{key.replace('.jpg', 'MI.jpg')}").status_code == 200

    deleted = post_json(f"{c2corg}/delete", {"secret": SECRET, "filenames": [key]})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"success": True}
    assert httpx.get(f"{c2corg}/active/{key}").status_code == 404


def test_c2c_images_deletes_one_filename_given_as_a_string(c2corg: str) -> None:
    key = upload(c2corg)
    assert post_json(f"{c2corg}/publish", {"secret": SECRET, "filename": key}).status_code == 200

    deleted = post_json(f"{c2corg}/delete", {"secret": SECRET, "filenames": key})

    assert deleted.status_code == 200, deleted.text
    assert httpx.get(f"{c2corg}/active/{key}").status_code == 404


def test_c2c_images_rotates_and_recrops_with_json_bodies(c2corg: str) -> None:
    key = upload(c2corg)
    assert post_json(f"{c2corg}/publish", {"secret": SECRET, "filename": key}).status_code == 200

    rotated = post_json(f"{c2corg}/rotate", {"secret": SECRET, "filename": key, "rotation": -90})
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["filename"]
    assert rotated.json() == {"success": True, "filename": new_key}
    image = httpx.get(f"{c2corg}/active/{new_key}")
    assert imagegen_size(image.content) == (300, 400)
    assert httpx.get(f"{c2corg}/active/{key}").status_code == 404

    recropped = post_json(f"{c2corg}/recrop", {"secret": SECRET, "filename": new_key,
                                                "crop": "200x200+10+10"})
    assert recropped.status_code == 200, recropped.text
    assert recropped.json()["filename"] != new_key


@pytest.mark.parametrize(("body", "status"), [
    ({"filename": "1_2.jpg"}, 401), ({"secret": "wrong", "filename": "1_2.jpg"}, 403),
    ({"secret": SECRET}, 400), ({"secret": SECRET, "filename": ["a", {"b": 1}]}, 400)])
def test_c2c_images_refusals_are_the_same_in_json(c2corg: str, body: dict, status: int) -> None:
    response = post_json(f"{c2corg}/publish", body)

    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_a_json_body_that_is_not_json_is_400(c2corg: str) -> None:
    response = httpx.post(f"{c2corg}/publish", content=b'{"secret": ',
                          headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json()["message"].startswith("The body is not valid JSON (")


@pytest.mark.parametrize("key", ["1795228153_0371763697.svg", "1_2.svg"])
def test_rotating_an_svg_key_is_refused_before_the_store_is_read(c2corg: str, key: str) -> None:
    """Whether or not the key exists (these do not): the request itself is wrong."""
    response = post_json(f"{c2corg}/rotate", {"secret": SECRET, "filename": key})

    assert response.status_code == 400, response.text
    assert response.json()["message"] == "SVG images cannot be rotated."


def imagegen_size(data: bytes) -> tuple[int, int]:
    import pyvips

    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


# ---------------------------------------------------------------------------- the microservice


def test_the_storage_microservices_own_test_suite_passes(open_records: str) -> None:
    """test/images.test.ts, step by step, with supertest's requests. The one difference:
    "PATCH all" and "DELETE all" send all=true (an empty filter is refused, README)."""
    url = f"{open_records}/images"
    client = httpx.Client(timeout=30, headers=SUPERTEST)
    jpeg = imagegen.photo_jpeg(64, 48)

    # POST /images: plain fields, a custom file path, nested json, no image
    first = client.post(url, data={"key1": "value1", "key3": "value3", "commonKey": "c"},
                        files={"image": ("example.jpg", jpeg, "image/jpeg")})
    assert first.status_code in (200, 201), first.text
    assert first.json()["data"] == {"key1": "value1", "key3": "value3", "commonKey": "c"}
    first_id = first.json()["_id"]
    second = client.post(url, data={"file": "myFolder/myImage.jpg", "key2": "value2",
                                    "key3": "value3"},
                         files={"image": ("example.jpg", jpeg, "image/jpeg")})
    assert second.json()["file"] == "myFolder/myImage.jpg"
    nested = {"parentKey": {"nestedKey1": "nestedValue1", "nestedKey2": "nestedValue2"}}
    third = client.post(url, data={"json": json.dumps(nested)},
                        files={"image": ("other.jpg", jpeg, "image/jpeg")})
    assert third.json()["data"] == nested
    assert client.post(url, data={"key1": "value1"}).status_code != 200

    # GET /images: total, ids, plain keys, filter
    assert client.get(url).json()["total"] == 3
    assert client.get(url, params={"ids": first_id}).json()["total"] == 1
    assert client.get(url, params={"key3": "value3"}).json()["total"] == 2
    assert client.get(url, params={"key1": "value2"}).json()["total"] == 0
    assert client.get(url, params={"filter": '{"data.key2":{"$ne":null}}'}).json()["total"] == 1

    # single reads, the file, the fields
    assert client.get(f"{url}/{first_id}").json()["_id"] == first_id
    assert client.get(f"{url}/{first_id}/image").content == jpeg
    assert client.get(f"{url}/{first_id}/file").content == jpeg
    fields = client.get(f"{open_records}/fields").json()
    assert set(fields) == {"key1", "key2", "key3", "commonKey", "parentKey"}
    assert client.get(f"{open_records}/fields/key1").json() == ["value1"]

    # PATCH all, PATCH by filter (modifiedCount), PATCH by id twice (a merge)
    patched_all = client.patch(url, params={"all": "true"}, json={"commonKey": "everyone"})
    assert patched_all.json()["modifiedCount"] == 3
    by_filter = client.patch(url, params={"key1": "value1"}, json={"newKey": "newValue"})
    assert by_filter.json()["modifiedCount"] == 1
    client.patch(f"{url}/{first_id}", json={"key4": "value4"})
    edited = client.patch(f"{url}/{first_id}", json={"key4": "edited"}).json()
    assert edited["data"]["key4"] == "edited"
    assert edited["data"]["key1"] == "value1" and edited["data"]["commonKey"] == "everyone"
    unset = client.patch(f"{url}/{first_id}", json={"$unset": {"key4": ""}}).json()
    assert "key4" not in unset["data"] and "$unset" not in unset["data"]

    # GET /export, POST /import of the microservice's own export zip
    exported = client.get(f"{open_records}/export")
    assert exported.status_code == 200 and exported.content[:2] == b"PK"
    imported = client.post(f"{open_records}/import",
                           files={"archive": ("export.zip", microservice_export(jpeg),
                                              "application/zip")})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 1

    # DELETE by id, by filter (deletedCount), all
    assert client.delete(f"{url}/{first_id}").json()["_id"] == first_id
    assert client.delete(url, params={"key3": "value3"}).json()["deletedCount"] == 1
    assert client.delete(url, params={"all": "true"}).json()["deletedCount"] == 2
    assert client.get(url).json()["total"] == 0


def microservice_export(jpeg: bytes) -> bytes:
    """test/export.zip as the microservice makes it: the image, mongodb_data.json (ObjectId
    _id, ISO time, data, __v) and mongodb_data.xlsx."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("example.jpg", jpeg)
        archive.writestr("mongodb_data.json", json.dumps([{
            "_id": "64b8c3f0e1d2c3b4a5968778", "file": "example.jpg",
            "time": "2023-07-20T05:12:48.123Z", "data": {}, "__v": 0}]))
        archive.writestr("mongodb_data.xlsx", b"PK\x03\x04 a spreadsheet, ignored")
    return buffer.getvalue()


def test_an_import_of_the_microservices_export_keeps_file_time_and_data(
        open_records: str) -> None:
    jpeg = imagegen.photo_jpeg(32, 24)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("site/a.jpg", jpeg)
        archive.writestr("mongodb_data.json", json.dumps([{
            "_id": "64b8c3f0e1d2c3b4a5968779", "file": "site/a.jpg",
            "time": "2023-07-20T05:12:48.123Z", "data": {"plot": "p1"}, "__v": 0}]))
        archive.writestr("mongodb_data.xlsx", b"ignored")

    response = httpx.post(f"{open_records}/import", data={"json": '{"batch": 7}'},
                          files={"archive": ("export.zip", buffer.getvalue(),
                                             "application/x-zip-compressed")}, timeout=30)

    assert response.status_code == 200, response.text
    record = httpx.get(f"{open_records}/images", params={"file": "site/a.jpg"}).json()["items"][0]
    assert record["time"] == "2023-07-20T05:12:48.123000+00:00"
    assert record["data"] == {"plot": "p1", "batch": 7}


# ---------------------------------------------------------------------------- image repository


def test_the_image_repositorys_upload_script_posts_to_a_path(c2corg: str) -> None:
    """upload.py: `requests.post(f"{base}/images/{path}", files={"file": open(name, "rb")})`,
    with no key: it needs one here (a write), given as a Bearer header."""
    jpeg = imagegen.photo_jpeg(120, 90)
    headers = {**PYTHON_REQUESTS, "Authorization": f"Bearer {SECRET}"}

    into_folder = httpx.post(f"{c2corg}/images/survey/2024/", headers=headers,
                             files={"file": ("cat.jpg", jpeg, "image/jpeg")})
    named = httpx.post(f"{c2corg}/images/survey/2024/dog", headers=headers,
                       files={"file": ("DSC_0001.jpg", jpeg, "image/jpeg")})
    again = httpx.post(f"{c2corg}/images/survey/2024/dog.jpg", headers=headers,
                       files={"file": ("DSC_0001.jpg", jpeg, "image/jpeg")})

    assert into_folder.status_code == 201, into_folder.text
    assert into_folder.json()["file"] == "survey/2024/cat.jpg"
    assert named.json()["file"] == "survey/2024/dog.jpg"
    assert (again.status_code, again.json()["id"]) == (200, named.json()["id"])
    record_id = named.json()["id"]
    assert httpx.get(f"{c2corg}/images/{record_id}/image").content == jpeg
    assert httpx.get(f"{c2corg}/images/{record_id}/image",
                     params={"xsize": "60"}).status_code == 200


def test_an_upload_to_a_path_without_a_key_is_refused_and_stores_nothing(c2corg: str) -> None:
    response = httpx.post(f"{c2corg}/images/nokey/x.jpg",
                          files={"file": ("x.jpg", imagegen.photo_jpeg(50, 40), "image/jpeg")})

    assert response.status_code == 401
    listed = httpx.get(f"{c2corg}/images", params={"file": "nokey/"},
                       headers={"Authorization": f"Bearer {SECRET}"}).json()
    assert listed["total"] == 0
