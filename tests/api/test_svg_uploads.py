"""SVG uploads through POST /upload (in-process): an Adobe Illustrator export is stored like any
SVG, and every hostile SVG gets its 4xx JSON answer within seconds with nothing written.

Issues 11 (Illustrator's entity-declared namespaces) and 12 (safe under attack).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import pyvips
from fastapi.testclient import TestClient
from httpx import Response

from tests import imagegen
from tests.conftest import app_context

SVG = "{http://www.w3.org/2000/svg}"
SUFFIXES = ("BI", "MI", "SI")


def upload_svg(client: TestClient, data: bytes, name: str = "drawing.svg") -> Response:
    return client.post("/upload", files={"file": (name, data, "image/svg+xml")})


def incoming(client: TestClient) -> Path:
    return app_context(client).settings.incoming_folder


def every_file(root: Path) -> list[str]:
    """Every file under a store root, its .tmp work area included."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_illustrator_svg_is_stored_sanitized_with_raster_variants(client: TestClient) -> None:
    response = upload_svg(client, imagegen.svg_illustrator(200, 100), "pipe_organ.svg")

    assert response.status_code == 200, response.text
    key = response.json()["filename"]
    assert key.endswith(".svg")
    base = key.removesuffix(".svg")
    assert every_file(incoming(client)) == sorted(
        [key, *(f"{base}{suffix}.jpg" for suffix in SUFFIXES)])
    stored = (incoming(client) / key).read_bytes()
    assert b"<!DOCTYPE" not in stored and b"&ns_" not in stored
    root = ET.fromstring(stored)
    assert root.tag == f"{SVG}svg" and root.find(f".//{SVG}foreignObject") is None
    big = pyvips.Image.new_from_buffer((incoming(client) / f"{base}BI.jpg").read_bytes(), "")
    assert (big.width, big.height) == (200, 100)
    red, blue = big.getpoint(50, 30), big.getpoint(150, 30)
    assert red[0] > 200 and max(red[1:]) < 40, red
    assert blue[2] > 140 and blue[0] < 40, blue
    assert app_context(client).records.count_by_status() == {"incoming": 1}


def test_svg_beacons_are_not_stored(client: TestClient) -> None:
    body = "".join(map(imagegen.svg_beacon_body, imagegen.SVG_BEACONS))
    data = (f'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
            f'<rect width="40" height="20" fill="#3a6ea5"/>{body}</svg>').encode()
    assert data.count(b"beacon.example") == len(imagegen.SVG_BEACONS)

    response = upload_svg(client, data)

    assert response.status_code == 200, response.text
    stored = (incoming(client) / response.json()["filename"]).read_bytes()
    assert b"beacon.example" not in stored and b'fill="#3a6ea5"' in stored


_HOSTILE = [
    pytest.param(imagegen.svg_deep_nesting, 400, "invalid_image", "nested more than 256",
                 id="5000-nested-groups"),
    pytest.param(imagegen.svg_many_elements, 413, "limit_exceeded", "(max_svg_bytes)",
                 id="500000-elements-22MB"),
    pytest.param(lambda: imagegen.svg_many_elements(60_000), 413, "limit_exceeded",
                 "(max_svg_elements)", id="60000-elements-2.9MB"),
    pytest.param(imagegen.svg_use_bomb, 413, "limit_exceeded", "(max_svg_elements)",
                 id="use-bomb"),
    pytest.param(imagegen.svg_marker_bomb, 413, "limit_exceeded", "(max_svg_elements)",
                 id="marker-bomb"),
    pytest.param(lambda: imagegen.svg_pattern_bomb(style_rules=True), 413, "limit_exceeded",
                 "(max_svg_elements)", id="pattern-bomb-by-style-rules"),
    pytest.param(imagegen.svg_entity_bomb, 400, "invalid_image", "holds markup",
                 id="billion-laughs"),
    pytest.param(lambda: imagegen.svg_illustrator().replace(
        b'<!ENTITY ns_flows "http://ns.adobe.com/Flows/1.0/">',
        b'<!ENTITY ns_flows SYSTEM "file:///etc/passwd">'), 400, "invalid_image", "external",
        id="illustrator-with-an-external-entity"),
]


@pytest.mark.parametrize(("make", "status", "code", "named"), _HOSTILE)
def test_hostile_svg_is_answered_quickly_and_nothing_is_stored(
        client: TestClient, make: Callable[[], bytes], status: int, code: str,
        named: str) -> None:
    data = make()

    started = time.perf_counter()
    response = upload_svg(client, data)
    elapsed = time.perf_counter() - started

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code and named in body["message"], body
    assert elapsed < 5, elapsed
    assert every_file(incoming(client)) == []
    assert app_context(client).records.count_by_status() == {}


@pytest.mark.parametrize(("environ", "named"), [
    ({"MAX_SVG_BYTES": "300"}, "the limit (max_svg_bytes) is 300."),
    ({"MAX_SVG_ELEMENTS": "4"}, "the limit (max_svg_elements) is 4."),
])
def test_svg_limits_come_from_the_settings(make_client: Callable[..., TestClient],
                                           environ: dict[str, str], named: str) -> None:
    data = imagegen.svg(400, 300)  # 360 bytes, 5 elements
    assert len(data) > 300
    assert upload_svg(make_client(), data).status_code == 200

    response = upload_svg(make_client(**environ), data)

    assert response.status_code == 413, response.text
    assert named in response.json()["message"]
