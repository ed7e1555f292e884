"""Without SERVICE_URL, temporary URLs are built on the request's own scheme, host and port,
and behind a trusted proxy (FORWARDED_ALLOW_IPS) on the X-Forwarded-Proto and -Host it
sends."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests import imagegen
from tests.conftest import SECRET

ADMIN = {"Authorization": f"Bearer {SECRET}"}
PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "images.example.org"}


def temporary_url(client: TestClient, headers: dict[str, str]) -> str:
    created = client.post("/images", headers=ADMIN,
                          files={"image": ("a.jpg", imagegen.photo_jpeg(120, 90))})
    assert created.status_code == 201, created.text
    answer = client.get(f"/images/{created.json()['id']}/image",
                        params={"w": "40", "url": "true"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["url"]


def test_a_temporary_url_is_on_the_requests_own_host(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()

    url = temporary_url(client, {"Host": "photos.local:9000"})

    assert url.startswith("http://photos.local:9000/files/cache/derived/")
    assert client.get(url.removeprefix("http://photos.local:9000")).status_code == 200


def test_a_trusted_proxy_sets_scheme_and_host(make_client: Callable[..., TestClient]) -> None:
    trusting = make_client(FORWARDED_ALLOW_IPS="*")

    assert temporary_url(trusting, PROXY).startswith(
        "https://images.example.org/files/cache/derived/")


def test_an_untrusted_client_cannot_choose_the_host(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client()                   # trusts loopback only: the test client is not

    assert temporary_url(client, PROXY).startswith("http://testserver/files/cache/derived/")


def test_service_url_wins_when_set(make_client: Callable[..., TestClient]) -> None:
    client = make_client(SERVICE_URL="https://cdn.example.net/img", FORWARDED_ALLOW_IPS="*")

    assert temporary_url(client, PROXY).startswith(
        "https://cdn.example.net/img/files/cache/derived/")
