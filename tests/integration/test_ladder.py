"""The ladder on real folders and a real SQLite catalog: every upload route stores it next to
the original and records it, publish moves it, every delete removes it, a replacement drops
the steps the new image does not have, LADDER_SIDES="" turns it off, and `resize --ladder`
builds it for images stored before (without touching their variants)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pyvips
from fastapi.testclient import TestClient

from imagehost.catalog.models import ImageStatus, ItemState
from imagehost.config import Settings
from imagehost.jobs.resize import ResizeJob
from imagehost.runtime import open_context
from imagehost.service.derived import derive_image, parse_request_derivation, resolve_for
from imagehost.service.expiry import expire_incoming
from imagehost.service.records import store_record
from tests import imagegen
from tests.conftest import SECRET, app_context, files_under
from tests.kit.cli import describe, run_cli
from tests.kit.environ import local_environ

ADMIN = {"Authorization": f"Bearer {SECRET}"}
PHOTO = imagegen.photo_jpeg(2400, 1600)
"""Large enough for both default steps: 1024x683 and 256x171."""
SMALLER = imagegen.photo_jpeg(1200, 800)
"""Only the 256 px step (960k pixels are less than twice 1024x683)."""
STEP_SIZES = {"1024": (1024, 683), "256": (256, 171)}


def ladder_of(key: str, *sides: str) -> list[str]:
    return [f"{key}.ladder-{side}" for side in sides]


def size_of(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def incoming_root(client: TestClient) -> Path:
    return app_context(client).settings.incoming_folder


def active_root(client: TestClient) -> Path:
    return app_context(client).settings.active_folder


def c2corg_upload(client: TestClient, data: bytes) -> str:
    response = client.post("/upload", files={"file": ("photo.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    return response.json()["filename"]


def records_post(client: TestClient, data: bytes, path: str) -> str:
    response = client.post("/images", files={"image": ("p.jpg", data, "image/jpeg")},
                           data={"path": path}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()["file"]


def records_put(client: TestClient, data: bytes, path: str) -> str:
    response = client.put(f"/images/{path}", content=data,
                          headers={**ADMIN, "Content-Type": "image/jpeg"})
    assert response.status_code in (200, 201), response.text
    return response.json()["file"]


def records_post_to_path(client: TestClient, data: bytes, path: str) -> str:
    response = client.post(f"/images/{path}", files={"image": ("p.jpg", data, "image/jpeg")},
                           headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response.json()["file"]


def import_zip(client: TestClient, data: bytes, path: str) -> str:
    """An archive as /export writes it: the image at its path, and the manifest."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(path, data)
        archive.writestr("manifest.json", json.dumps([{"file": path, "data": {"x": 1}}]))
    response = client.post("/import", files={"archive": ("export.zip", buffer.getvalue(),
                                                         "application/zip")}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1, response.text
    return path


ROUTES: dict[str, tuple[Callable[[TestClient, bytes, str], str], str]] = {
    "c2corg /upload": (lambda c, d, _: c2corg_upload(c, d), "incoming"),
    "POST /images": (records_post, "active"),
    "PUT /images/<path>": (records_put, "active"),
    "POST /images/<path>": (records_post_to_path, "active"),
    "POST /import": (import_zip, "active"),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_upload_route_stores_and_records_the_ladder_next_to_the_original(
        client: TestClient, route: str) -> None:
    send, status = ROUTES[route]
    key = send(client, PHOTO, "trips/day1/photo.jpg")
    root = incoming_root(client) if status == "incoming" else active_root(client)
    steps = ladder_of(key, "1024", "256")
    stored = files_under(root)
    assert set(steps) <= set(stored), stored
    record = app_context(client).records.by_file(key)
    assert record is not None and record.status == status
    assert record.ladder == steps
    assert steps[0] not in record.variants
    for step, side in zip(steps, ("1024", "256"), strict=True):
        data = (root / step).read_bytes()
        assert data[:3] == b"\xff\xd8\xff" and size_of(data) == STEP_SIZES[side]


def test_a_miss_renders_from_the_step_and_a_hit_never_reads_it(client: TestClient) -> None:
    key = records_post(client, PHOTO, "trips/miss.jpg")
    record_id = app_context(client).records.by_file(key).id
    response = client.get(f"/images/{record_id}/image", params={"w": 400}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert size_of(response.content) == (400, 267)
    ctx = app_context(client)
    record = ctx.records.by_file(key)
    derivation = resolve_for(ctx, parse_request_derivation(ctx, [("w", "410")]), record, "")
    assert derive_image(ctx, record, derivation).source == f"rendered from {key}.ladder-1024"


def test_publish_moves_the_ladder_to_active(client: TestClient) -> None:
    key = c2corg_upload(client, PHOTO)
    response = client.post("/publish", data={"secret": SECRET, "filename": key})
    assert response.status_code == 200, response.text
    assert files_under(incoming_root(client)) == []
    assert set(ladder_of(key, "1024", "256")) <= set(files_under(active_root(client)))


def test_publish_with_a_crop_keeps_the_ladder_of_the_uncropped_original(
        client: TestClient) -> None:
    key = c2corg_upload(client, PHOTO)
    step = (incoming_root(client) / f"{key}.ladder-1024").read_bytes()
    response = client.post("/publish", data={"secret": SECRET, "filename": key,
                                             "crop": "800x600+0+0"})
    assert response.status_code == 200, response.text
    assert (active_root(client) / f"{key}.ladder-1024").read_bytes() == step


def test_c2corg_delete_removes_the_ladder(client: TestClient) -> None:
    key = c2corg_upload(client, PHOTO)
    client.post("/publish", data={"secret": SECRET, "filename": key})
    response = client.post("/delete", data={"secret": SECRET, "filenames": [key]})
    assert response.status_code == 200, response.text
    assert files_under(active_root(client)) == []


def test_records_delete_removes_the_ladder(client: TestClient) -> None:
    key = records_post(client, PHOTO, "trips/gone.jpg")
    record_id = app_context(client).records.by_file(key).id
    response = client.delete(f"/images/{record_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert files_under(active_root(client)) == []


def test_bulk_delete_removes_every_ladder(client: TestClient) -> None:
    for name in ("a", "b"):
        records_post(client, PHOTO, f"bulk/{name}.jpg")
    response = client.delete("/images", params={"file": "bulk/"}, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert files_under(active_root(client)) == []


def test_expiry_removes_the_ladder_of_an_unpublished_upload(client: TestClient) -> None:
    c2corg_upload(client, PHOTO)
    report = expire_incoming(app_context(client), older_than=3600,
                             now=datetime.now(UTC) + timedelta(hours=2))
    assert report.records == 1
    assert files_under(incoming_root(client)) == []


def test_a_smaller_replacement_drops_the_steps_it_does_not_have(client: TestClient) -> None:
    key = records_put(client, PHOTO, "trips/replaced.jpg")
    records_put(client, SMALLER, key)
    stored = files_under(active_root(client))
    assert f"{key}.ladder-1024" not in stored
    assert f"{key}.ladder-256" in stored
    assert app_context(client).records.by_file(key).ladder == ladder_of(key, "256")


def test_an_empty_ladder_sides_setting_turns_the_ladder_off(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(LADDER_SIDES="")
    key = c2corg_upload(client, PHOTO)
    assert not [name for name in files_under(incoming_root(client)) if ".ladder-" in name]
    assert app_context(client).records.by_file(key).ladder == []


def _active_files(settings: Settings) -> dict[str, bytes]:
    return {name: (settings.active_folder / name).read_bytes()
            for name in files_under(settings.active_folder)}


def test_resize_ladder_builds_the_ladder_of_older_images_and_keeps_their_variants(
        make_settings: Callable[..., Settings]) -> None:
    without = make_settings(LADDER_SIDES="")
    with open_context(without) as ctx:
        key = store_record(ctx, PHOTO, path="old/photo.jpg").record.key
    before = _active_files(without)
    job = ResizeJob()
    with open_context(make_settings()) as ctx:
        assert job.process(key, {"ladder": True}, ctx) is ItemState.DONE
        assert ctx.records.by_file(key).ladder == ladder_of(key, "1024", "256")
        assert job.process(key, {"ladder": True}, ctx) is ItemState.SKIPPED
    after = _active_files(without)
    assert {name: after[name] for name in before} == before   # original and variants as they were
    assert sorted(set(after) - set(before)) == sorted(ladder_of(key, "1024", "256"))
    with open_context(make_settings(LADDER_SIDES="512")) as ctx:
        assert job.process(key, {"ladder": True}, ctx) is ItemState.DONE
        assert ctx.records.by_file(key).ladder == ladder_of(key, "512")
    assert sorted(set(_active_files(without)) - set(before)) == ladder_of(key, "512")
    assert size_of((without.active_folder / f"{key}.ladder-512").read_bytes()) == (512, 341)


def test_resize_ladder_on_the_command_line(tmp_path: Path,
                                           make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(LADDER_SIDES="")
    with open_context(settings) as ctx:
        stored = store_record(ctx, PHOTO, path="cli/photo.jpg", status=ImageStatus.ACTIVE)
    environ = local_environ(tmp_path)
    result = run_cli(["resize", "--ladder"], environ, tmp_path)
    assert result.returncode == 0, describe(result)
    key = stored.record.key
    assert set(ladder_of(key, "1024", "256")) <= set(files_under(settings.active_folder))
    refused = run_cli(["resize", "--ladder", "--only", "BI"], environ, tmp_path)
    assert refused.returncode == 2 and "--ladder" in refused.stderr, describe(refused)

