"""Two `imagehost serve` processes on one PostgreSQL catalog and one set of S3 buckets, as
behind a load balancer: concurrent publishes of one image through both, an upload through one
published through the other, and publishes racing `imagehost expire` run from the CLI.

Consistent, for an image, means one of:
  published: original + 3 variants in active, none of them in incoming, one row, active;
  expired:   nothing in active nor in incoming, and no active row."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import imagegen
from tests.conftest import SECRET
from tests.e2e.test_object_store_replay import (
    Backend,
    Server,
    browser_upload,
    image_keys,
    running_servers,
    s3_backend,
    sha256s,
    stored,
    v6_api_publish,
)
from tests.kit.serve import clean_environ, imagehost_command
from tests.kit.servers import SwiftServer

CLI_TIMEOUT = 60


@pytest.fixture(scope="module")
def backend(swift: SwiftServer, postgres_server_url: str) -> Iterator[Backend]:
    with s3_backend(swift, postgres_server_url) as made:
        yield made


@pytest.fixture(scope="module")
def servers(backend: Backend,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Both start at once on the fresh database: both migrate it concurrently."""
    roots = [tmp_path_factory.mktemp("instance-a"), tmp_path_factory.mktemp("instance-b")]
    with running_servers(backend, roots) as (first, second):
        yield first, second


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def publish_once(url: str, key: str) -> int:
    """A v6_api publish on its own connection (as from another API worker)."""
    with httpx.Client(timeout=60) as client:
        return client.post(f"{url}/publish", data={"secret": SECRET, "filename": key}).status_code


def state_of(backend: Backend, key: str) -> str:
    """`published` or `expired`; fails on any state in between."""
    s3, buckets = backend.s3(), backend.buckets
    active, incoming = stored(s3, buckets.active, key), stored(s3, buckets.incoming, key)
    rows = backend.catalog_rows(key)
    if active == image_keys(key):
        assert incoming == [], (key, incoming)
        assert rows == [("active", True)], (key, rows)
        return "published"
    assert active == [], f"{key}: partial image in active: {active}"
    assert incoming == [], f"{key}: left in incoming: {incoming}"
    assert all(status != "active" for status, _ in rows), (key, rows)
    assert len(rows) <= 1, (key, rows)
    return "expired"


def test_both_instances_serve(servers: tuple[Server, Server], http: httpx.Client) -> None:
    for server in servers:
        assert http.get(f"{server.url}/ping").text == "Pong!"
    assert servers[0].url != servers[1].url


def test_concurrent_publishes_of_one_image_through_both_instances(
        servers: tuple[Server, Server], backend: Backend, http: httpx.Client) -> None:
    s3, buckets = backend.s3(), backend.buckets
    key = browser_upload(http, servers[0].url, imagegen.photo_jpeg(1200, 800), "summit.jpg")
    uploaded = sha256s(s3, buckets.incoming, image_keys(key))
    assert len(uploaded) == 4
    start = threading.Barrier(10)

    def publish(index: int) -> int:
        start.wait(timeout=30)
        return publish_once(servers[index % 2].url, key)

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(publish, range(10), timeout=120))

    assert statuses == [200] * 10
    assert stored(s3, buckets.active, key) == image_keys(key)
    assert sha256s(s3, buckets.active, image_keys(key)) == uploaded
    assert stored(s3, buckets.incoming, key) == []
    assert backend.catalog_rows(key) == [("active", True)]


@pytest.mark.parametrize(("upload_on", "publish_on"), [(0, 1), (1, 0)])
def test_an_upload_through_one_instance_is_published_through_the_other(
        servers: tuple[Server, Server], backend: Backend, http: httpx.Client,
        upload_on: int, publish_on: int) -> None:
    s3, buckets = backend.s3(), backend.buckets
    key = browser_upload(http, servers[upload_on].url, imagegen.photo_png(500, 400),
                         "topo.png", "image/png")
    uploaded = sha256s(s3, buckets.incoming, image_keys(key))

    response = v6_api_publish(http, servers[publish_on].url, key)

    assert response.status_code == 200, response.text
    assert sha256s(s3, buckets.active, image_keys(key)) == uploaded
    assert stored(s3, buckets.incoming, key) == []
    assert backend.catalog_rows(key) == [("active", True)]
    redirect = http.get(f"{servers[upload_on].url}/active/{key}")
    assert redirect.status_code == 302
    assert http.get(redirect.headers["location"]).status_code == 200


def incoming_count(backend: Backend) -> int:
    """Objects listed in incoming (only to notice when expire starts deleting)."""
    listed = backend.s3().list_objects_v2(Bucket=backend.buckets.incoming)
    return len(listed.get("Contents", []))


def test_publishes_on_both_instances_racing_the_expire_command(
        servers: tuple[Server, Server], backend: Backend, http: httpx.Client,
        tmp_path: Path) -> None:
    keys = [browser_upload(http, servers[index % 2].url,
                           imagegen.photo_jpeg(300 + 10 * index, 200), f"{index}.jpg")
            for index in range(10)]
    for key in keys:
        assert stored(backend.s3(), backend.buckets.incoming, key) == image_keys(key)
    uploaded = incoming_count(backend)
    outcomes: dict[str, int] = {}
    errors: list[BaseException] = []
    deleting = threading.Event()

    def publish_batch(server: Server, batch: list[str]) -> None:
        try:
            deleting.wait(timeout=CLI_TIMEOUT)
            for key in batch:
                outcomes[key] = publish_once(server.url, key)
        except BaseException as exc:  # reported below
            errors.append(exc)

    expire = subprocess.Popen(
        imagehost_command("expire", "--older-than", "0s"),
        env=clean_environ(**backend.environ, TEMP_FOLDER=str(tmp_path / "temp")),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Expire deletes in key order; both instances publish from the other end of the batch,
    # starting when the command starts deleting, so that they run into it.
    ordered = sorted(keys)
    publishers = [threading.Thread(target=publish_batch, args=(servers[0], ordered[::-2])),
                  threading.Thread(target=publish_batch, args=(servers[1], ordered[-2::-2]))]
    for thread in publishers:
        thread.start()
    try:
        while expire.poll() is None and incoming_count(backend) == uploaded:
            time.sleep(0.02)
        deleting.set()
        out, err = expire.communicate(timeout=CLI_TIMEOUT)
    finally:
        deleting.set()
        if expire.poll() is None:
            expire.kill()
    for thread in publishers:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in publishers), "a publish hung"
    assert errors == []
    assert expire.returncode == 0, err
    assert sorted(outcomes) == sorted(keys)
    assert set(outcomes.values()) <= {200, 404}, outcomes
    states = {key: state_of(backend, key) for key in keys}
    for key, status in outcomes.items():
        if status == 200:
            assert states[key] == "published", key
        else:
            assert states[key] == "expired", key
    print(f"\nexpire: {out.strip().splitlines()[-1]}; publish answers: "
          f"{sorted(outcomes.values()).count(200)} x 200, "
          f"{sorted(outcomes.values()).count(404)} x 404")
