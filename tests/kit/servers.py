"""Fixtures for the real servers that scripts/services starts (Swift with S3 API, PostgreSQL).

`make test` starts them and sets IMAGEHOST_REQUIRE_SERVICES=1: a missing server then fails the
test. Run alone (plain pytest without the servers), such tests are skipped.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("IMAGEHOST_REQUIRE_SERVICES") == "1"
S3_GROUP = "SWIFT_S3"


def service_variable(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        message = f"{name} is not set: start the servers with `make services`"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return value


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class SwiftServer:
    s3_endpoint: str
    access_key_id: str
    secret_key: str
    auth_url: str
    username: str
    password: str

    def s3_client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_key,
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"}))

    def swift_connection(self):
        from swiftclient.client import Connection

        return Connection(authurl=self.auth_url, user=self.username, key=self.password,
                          auth_version="1", retries=1, timeout=10)

    def public_url(self, bucket: str, key: str) -> str:
        """Anonymous reads work on Swift's own URL of a public bucket, not on the S3 one."""
        storage_url, _ = self.swift_connection().get_auth()
        return f"{storage_url}/{bucket}/{key}"

    def stop_proxy(self) -> None:
        subprocess.run([str(REPO / "scripts/services/swift.sh"), "proxy-stop"], check=True,
                       capture_output=True, timeout=60)

    def start_proxy(self) -> None:
        subprocess.run([str(REPO / "scripts/services/swift.sh"), "proxy-start"], check=True,
                       capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def swift() -> SwiftServer:
    return SwiftServer(service_variable("SWIFT_S3_ENDPOINT"),
                       service_variable("SWIFT_S3_ACCESS_KEY_ID"),
                       service_variable("SWIFT_S3_SECRET_KEY"),
                       service_variable("OS_AUTH_URL"), service_variable("OS_USERNAME"),
                       service_variable("OS_PASSWORD"))


@dataclass(frozen=True)
class Buckets:
    incoming: str
    active: str
    cache: str


@pytest.fixture
def buckets(swift: SwiftServer) -> Iterator[Buckets]:
    """Fresh buckets: incoming private, active public-read (as c2corg's compose set them)."""
    client = swift.s3_client()
    names = Buckets(unique_name("incoming"), unique_name("active"), unique_name("cache"))
    client.create_bucket(Bucket=names.incoming, ACL="private")
    client.create_bucket(Bucket=names.active, ACL="public-read")
    client.create_bucket(Bucket=names.cache, ACL="private")
    yield names
    for bucket in (names.incoming, names.active, names.cache):
        _empty_and_delete(client, bucket)


def _empty_and_delete(client, bucket: str) -> None:
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
    except Exception:
        pass


@pytest.fixture
def s3_environ(swift: SwiftServer, buckets: Buckets) -> dict[str, str]:
    return s3_storage_environ(swift, buckets)


def s3_storage_environ(swift: SwiftServer, buckets: Buckets) -> dict[str, str]:
    """Environment for STORAGE_BACKEND=s3 on the Swift S3 API, c2corg style."""
    return {"STORAGE_BACKEND": "s3", "INCOMING_BUCKET": buckets.incoming,
            "ACTIVE_BUCKET": buckets.active, "CACHE_BUCKET": buckets.cache,
            "INCOMING_PREFIX": S3_GROUP, "ACTIVE_PREFIX": S3_GROUP, "CACHE_PREFIX": S3_GROUP,
            f"{S3_GROUP}_ENDPOINT": swift.s3_endpoint,
            f"{S3_GROUP}_ACCESS_KEY_ID": swift.access_key_id,
            f"{S3_GROUP}_SECRET_KEY": swift.secret_key,
            f"{S3_GROUP}_DEFAULT_REGION": "us-east-1",
            "STORE_CONNECT_TIMEOUT": "2", "STORE_READ_TIMEOUT": "10",
            "STORE_MAX_ATTEMPTS": "2"}


@pytest.fixture
def swift_environ(swift: SwiftServer, buckets: Buckets) -> dict[str, str]:
    """Environment for STORAGE_BACKEND=swift (native API, v1 auth) on the same containers."""
    return {"STORAGE_BACKEND": "swift", "INCOMING_BUCKET": buckets.incoming,
            "ACTIVE_BUCKET": buckets.active, "CACHE_BUCKET": buckets.cache,
            "OS_AUTH_URL": swift.auth_url, "OS_USERNAME": swift.username,
            "OS_PASSWORD": swift.password, "SWIFT_TEMP_URL_KEY": "tempurl-" + uuid.uuid4().hex,
            "STORE_CONNECT_TIMEOUT": "2", "STORE_READ_TIMEOUT": "10",
            "STORE_MAX_ATTEMPTS": "2"}


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return service_variable("DATABASE_URL")


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with FreshPostgresDatabase(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog suite runs on both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("postgres_url")


# --- jobs: a v5 database, a v5 source bucket, a Redis broker ------------------------------------

V5_TABLE = """CREATE TABLE app_images_archives (
    image_archive_id integer PRIMARY KEY,
    id integer NOT NULL,
    filename character varying(30),
    has_svg boolean DEFAULT false
)"""
"""v5's image versions: one row per archive version of an image document (`id`)."""


class FreshPostgresDatabase:
    """`with FreshPostgresDatabase(server_url) as url:` a new, empty database on the test
    server (dropped on exit, connections and all), as a SQLAlchemy URL."""

    def __init__(self, server_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.server = make_url(server_url)
        self.name = unique_name("test").replace("-", "_")
        self.admin = self.server.set(drivername="postgresql", database="postgres") \
            .render_as_string(hide_password=False)

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')
        return self.server.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc_info: object) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def v5_database(postgres_server_url: str) -> Iterator[str]:
    """A c2corg v5 database with an empty `app_images_archives` table (the columns migrate
    reads), as a plain `postgresql://` URL, the way V5_DATABASE_URL is usually written."""
    import psycopg

    with FreshPostgresDatabase(postgres_server_url) as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(V5_TABLE)
        yield plain


@pytest.fixture(scope="module")
def v5_bucket(swift: SwiftServer) -> Iterator[str]:
    """A private bucket of its own on the object store, holding v5 originals for migrate
    (reached with V5_BUCKET and V5_PREFIX=SWIFT_S3)."""
    client = swift.s3_client()
    name = unique_name("v5")
    client.create_bucket(Bucket=name, ACL="private")
    yield name
    _empty_and_delete(client, name)


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    return service_variable("BROKER_URL")


_REDIS_CLAIM = "imagehost-tests:claimed"


@pytest.fixture(scope="module")
def redis_url(redis_server_url: str) -> Iterator[str]:
    """A Redis database of its own (1..15, never db 0 that development workers use) as a
    Celery broker URL, claimed with a key so concurrent test runs do not share it, emptied
    before and after."""
    import redis
    from redis.exceptions import RedisError

    base = redis_server_url.rsplit("/", 1)[0] if redis_server_url.count("/") > 2 \
        else redis_server_url
    token = uuid.uuid4().hex
    for db in range(1, 16):
        client = redis.Redis.from_url(f"{base}/{db}")
        try:
            claimed = client.set(_REDIS_CLAIM, token, nx=True, ex=1800)
        except RedisError as exc:
            client.close()
            pytest.fail(f"Redis at {redis_server_url} does not answer: {exc}")
        if claimed:
            break
        client.close()
    else:
        pytest.fail(f"every Redis database 1..15 of {base} is claimed by another test run")
    try:
        for key in client.scan_iter():
            if key != _REDIS_CLAIM.encode():
                client.delete(key)
        yield f"{base}/{db}"
    finally:
        client.flushdb()
        client.close()
