"""The c2corg client replay (as in test_client_replay) against `imagehost serve` on S3 buckets
(Swift's S3 API) and a PostgreSQL catalog: after every step the buckets are read with boto3.

Published objects are served by a 302 from /active/<key> to the active bucket's public URL;
Swift answers anonymous reads only on its own URL of a public container (not on the S3 path),
so ACTIVE_PUBLIC_URL points there, as a deployment points it at its CDN."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError
from sqlalchemy.engine import make_url

from tests import imagegen
from tests.conftest import SECRET
from tests.e2e.test_client_replay import BROWSER_ORIGIN, JWT_HEADER
from tests.kit.serve import Launch, clean_environ, serving
from tests.kit.servers import (
    Buckets,
    FreshPostgresDatabase,
    SwiftServer,
    _empty_and_delete,
    s3_storage_environ,
    unique_name,
)

# ---------------------------------------------------------------------------- shared helpers
# (tests/e2e/test_two_instances.py uses them too)


@dataclass(frozen=True)
class Backend:
    """Fresh buckets and a fresh PostgreSQL database, and the environment naming them."""

    swift: SwiftServer
    buckets: Buckets
    database_url: str
    environ: dict[str, str]

    def s3(self) -> Any:
        return self.swift.s3_client()

    def psycopg_dsn(self) -> str:
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def catalog_rows(self, key: str) -> list[tuple[str, bool]]:
        """(status, has published_at) of every catalog row of `key`."""
        with psycopg.connect(self.psycopg_dsn()) as connection:
            rows = connection.execute(
                "SELECT status, published_at IS NOT NULL FROM images WHERE key = %s", (key,))
            return list(rows.fetchall())


@contextmanager
def s3_backend(swift: SwiftServer, postgres_server_url: str) -> Iterator[Backend]:
    """What the `buckets`, `s3_environ` and `postgres_url` fixtures make, for a whole module."""
    client = swift.s3_client()
    buckets = Buckets(unique_name("incoming"), unique_name("active"), unique_name("cache"))
    client.create_bucket(Bucket=buckets.incoming, ACL="private")
    client.create_bucket(Bucket=buckets.active, ACL="public-read")
    client.create_bucket(Bucket=buckets.cache, ACL="private")
    with FreshPostgresDatabase(postgres_server_url) as database_url:
        storage_url, _ = swift.swift_connection().get_auth()
        environ = {
            **s3_storage_environ(swift, buckets),
            "ACTIVE_PUBLIC_URL": f"{storage_url}/{buckets.active}",
            "DATABASE_URL": database_url,
            "API_SECRET_KEY": SECRET,
            "EXPIRE_INTERVAL": "0",
        }
        try:
            yield Backend(swift, buckets, database_url, environ)
        finally:
            for bucket in (buckets.incoming, buckets.active, buckets.cache):
                _empty_and_delete(client, bucket)


@dataclass(frozen=True)
class Server:
    url: str
    root: Path
    log: Path


@contextmanager
def running_servers(backend: Backend, roots: list[Path]) -> Iterator[list[Server]]:
    """`imagehost serve` in one subprocess per root, all started at once."""
    launches = [Launch(root, clean_environ(**backend.environ, TEMP_FOLDER=str(root / "temp")))
                for root in roots]
    with serving(*launches) as served:
        yield [Server(one.url, one.root, one.log) for one in served]


def variant_names(key: str) -> list[str]:
    base, ext = key.rsplit(".", 1)
    ext = "jpg" if ext == "svg" else ext
    return [f"{base}{suffix}.{ext}" for suffix in ("BI", "MI", "SI")]


def image_keys(key: str) -> list[str]:
    return sorted([key, *variant_names(key)])


def stored(client: Any, bucket: str, key: str) -> list[str]:
    """The objects of image `key` (original and variants) present in `bucket`, asked object
    by object: a busy Swift may update its container listings late."""
    present = []
    for name in image_keys(key):
        try:
            client.head_object(Bucket=bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                raise
        else:
            present.append(name)
    return present


def sha256s(client: Any, bucket: str, keys: list[str]) -> dict[str, str]:
    return {key: hashlib.sha256(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            .hexdigest() for key in keys}


def browser_upload(http: httpx.Client, url: str, data: bytes, name: str,
                   content_type: str = "image/jpeg") -> str:
    """c2c_ui: the preflight, then `formData.append('file', file)` with the JWT header."""
    preflight = http.options(f"{url}/upload", headers={
        "Origin": BROWSER_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    })
    assert preflight.status_code == 200
    response = http.post(f"{url}/upload", files={"file": (name, data, content_type)},
                         headers={"Authorization": JWT_HEADER, "Origin": BROWSER_ORIGIN})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    return response.json()["filename"]


def v6_api_publish(http: httpx.Client, url: str, key: str) -> httpx.Response:
    """v6_api: `requests.post(url, data)`, form-urlencoded, no crop."""
    return http.post(f"{url}/publish", data={"secret": SECRET, "filename": key})


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def backend(swift: SwiftServer, postgres_server_url: str) -> Iterator[Backend]:
    with s3_backend(swift, postgres_server_url) as made:
        yield made


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_servers(backend, [tmp_path_factory.mktemp("e2e-s3-server")]) as servers:
        yield servers[0]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


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


def test_upload_publish_serve_delete(server: Server, backend: Backend,
                                     http: httpx.Client) -> None:
    s3, buckets = backend.s3(), backend.buckets
    photo, drawing = imagegen.photo_jpeg(640, 480), imagegen.svg(300, 200)

    # upload: the original and its variants land in the private incoming bucket
    first = browser_upload(http, server.url, photo, "IMG_0001.JPG")
    second = browser_upload(http, server.url, drawing, "topo.svg", "image/svg+xml")
    for key in (first, second):
        assert stored(s3, buckets.incoming, key) == image_keys(key)
        assert stored(s3, buckets.active, key) == []
        assert backend.catalog_rows(key) == [("incoming", False)]
    assert s3.get_object(Bucket=buckets.incoming, Key=first)["Body"].read() == photo
    assert s3.head_object(Bucket=buckets.incoming, Key=second)["ContentType"] == "image/svg+xml"
    uploaded = {key: sha256s(s3, buckets.incoming, image_keys(key)) for key in (first, second)}

    # publish (v6_api): everything moves to the public active bucket, byte for byte
    for key in (first, second):
        response = v6_api_publish(http, server.url, key)
        assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True}
        assert stored(s3, buckets.active, key) == image_keys(key)
        assert stored(s3, buckets.incoming, key) == []
        assert sha256s(s3, buckets.active, image_keys(key)) == uploaded[key]
        assert backend.catalog_rows(key) == [("active", True)]

    # serve: /active redirects to the bucket, which serves the bytes to anyone
    redirect = http.get(f"{server.url}/active/{first}")
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location == f"{backend.environ['ACTIVE_PUBLIC_URL']}/{first}"
    with httpx.Client(timeout=30) as anonymous:
        original = anonymous.get(location)
        assert original.status_code == 200
        assert original.content == photo
        assert original.headers["content-type"] == "image/jpeg"
        followed = anonymous.get(f"{server.url}/active/{variant_names(second)[2]}",
                                 follow_redirects=True)
        assert followed.status_code == 200
        assert followed.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(followed.content).hexdigest() == (
            uploaded[second][variant_names(second)[2]])

    # publish again (a retry of v6_api): still 200, nothing changes
    assert v6_api_publish(http, server.url, first).status_code == 200
    assert stored(s3, buckets.active, first) == image_keys(first)
    assert sha256s(s3, buckets.active, image_keys(first)) == uploaded[first]

    # delete (v6_api, repeated `filenames`): both images go, the records stay as tombstones
    response = http.post(f"{server.url}/delete",
                         data={"secret": SECRET, "filenames": [first, second]})
    assert response.request.content == (
        f"secret={SECRET}&filenames={first}&filenames={second}".encode())
    assert response.status_code == 200
    assert response.json() == {"success": True}
    for key in (first, second):
        assert stored(s3, buckets.active, key) == []
        assert stored(s3, buckets.incoming, key) == []
        assert [status for status, _ in backend.catalog_rows(key)] == ["deleted"]
    gone = http.get(f"{server.url}/active/{first}", follow_redirects=True)
    assert gone.status_code == 404


def test_publish_with_a_bad_secret_is_refused(server: Server, backend: Backend,
                                              http: httpx.Client) -> None:
    s3, buckets = backend.s3(), backend.buckets
    key = browser_upload(http, server.url, imagegen.photo_jpeg(120, 80), "c.jpg")

    response = http.post(f"{server.url}/publish", data={"secret": "test", "filename": key})

    assert response.status_code == 403
    assert stored(s3, buckets.active, key) == []
    assert stored(s3, buckets.incoming, key) == image_keys(key)
    assert backend.catalog_rows(key) == [("incoming", False)]


def test_publish_of_an_unknown_key_is_404_and_stores_nothing(server: Server, backend: Backend,
                                                             http: httpx.Client) -> None:
    key = "1475660224_882910455.jpg"

    response = v6_api_publish(http, server.url, key)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert stored(backend.s3(), backend.buckets.active, key) == []
    assert backend.catalog_rows(key) == []
