"""Upload bodies are read in one pass into memory (web/upload_form.py): the image arrives whole,
and a body that is not a sane multipart form is a 400 that writes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests import imagegen
from tests.conftest import SECRET, app_context, files_under

ADMIN = {"Authorization": f"Bearer {SECRET}"}
BOUNDARY = "imagehost-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def part(name: str, content: bytes, filename: str | None = None,
         headers: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{headers}\r\n"
            .encode() + content + b"\r\n")


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def nothing_stored(client: TestClient) -> bool:
    ctx = app_context(client)
    return (files_under(ctx.settings.incoming_folder) == []
            and files_under(ctx.settings.active_folder) == []
            and ctx.records.count_by_status() == {})


def test_the_image_arrives_byte_for_byte(client: TestClient) -> None:
    data = imagegen.photo_png(640, 480)
    body = form(part("note", b"ignored"), part("file", data, "p.png"))
    response = client.post("/upload", content=body, headers=MULTIPART)
    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    stored = app_context(client).settings.incoming_folder / key
    assert stored.read_bytes() == data


def test_a_records_upload_reads_its_fields_and_image(client: TestClient) -> None:
    data = imagegen.photo_jpeg(320, 240)
    body = form(part("path", b"forms/a.jpg"), part("data", b'{"site": 4}'),
                part("image", data, "a.jpg"))
    response = client.post("/images", content=body, headers={**MULTIPART, **ADMIN})
    assert response.status_code == 201, response.text
    assert (response.json()["file"], response.json()["data"]) == ("forms/a.jpg", {"site": 4})


@pytest.mark.parametrize(("body", "headers", "says"), [
    pytest.param(b"file=x", {"Content-Type": "application/x-www-form-urlencoded"},
                 "multipart", id="not-multipart"),
    pytest.param(form(part("file", b"x", "a.jpg")), {"Content-Type": "multipart/form-data"},
                 "boundary", id="no-boundary"),
    pytest.param(b"--" + BOUNDARY.encode() + b"\r\nno header end", MULTIPART, "",
                 id="truncated"),
    pytest.param(form(part("file", b"x", "a.jpg"), part("other", b"y", "b.jpg")), MULTIPART,
                 "Too many files", id="two-files"),
    pytest.param(form(part("big", b"x" * (1024 * 1024 + 1)), part("file", b"x", "a.jpg")),
                 MULTIPART, "over 1024 KB", id="huge-field"),
    pytest.param(form(part("file", b"x", "a.jpg", headers="X-Pad: " + "p" * 20000 + "\r\n")),
                 MULTIPART, "header", id="huge-part-header"),
    pytest.param(form(b"--" + BOUNDARY.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n"),
                 MULTIPART, "name", id="part-without-a-name"),
])
def test_a_body_that_is_not_a_sane_form_is_a_400_and_stores_nothing(
        client: TestClient, body: bytes, headers: dict[str, str], says: str) -> None:
    response = client.post("/upload", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"
    assert says in response.json()["message"]
    assert nothing_stored(client)
