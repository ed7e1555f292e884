"""One contract, three stores: local folders, Swift's S3 API (boto3) and Swift's native API.

Every test runs on the stores `build_stores_for(settings)` builds for each backend, and
checks what a caller (or an anonymous HTTP client) observes. Remote stores are also checked
through raw boto3 / swiftclient calls, so a store cannot pass by agreeing with itself.

The store-down test stops and restarts the Swift proxy: it stays the last test of the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from imagehost.config import Settings
from imagehost.errors import ImagehostError, NotFound, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.runtime import build_stores_for
from imagehost.storage.base import ObjectInfo, Store
from imagehost.storage.factory import Stores, build_stores
from imagehost.storage.s3 import S3Store
from imagehost.storage.swift import SwiftStore
from imagehost.web.app import create_app
from tests.kit.cli import wait_for
from tests.kit.servers import Buckets, SwiftServer

KINDS = ["local", "s3", "swift"]
CACHE_CONTROL = "public, max-age=4242, s-maxage=17"
"""Not the default: proves Cache-Control comes from the settings."""
MULTIPART_THRESHOLD = 5 * 1024 * 1024
SIGNED_URL_KEY = "contract-" + "k" * 32
DOWN_BOUND = 15.0
"""Seconds a call on a stopped server may take before it must raise StoreUnavailable."""
EXPIRY_BOUND = 5.0
"""Seconds after which a URL signed for 1 s must be refused (expiry has 1 s granularity)."""
REFUSED = {"local": 403, "s3": 403, "swift": 401}
"""The answer to a tampered or expired signed URL (README: 403 from S3 and imagehost, 401 from
Swift)."""

_SETTINGS = pytest.StashKey[Settings]()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(params=KINDS)
def stores(request: pytest.FixtureRequest,
           make_settings: Callable[..., Settings]) -> Iterator[Stores]:
    """The incoming, active and cache stores of one backend, built as the service builds them
    (Swift stores with their TempURL key set). Local folders are the test's own."""
    kind = request.param
    common = {"CACHE_CONTROL": CACHE_CONTROL, "MULTIPART_THRESHOLD": str(MULTIPART_THRESHOLD),
              "SIGNED_URL_KEY": SIGNED_URL_KEY}
    environ = {} if kind == "local" else request.getfixturevalue(f"{kind}_environ")
    settings = make_settings(**environ, **common)
    built = build_stores_for(settings)
    request.node.stash[_SETTINGS] = settings
    yield built


@pytest.fixture
def kind(stores: Stores, request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["stores"]


@pytest.fixture
def store_settings(stores: Stores, request: pytest.FixtureRequest) -> Settings:
    return request.node.stash[_SETTINGS]


@dataclass
class Remote:
    """Raw clients on the buckets (containers) the remote stores use."""

    server: SwiftServer
    buckets: Buckets
    s3: Any
    swift: Any

    def bucket(self, store: Store) -> str:
        return getattr(self.buckets, store.name)

    def raw_headers(self, store: Store, key: str) -> dict[str, dict[str, str]]:
        """Content-Type and Cache-Control of the stored object, seen by both APIs."""
        bucket = self.bucket(store)
        s3 = self.s3.head_object(Bucket=bucket, Key=key)
        swift = self.swift.head_object(bucket, key)
        return {
            "s3": {"content-type": s3.get("ContentType", ""),
                   "cache-control": s3.get("CacheControl", "")},
            "swift": {"content-type": swift.get("content-type", ""),
                      "cache-control": swift.get("cache-control", "")},
        }


@pytest.fixture
def remote(kind: str, request: pytest.FixtureRequest) -> Remote | None:
    if kind == "local":
        return None
    server: SwiftServer = request.getfixturevalue("swift")
    return Remote(server, request.getfixturevalue("buckets"), server.s3_client(),
                  server.swift_connection())


@contextlib.contextmanager
def local_app(settings: Settings) -> Iterator[TestClient]:
    """The imagehost service in process, on the same folders and signing key as `settings`."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def unique_key(folder: str = "contract", ext: str = "jpg") -> str:
    return f"{folder}/{uuid.uuid4().hex[:10]}.{ext}"


def payload(size: int = 1000) -> bytes:
    return os.urandom(size)


def served_cache_control(settings: Settings, key: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) the local service sends for a published object."""
    with local_app(settings) as client:
        response = client.get(f"{settings.prefix}/active/{key}")
    assert response.status_code == 200, response.text
    return response.headers["content-type"], response.headers["cache-control"]


# --------------------------------------------------------------------------- basic operations


def test_put_get_head_exists_delete(stores: Stores) -> None:
    store = stores.incoming
    key, data = unique_key("derived/42", "jpg"), payload(2345)
    store.put(key, data)

    assert store.get(key) == data
    assert store.exists(key)
    info = store.head(key)
    assert isinstance(info, ObjectInfo)
    assert (info.key, info.size, info.content_type) == (key, len(data), "image/jpeg")
    assert info.etag
    assert info.last_modified.tzinfo is not None
    assert abs(datetime.now(UTC) - info.last_modified) < timedelta(minutes=5)

    replacement = payload(10)
    store.put(key, replacement)
    assert store.get(key) == replacement
    assert store.head(key).size == len(replacement)  # type: ignore[union-attr]

    store.delete(key)
    assert not store.exists(key)
    assert store.head(key) is None
    with pytest.raises(NotFound):
        store.get(key)
    store.delete(key)  # deleting a missing key is fine

    for store in stores.named().values():
        for key in ("never/was/here.jpg", "absent.png"):
            with pytest.raises(NotFound):
                store.get(key)
            assert store.head(key) is None
            assert not store.exists(key)
            store.delete(key)


def test_every_put_sets_content_type_and_cache_control(
        stores: Stores, kind: str, remote: Remote | None, store_settings: Settings) -> None:
    # Without an explicit type, the type comes from the key's extension.
    expected = {"a.jpg": "image/jpeg", "a.png": "image/png", "a.webp": "image/webp",
                "a.svg": "image/svg+xml", "a.json": "application/json"}
    for name, content_type in expected.items():
        key = f"types/{name}"
        stores.active.put(key, b"x")
        assert stores.active.head(key).content_type == content_type, key  # type: ignore[union-attr]
        if remote is not None:
            for api, headers in remote.raw_headers(stores.active, key).items():
                assert headers == {"content-type": content_type,
                                   "cache-control": CACHE_CONTROL}, (key, api)
    for store in stores.named().values():
        key = unique_key("derived/7", "png")
        store.put(key, payload(50), "image/png")
        assert store.head(key).content_type == "image/png"  # type: ignore[union-attr]
        if remote is not None:
            for api, headers in remote.raw_headers(store, key).items():
                assert headers == {"content-type": "image/png",
                                   "cache-control": CACHE_CONTROL}, (store.name, api)
    if kind == "local":
        # A local store keeps no headers: the service adds them when it serves /active.
        key = unique_key("served", "png")
        stores.active.put(key, b"png")
        assert served_cache_control(store_settings, key) == ("image/png", CACHE_CONTROL)


# --------------------------------------------------------------------------- listing


def test_list_returns_exactly_the_keys_under_the_prefix(stores: Stores) -> None:
    store = stores.cache
    keys = ["derived/42/x.jpg", "derived/42/y.png", "derived/42/deeper/z.webp",
            "derived/420/other.jpg", "derived/4/w.jpg", "derivedX.jpg", "top.jpg"]
    sizes = {key: index + 1 for index, key in enumerate(keys)}
    for key in keys:
        store.put(key, b"x" * sizes[key])

    def listed(prefix: str) -> list[ObjectInfo]:
        return list(store.list(prefix))

    under = listed("derived/42/")
    assert sorted(info.key for info in under) == sorted(
        ["derived/42/x.jpg", "derived/42/y.png", "derived/42/deeper/z.webp"])
    assert all(info.size == sizes[info.key] for info in under)
    assert {info.key: info.content_type for info in under}["derived/42/y.png"] == "image/png"
    assert sorted(i.key for i in listed("derived/")) == sorted(k for k in keys
                                                               if k.startswith("derived/"))
    assert sorted(i.key for i in listed("derived/42")) == sorted(
        k for k in keys if k.startswith("derived/42"))
    everything = listed("")
    assert sorted(i.key for i in everything) == sorted(keys)
    assert len(everything) == len(keys)  # no duplicates
    assert listed("nothing/here/") == []
    assert not any(i.key.startswith(".tmp") for i in everything)


PAGED_OBJECTS = 13
FORCED_PAGE = 5


@contextlib.contextmanager
def small_pages(store: Store) -> Iterator[list[int]]:
    """Make the store's own listing calls ask the server for FORCED_PAGE entries at a time;
    yields the sizes of the pages the server answered (one entry per request)."""
    pages: list[int] = []
    if isinstance(store, S3Store):
        events = store.client.meta.events

        def shrink(params: dict[str, Any], **_: Any) -> None:
            params["MaxKeys"] = FORCED_PAGE

        def count(parsed: dict[str, Any], **_: Any) -> None:
            pages.append(len(parsed.get("Contents", [])))

        events.register("provide-client-params.s3.ListObjectsV2", shrink)
        events.register("after-call.s3.ListObjectsV2", count)
        try:
            yield pages
        finally:
            events.unregister("provide-client-params.s3.ListObjectsV2", shrink)
            events.unregister("after-call.s3.ListObjectsV2", count)
    elif isinstance(store, SwiftStore):
        connection = store.connection
        original = connection.get_container

        def get_container(*args: Any, **kwargs: Any) -> Any:
            kwargs["limit"] = FORCED_PAGE
            headers, items = original(*args, **kwargs)
            pages.append(len(items))
            return headers, items

        connection.get_container = get_container
        try:
            yield pages
        finally:
            del connection.get_container
    else:
        yield pages


def test_list_streams_across_pages(stores: Stores, kind: str) -> None:
    """Remote listings come in pages: force small pages on the store's own client and check
    that the store follows them to the end (markers / continuation tokens)."""
    store = stores.incoming
    keys = [f"paged/{index:03d}.jpg" for index in range(PAGED_OBJECTS)]
    for key in keys:
        store.put(key, b"p")
    store.put("paged-not/000.jpg", b"p")

    with small_pages(store) as pages:
        listed = [info.key for info in store.list("paged/")]
    assert sorted(listed) == keys
    assert len(listed) == len(keys)
    if kind != "local":
        full_pages = PAGED_OBJECTS // FORCED_PAGE
        assert pages[:full_pages] == [FORCED_PAGE] * full_pages, pages
        assert sum(pages) == PAGED_OBJECTS, pages


# --------------------------------------------------------------------------- copy


def test_copy_to_between_incoming_and_active(
        stores: Stores, kind: str, remote: Remote | None, store_settings: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    key, data = unique_key("derived/42", "png"), payload(3000)
    source, target = stores.incoming, stores.active
    # The source object carries foreign headers: the copy must not keep them.
    if remote is None:
        source.put(key, data)
    elif kind == "s3":
        remote.s3.put_object(Bucket=remote.bucket(source), Key=key, Body=data,
                             ContentType="application/x-foreign", CacheControl="no-store")
    else:
        remote.swift.put_object(remote.bucket(source), key, contents=data,
                                content_type="application/x-foreign",
                                headers={"Cache-Control": "no-store"})

    def no_download(key: str) -> bytes:
        raise AssertionError(f"copy_to downloaded {key!r} instead of copying server-side")

    monkeypatch.setattr(source, "get", no_download)
    source.copy_to(key, target)
    monkeypatch.undo()

    assert target.get(key) == data
    assert source.get(key) == data  # a copy, not a move
    assert target.head(key).content_type == "image/png"  # type: ignore[union-attr]
    assert target.head(key).size == len(data)  # type: ignore[union-attr]
    if remote is not None:
        for api, headers in remote.raw_headers(target, key).items():
            assert headers == {"content-type": "image/png",
                               "cache-control": CACHE_CONTROL}, api
        assert remote.s3.get_object(Bucket=remote.bucket(target),
                                    Key=key)["Body"].read() == data
    else:
        assert served_cache_control(store_settings, key) == ("image/png", CACHE_CONTROL)

    # and back again, active -> incoming
    back = unique_key("back", "jpg")
    target.put(back, data)
    target.copy_to(back, source)
    assert source.get(back) == data
    assert source.head(back).content_type == "image/jpeg"  # type: ignore[union-attr]

    with pytest.raises(NotFound):
        source.copy_to("missing/nothing.jpg", target)
    assert not target.exists("missing/nothing.jpg")


# --------------------------------------------------------------------------- public access


def test_acl_active_is_public_incoming_is_not(
        stores: Stores, kind: str, remote: Remote | None) -> None:
    if remote is None:
        pytest.skip("local stores have no ACLs: the service itself serves /active and "
                    "signed /files URLs")
    key, data = unique_key("derived/42", "jpg"), payload(700)
    stores.active.put(key, data)
    stores.incoming.put(key, data)

    public = httpx.get(remote.server.public_url(remote.buckets.active, key), timeout=10)
    assert public.status_code == 200
    assert public.content == data
    assert public.headers["cache-control"] == CACHE_CONTROL

    private = httpx.get(remote.server.public_url(remote.buckets.incoming, key), timeout=10)
    assert private.status_code in (401, 403)
    assert private.content != data

    if kind == "swift":
        # The Swift store's own public URL is the container URL: anonymous reads work.
        response = httpx.get(stores.active.public_url(key), timeout=10)
        assert (response.status_code, response.content) == (200, data)


def _tamper(url: str) -> str:
    """Change one character of the signature in a signed URL."""
    match = re.search(r"(?:[?&])(?:sig|temp_url_sig|X-Amz-Signature)=([0-9a-fA-F]+)", url)
    assert match, url
    position = match.end(1) - 1
    replacement = "0" if url[position] != "0" else "1"
    return url[:position] + replacement + url[position + 1:]


def test_signed_url(stores: Stores, kind: str, store_settings: Settings) -> None:
    store = stores.incoming
    key, data = unique_key("derived/42", "jpg"), payload(1500)
    store.put(key, data)
    expiring = store.signed_url(key, 1)
    url = store.signed_url(key, 60)
    tampered = _tamper(url)
    assert tampered != url and len(tampered) == len(url)

    with contextlib.ExitStack() as stack:
        if kind == "local":
            assert urlsplit(url).path.startswith(f"{store_settings.prefix}/files/incoming/")
            client = stack.enter_context(local_app(store_settings))

            def fetch(address: str) -> httpx.Response:
                parts = urlsplit(address)
                return client.get(f"{parts.path}?{parts.query}")
        else:
            def fetch(address: str) -> httpx.Response:
                return httpx.get(address, timeout=10)

        good = fetch(url)
        assert good.status_code == 200, good.text
        assert good.content == data
        assert fetch(tampered).status_code == REFUSED[kind]
        wait_for(lambda: fetch(expiring).status_code != 200, EXPIRY_BOUND,
                 "the 1 s URL to be refused")
        assert fetch(expiring).status_code == REFUSED[kind]
        # the long-lived URL still works: only the expired one is refused
        assert fetch(url).status_code == 200


# --------------------------------------------------------------------------- large objects


def test_multipart_round_trip(stores: Stores, kind: str, remote: Remote | None) -> None:
    store = stores.incoming
    key, data = unique_key("big", "jpg"), payload(6 * 1024 * 1024)
    assert len(data) > MULTIPART_THRESHOLD
    store.put(key, data)
    assert store.get(key) == data
    assert store.head(key).size == len(data)  # type: ignore[union-attr]
    if kind == "s3":
        assert remote is not None
        etag = remote.s3.head_object(Bucket=remote.bucket(store), Key=key)["ETag"]
        assert "-" in etag, f"not a multipart upload: ETag {etag}"


# --------------------------------------------------------------------------- health


def test_check(stores: Stores, kind: str, store_settings: Settings,
               make_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> None:
    for store in stores.named().values():
        store.check()
    if kind == "local":
        shutil.rmtree(store_settings.incoming_folder)
        with pytest.raises(OSError):
            stores.incoming.check()
        return
    environ = request.getfixturevalue(f"{kind}_environ")
    # build_stores, not build_stores_for: setting a TempURL key on a missing container fails
    missing = build_stores(make_settings(
        **(environ | {"INCOMING_BUCKET": f"missing-{uuid.uuid4().hex[:12]}"})), content_type_of)
    with pytest.raises(ImagehostError):
        missing.incoming.check()
    missing.active.check()


# --------------------------------------------------------------------------- store down (last)


def test_store_down_raises_store_unavailable_then_recovers(
        stores: Stores, remote: Remote | None) -> None:
    if remote is None:
        pytest.skip("a local store has no server to stop")
    store = stores.incoming
    key, data = unique_key("down", "jpg"), payload(100)
    store.put(key, data)

    operations: dict[str, Callable[[], object]] = {
        "put": lambda: store.put(unique_key("down", "jpg"), b"x"),
        "get": lambda: store.get(key),
        # a store that is down must not look like a store without the object
        "exists": lambda: store.exists(key),
    }
    remote.server.stop_proxy()
    try:
        for name, operation in operations.items():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                operation()
            elapsed = time.monotonic() - started
            assert elapsed < DOWN_BOUND, f"{name} took {elapsed:.1f}s to fail"
    finally:
        remote.server.start_proxy()

    assert store.get(key) == data
    again = unique_key("down", "jpg")
    store.put(again, data)
    assert store.get(again) == data
    store.check()
