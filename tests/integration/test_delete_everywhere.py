"""One delete path: after c2corg's /delete, /rotate, a records DELETE (one and bulk) and expiry,
no derived object of the image is left in any tier (memory, disk, cache store) on the local
store, on S3 and on Swift, and its temporary URLs stop serving."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from imagehost.service.context import ServiceContext
from imagehost.service.expiry import expire_incoming
from tests import imagegen
from tests.conftest import SECRET, app_context

ADMIN = {"Authorization": f"Bearer {SECRET}"}
DERIVATIONS = ({"w": "64"}, {"w": "48", "format": "webp"})
BACKENDS = ("local", "s3", "swift")
WAYS = ("c2corg-delete", "rotate", "records-delete", "bulk-delete", "expire")


@dataclass(frozen=True)
class Image:
    record_id: int
    key: str
    temporary_url: str


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return {}
    return request.getfixturevalue(f"{request.param}_environ")


def fetch(client: TestClient, url: str) -> int:
    """The status of a temporary URL: /files URLs through the app, others over HTTP."""
    if url.startswith("http://testserver/files/"):   # the request's own host
        return client.get(url.removeprefix("http://testserver")).status_code
    return httpx.get(url, timeout=10).status_code


def derived_everywhere(ctx: ServiceContext, record_id: int) -> dict[str, list]:
    prefix = f"derived/{record_id}/"
    memory, disk = ctx.cache.memory, ctx.cache.disk
    assert memory is not None and disk is not None
    return {
        "memory": memory.keys(prefix),
        "disk": disk.keys(prefix),
        "store": [info.key for info in ctx.cache.store.list(prefix)],
    }


def published_image(client: TestClient, incoming: bool = False) -> tuple[int, str]:
    """A c2corg upload (published unless `incoming`): its record id and key."""
    response = client.post("/upload", files={"file": ("p.jpg", imagegen.photo_jpeg(320, 240))})
    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    if not incoming:
        published = client.post("/publish", data={"secret": SECRET, "filename": key})
        assert published.status_code == 200, published.text
    listed = client.get("/images", params={"file": key}, headers=ADMIN)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"][0]["id"], key


def render_all(client: TestClient, record_id: int) -> str:
    """Every tier filled: two derived images and a temporary URL (which puts the derived
    object in the cache store); returns the URL."""
    for params in DERIVATIONS:
        answer = client.get(f"/images/{record_id}/image", params=params, headers=ADMIN)
        assert answer.status_code == 200, answer.text
    answer = client.get(f"/images/{record_id}/image", params={"w": "64", "url": "true"},
                        headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


def delete(client: TestClient, way: str, image: Image) -> None:
    if way == "c2corg-delete":
        answer = client.post("/delete", data={"secret": SECRET, "filenames": [image.key]})
    elif way == "rotate":
        answer = client.post("/rotate", data={"secret": SECRET, "filename": image.key,
                                               "rotation": "90"})
    elif way == "records-delete":
        answer = client.delete(f"/images/{image.record_id}", headers=ADMIN)
    elif way == "bulk-delete":
        answer = client.delete("/images", params={"ids": str(image.record_id)}, headers=ADMIN)
    else:
        report = expire_incoming(app_context(client), older_than=60,
                                 now=datetime.now(UTC) + timedelta(hours=1))
        assert image.key in report.objects
        return
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("way", WAYS)
def test_deleting_an_image_leaves_no_derived_object_in_any_tier(
        make_client: Callable[..., TestClient], tmp_path: Path, backend: dict[str, str],
        way: str) -> None:
    client = make_client(**backend)
    ctx = app_context(client)
    record_id, key = published_image(client, incoming=way == "expire")
    other_id, _ = published_image(client, incoming=way == "expire")
    image = Image(record_id, key, render_all(client, record_id))
    other_url = render_all(client, other_id)
    before = derived_everywhere(ctx, record_id)
    assert all(before.values()), before
    assert fetch(client, image.temporary_url) == 200

    delete(client, way, image)

    assert derived_everywhere(ctx, record_id) == {"memory": [], "disk": [], "store": []}
    assert fetch(client, image.temporary_url) == 404
    gone = client.get(f"/images/{record_id}/image", params={"w": "64"}, headers=ADMIN)
    assert gone.status_code == 404, gone.text
    if way != "expire":                      # expiry removes every old upload, not just one
        kept: dict[str, Any] = derived_everywhere(ctx, other_id)
        assert all(kept.values()), kept
        assert fetch(client, other_url) == 200
