"""The one read policy, route by route (README, Access): without a key, anyone may fetch a
published image, its variants and derived images, its metadata and /active/<key>; listings,
archive=zip, /export, records and the fields routes need the read scope unless PUBLIC_LISTING
is on (and then show published images only); anything unpublished needs the read scope;
AUTH_REQUIRED=false gives callers without a key read and write."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from imagehost.config import load_settings
from imagehost.web.app import create_app
from tests import imagegen
from tests.kit.environ import SECRET, local_settings

READ_KEY, WRITE_KEY = "policy-reader-01", "policy-writer-01"
KEYS = {"anonymous": {}, "read key": {"Authorization": f"Bearer {READ_KEY}"},
        "write key": {"Authorization": f"Bearer {WRITE_KEY}"}}
JPEG = imagegen.photo_jpeg(80, 60)
CONFIGS = {"default": {}, "PUBLIC_LISTING=true": {"PUBLIC_LISTING": "true"},
           "AUTH_REQUIRED=false": {"AUTH_REQUIRED": "false"}}


@dataclass
class Service:
    client: TestClient
    published: dict[str, str]
    """id and key of an active image."""
    unpublished: dict[str, str]
    """id and key of an incoming image (uploaded through /upload)."""


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    """One service per configuration, each holding one published and one unpublished image."""
    made: dict[str, Service] = {}
    clients: list[TestClient] = []
    for name, extra in CONFIGS.items():
        root = tmp_path_factory.mktemp("read-policy")
        settings = load_settings(local_settings(root) | {
            "API_SECRET_KEY": SECRET, "API_KEYS": f"{READ_KEY}:read;{WRITE_KEY}:write",
            **extra})
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        posted = client.post("/images", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                             data={"path": "policy/published.jpg",
                                   "data": json.dumps({"who": "published"})},
                             headers=KEYS["write key"])
        assert posted.status_code == 201, posted.text
        uploaded = client.post("/upload", files={"file": ("b.jpg", JPEG, "image/jpeg")})
        assert uploaded.status_code == 200, uploaded.text
        key = uploaded.json()["filename"]
        [incoming] = client.get("/images", params={"status": "incoming"},
                                headers=KEYS["read key"]).json()["items"]
        assert incoming["file"] == key
        client.patch(f"/images/{incoming['id']}", json={"who": "unpublished"},
                     headers=KEYS["write key"])
        made[name] = Service(client, {"id": str(posted.json()["id"]),
                                      "key": posted.json()["file"]},
                             {"id": str(incoming["id"]), "key": key})
    yield made
    for client in clients:
        client.__exit__(None, None, None)


# (route, its query for a published image, for an unpublished one); {id} and {key} are the
# image's. Listing routes reach unpublished images through status=incoming.
IMAGE_ROUTES = [
    ("original", "/images/{id}/image", ""),
    ("original (alias)", "/images/{id}/file", ""),
    ("derived image", "/images/{id}/image", "w=40&format=png"),
    ("variant", "/images/{id}/image", "variant=MI"),
    ("metadata", "/images/{id}/image", "meta=true"),
    ("temporary URL", "/images/{id}/image", "url=true&w=30"),
]
RECORD_ROUTES = [
    ("record", "/images/{id}", "", ""),
    ("listing", "/images", "", "status=incoming"),
    ("archive=zip", "/images", "archive=zip", "archive=zip&status=incoming"),
    ("export", "/export", "", "status=incoming"),
    ("fields", "/images/fields", "", "status=incoming"),
    ("field values", "/images/fields/who", "", "status=incoming"),
    ("fields (alias)", "/fields", "", "status=incoming"),
    ("field values (alias)", "/fields/who", "", "status=incoming"),
]

# Who may read, by configuration and key: images (published, unpublished), records
# (published, unpublished). 401: no key where one is needed.
EXPECTED = {
    ("default", "anonymous"): ((200, 401), (401, 401)),
    ("default", "read key"): ((200, 200), (200, 200)),
    ("default", "write key"): ((200, 200), (200, 200)),
    ("PUBLIC_LISTING=true", "anonymous"): ((200, 401), (200, 401)),
    ("PUBLIC_LISTING=true", "read key"): ((200, 200), (200, 200)),
    ("AUTH_REQUIRED=false", "anonymous"): ((200, 200), (200, 200)),
    ("AUTH_REQUIRED=false", "read key"): ((200, 200), (200, 200)),
}
CASES = [(config, who, published) for config, who in EXPECTED for published in (True, False)]


def ids(case: tuple[str, str, bool]) -> str:
    config, who, published = case
    return f"{config}-{who}-{'published' if published else 'unpublished'}"


def url(template: str, image: dict[str, str], query: str) -> str:
    path = template.format(**image)
    return f"{path}?{query}" if query else path


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize(("name", "template", "query"), IMAGE_ROUTES,
                         ids=[r[0] for r in IMAGE_ROUTES])
def test_image_bytes_are_public_once_published(services: dict[str, Service],
                                               case: tuple[str, str, bool], name: str,
                                               template: str, query: str) -> None:
    config, who, published = case
    service = services[config]
    image = service.published if published else service.unpublished
    expected = EXPECTED[config, who][0][0 if published else 1]

    response = service.client.get(url(template, image, query), headers=KEYS[who])

    assert response.status_code == expected, (name, response.text[:200])
    if expected == 401:
        assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize(("name", "template", "published_query", "unpublished_query"),
                         RECORD_ROUTES, ids=[r[0] for r in RECORD_ROUTES])
def test_records_need_the_read_scope_unless_public_listing(
        services: dict[str, Service], case: tuple[str, str, bool], name: str, template: str,
        published_query: str, unpublished_query: str) -> None:
    config, who, published = case
    service = services[config]
    image = service.published if published else service.unpublished
    expected = EXPECTED[config, who][1][0 if published else 1]

    response = service.client.get(
        url(template, image, published_query if published else unpublished_query),
        headers=KEYS[who])

    assert response.status_code == expected, (name, response.text[:200])
    if expected == 401:
        assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("who", KEYS)
def test_active_objects_are_public_and_only_published_ones_are_there(
        services: dict[str, Service], config: str, who: str) -> None:
    service = services[config]

    assert service.client.get(f"/active/{service.published['key']}",
                              headers=KEYS[who]).content == JPEG
    assert service.client.get(f"/active/{service.unpublished['key']}",
                              headers=KEYS[who]).status_code == 404


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sorted(archive.namelist())


def test_public_listing_shows_published_images_only(services: dict[str, Service]) -> None:
    service = services["PUBLIC_LISTING=true"]
    client, published = service.client, service.published

    listed = client.get("/images").json()
    assert [item["file"] for item in listed["items"]] == [published["key"]]
    assert zip_names(client.get("/images", params={"archive": "zip"}).content) == [
        published["key"]]
    assert zip_names(client.get("/export").content) == [
        "manifest.csv", "manifest.json", published["key"]]
    assert client.get("/images/fields/who").json() == ["published"]
    assert client.get("/fields/who", headers=KEYS["read key"]).json() == [
        "published", "unpublished"]


def test_without_public_listing_nothing_about_records_leaks(
        services: dict[str, Service]) -> None:
    """A 401 names the scope, and says nothing about what exists."""
    client = services["default"].client

    for path in ("/images", f"/images/{services['default'].published['id']}", "/images/999",
                 "/export", "/fields"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert "'read' scope" in response.json()["message"]
