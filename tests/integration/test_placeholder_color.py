"""Each image's dominant colour is kept in its record at upload (from the upload's one decode),
shown in the records API as `color`, filled in for older images by `resize --ladder`, and kept
when a row is rewritten without a decode."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pyvips
from fastapi.testclient import TestClient

from imagehost.catalog.models import ItemState
from imagehost.config import Settings
from imagehost.jobs.resize import ResizeJob
from imagehost.runtime import open_context
from imagehost.service.records import store_record
from tests import imagegen
from tests.conftest import SECRET, app_context

ADMIN = {"Authorization": f"Bearer {SECRET}"}


def solid(fmt: str, rgb: tuple[int, int, int], *, alpha: int | None = None,
          size: tuple[int, int] = (640, 480)) -> bytes:
    image = pyvips.Image.black(*size).new_from_image(list(rgb)).cast("uchar")
    if alpha is not None:
        image = image.bandjoin(alpha).cast("uchar")
    return image.write_to_buffer(f".{fmt}")


def channels(color: str) -> tuple[int, int, int]:
    assert len(color) == 7 and color.startswith("#"), color
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def close_to(color: str, rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(channels(color), rgb, strict=True))


def post_record(client: TestClient, data: bytes, path: str) -> dict:
    response = client.post("/images", files={"image": (path, data, "application/octet-stream")},
                           data={"path": path}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(("fmt", "rgb", "alpha", "expected"), [
    ("jpg", (200, 30, 40), None, (200, 30, 40)),
    ("png", (20, 90, 200), None, (20, 90, 200)),
    ("webp", (30, 160, 60), None, (30, 160, 60)),
    ("png", (0, 0, 0), 0, (255, 255, 255)),   # transparent: as shown on white
])
def test_an_upload_records_its_dominant_colour(client: TestClient, fmt: str,
                                               rgb: tuple[int, int, int], alpha: int | None,
                                               expected: tuple[int, int, int]) -> None:
    record = post_record(client, solid(fmt, rgb, alpha=alpha), f"solid/one.{fmt}")
    assert close_to(record["color"], expected), record["color"]
    listed = client.get("/images", headers=ADMIN).json()["items"]
    assert [item["color"] for item in listed] == [record["color"]]
    again = client.get(f"/images/{record['id']}", headers=ADMIN).json()
    assert again["color"] == record["color"]


def test_the_colour_is_the_most_common_one_not_the_mean(client: TestClient) -> None:
    left = pyvips.Image.black(480, 480).new_from_image([250, 250, 0]).cast("uchar")
    right = pyvips.Image.black(160, 480).new_from_image([0, 0, 250]).cast("uchar")
    data = left.join(right, "horizontal").write_to_buffer(".png")
    assert close_to(post_record(client, data, "two/colours.png")["color"], (250, 250, 0))


def test_c2corg_uploads_and_svgs_get_a_colour_too(client: TestClient) -> None:
    response = client.post("/upload", files={"file": ("a.jpg", solid("jpg", (10, 120, 220)),
                                                      "image/jpeg")})
    assert response.status_code == 200, response.text
    record = app_context(client).records.by_file(response.json()["filename"])
    assert close_to(record.color, (10, 120, 220))
    svg = post_record(client, imagegen.svg(400, 300), "drawings/plan.svg")
    assert svg["color"] is not None and channels(svg["color"])


def test_resize_ladder_fills_in_the_colour_of_older_images(
        make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    with open_context(settings) as ctx:
        key = store_record(ctx, solid("jpg", (90, 60, 30), size=(2400, 1600)),
                           path="old/brown.jpg").record.key
        record = ctx.records.by_file(key)
        record.color = None   # as stored before the colour was kept
        ctx.records.save(record)
        job = ResizeJob()
        assert job.process(key, {"ladder": True}, ctx) is ItemState.DONE
        assert close_to(ctx.records.by_file(key).color, (90, 60, 30))
        assert job.process(key, {"ladder": True}, ctx) is ItemState.SKIPPED


def test_rewriting_a_row_without_a_decode_keeps_the_colour(client: TestClient) -> None:
    record = post_record(client, solid("jpg", (200, 30, 40)), "kept/red.jpg")
    patched = client.patch(f"/images/{record['id']}", json={"data": {"x": 1}}, headers=ADMIN)
    assert patched.status_code == 200, patched.text
    assert patched.json()["color"] == record["color"]
    published = app_context(client).records.by_file("kept/red.jpg")
    assert published.color == record["color"]
