"""End to end over real HTTP on loopback: `imagehost serve` in a subprocess, replaying exactly
what the real c2corg clients send (reference section 8): the browser's preflight and multipart
upload (c2c_ui / v6_ui), then v6_api's form-urlencoded publish and delete. Also the CLI's
`config` output and its refusal of an invalid STORAGE_BACKEND."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pyvips
import yaml

from tests import imagegen
from tests.conftest import SECRET
from tests.kit.serve import Launch, free_port, imagehost_command, server_environ, serving

BROWSER_ORIGIN = "https://www.camptocamp.org"
JWT_HEADER = 'JWT token="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"'


@dataclass(frozen=True)
class Server:
    url: str
    root: Path
    log: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def active(self) -> Path:
        return self.root / "active"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("e2e-server")
    with serving(Launch(root, server_environ(root))) as [served]:
        yield Server(served.url, root, served.log)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def browser_upload(http: httpx.Client, server: Server, data: bytes, name: str) -> str:
    """c2c_ui: the preflight, then `formData.append('file', file)` with the JWT header."""
    preflight = http.options(f"{server.url}/upload", headers={
        "Origin": BROWSER_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    })
    assert preflight.status_code == 200
    response = http.post(f"{server.url}/upload", files={"file": (name, data, "image/jpeg")},
                         headers={"Authorization": JWT_HEADER, "Origin": BROWSER_ORIGIN})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()["filename"]


def v6_api_publish(http: httpx.Client, server: Server, key: str) -> httpx.Response:
    """v6_api: `requests.post(url, data)`, form-urlencoded, no crop; only the status matters."""
    return http.post(f"{server.url}/publish", data={"secret": SECRET, "filename": key})


def variant_names(key: str) -> list[str]:
    base, ext = key.rsplit(".", 1)
    ext = "jpg" if ext == "svg" else ext
    return [f"{base}{suffix}.{ext}" for suffix in ("BI", "MI", "SI")]


def stored(root: Path, key: str) -> list[str]:
    return sorted(name for name in [key, *variant_names(key)] if (root / name).is_file())


# ---------------------------------------------------------------------------- replays


def test_browser_preflight_allows_the_jwt_authorization_header(server: Server,
                                                               http: httpx.Client) -> None:
    response = http.options(f"{server.url}/upload", headers={
        "Origin": BROWSER_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    })

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    allowed = {h.strip().lower()
               for h in response.headers["access-control-allow-headers"].split(",")}
    assert "authorization" in allowed


def test_browser_upload_stores_the_image_in_incoming(server: Server,
                                                     http: httpx.Client) -> None:
    data = imagegen.photo_jpeg(400, 300)

    key = browser_upload(http, server, data, "IMG_0001.JPG")

    assert key.endswith(".jpg")
    assert stored(server.incoming, key) == sorted([key, *variant_names(key)])
    assert (server.incoming / key).read_bytes() == data
    assert stored(server.active, key) == []


def test_v6_api_publish_then_the_files_are_served_from_active(server: Server,
                                                              http: httpx.Client) -> None:
    key = browser_upload(http, server, imagegen.jpeg_with_exif(300, 200, orientation=6),
                         "rotated.jpg")

    response = v6_api_publish(http, server, key)

    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert response.status_code == 200
    assert stored(server.active, key) == sorted([key, *variant_names(key)])
    assert stored(server.incoming, key) == []
    original = http.get(f"{server.url}/active/{key}")
    assert original.status_code == 200
    assert original.content == (server.active / key).read_bytes()
    assert original.headers["content-type"] == "image/jpeg"
    image = pyvips.Image.new_from_buffer(original.content, "")
    assert (image.width, image.height) == (200, 300)  # AUTO_ORIENT_ORIGINAL=1
    base = key.removesuffix(".jpg")
    small = http.get(f"{server.url}/active/{base}SI.jpg")
    assert small.status_code == 200
    thumbnail = pyvips.Image.new_from_buffer(small.content, "")
    assert (thumbnail.width, thumbnail.height) == (200, 200)
    assert not imagegen.has_exif_gps(small.content)


def test_v6_api_publish_is_idempotent(server: Server, http: httpx.Client) -> None:
    key = browser_upload(http, server, imagegen.photo_png(200, 150), "drawing.png")

    statuses = [v6_api_publish(http, server, key).status_code for _ in range(2)]

    assert statuses == [200, 200]
    assert stored(server.active, key) == sorted([key, *variant_names(key)])


def test_v6_api_delete_removes_both_published_images(server: Server,
                                                     http: httpx.Client) -> None:
    first = browser_upload(http, server, imagegen.photo_jpeg(300, 200), "a.jpg")
    second = browser_upload(http, server, imagegen.svg(300, 200), "b.svg")
    for key in (first, second):
        assert v6_api_publish(http, server, key).status_code == 200
        assert stored(server.active, key) == sorted([key, *variant_names(key)])

    response = http.post(f"{server.url}/delete",
                         data={"secret": SECRET, "filenames": [first, second]})

    assert response.request.content == (
        f"secret={SECRET}&filenames={first}&filenames={second}".encode())
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert stored(server.active, first) == []
    assert stored(server.active, second) == []
    assert http.get(f"{server.url}/active/{first}").status_code == 404


def test_v6_api_publish_with_a_bad_secret_is_refused(server: Server,
                                                     http: httpx.Client) -> None:
    key = browser_upload(http, server, imagegen.photo_jpeg(120, 80), "c.jpg")

    response = http.post(f"{server.url}/publish", data={"secret": "test", "filename": key})

    assert response.status_code == 403
    assert stored(server.active, key) == []


# ---------------------------------------------------------------------------- CLI


def test_cli_config_prints_the_effective_configuration_as_yaml(tmp_path: Path) -> None:
    result = subprocess.run(imagehost_command("config"), env=server_environ(tmp_path),
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "resizing_config" in result.stdout
    loaded = yaml.safe_load(result.stdout)
    assert [entry["suffix"] for entry in loaded["resizing_config"]] == ["BI", "MI", "SI"]
    assert loaded["auto_orient_original"] is True
    assert loaded["storage_backend"] == "local"
    assert loaded["active_folder"] == str(tmp_path / "active")


def test_cli_serve_refuses_an_unknown_storage_backend_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        imagehost_command("serve", "--host", "127.0.0.1", "--port", str(free_port())),
        env=server_environ(tmp_path, STORAGE_BACKEND="ftp"), cwd=tmp_path,
        capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "STORAGE_BACKEND" in lines[0]
    assert "ftp" in lines[0]
