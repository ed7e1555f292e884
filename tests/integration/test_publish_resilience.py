"""Publishing on a real object store (Swift, through its S3 API and natively) with a real
PostgreSQL catalog: what upload and publish leave in the buckets, a publish interrupted by the
object store going down, and publish racing the expiry of old uploads."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from imagehost.catalog.models import ImageStatus
from imagehost.config import Settings
from imagehost.errors import NotFound, StoreUnavailable
from imagehost.runtime import build_context, close_context
from imagehost.service.context import ServiceContext
from imagehost.service.expiry import ExpiryReport, expire_incoming
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from imagehost.storage.base import Store
from tests import imagegen
from tests.kit.servers import Buckets, SwiftServer

#: Seconds publish may take to give up on a store that went down (connect timeout 2 s and
#: 2 attempts per call in the test environment, a few calls at most).
STORE_DOWN_BUDGET = 30.0
SUFFIXES = ("BI", "MI", "SI")


def variant_keys(key: str) -> list[str]:
    base, ext = key.rsplit(".", 1)
    ext = "jpg" if ext == "svg" else ext
    return [f"{base}{suffix}.{ext}" for suffix in SUFFIXES]


def image_keys(key: str) -> list[str]:
    return sorted([key, *variant_keys(key)])


def present(client: Any, bucket: str, keys: Iterable[str]) -> set[str]:
    """Which of `keys` are in `bucket`, asked object by object: a busy Swift may update its
    container listings late (the buckets are fresh, so no other object can be there)."""

    def exists(key: str) -> bool:
        try:
            client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise
        return True

    candidates = sorted(set(keys))
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(exists, candidates))
    return {key for key, there in zip(candidates, found, strict=True) if there}


def digest(client: Any, bucket: str, key: str) -> str:
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def digests(client: Any, bucket: str, keys: list[str]) -> dict[str, str]:
    return {key: digest(client, bucket, key) for key in keys}


@pytest.fixture
def make_context(make_settings: Callable[..., Settings]
                 ) -> Iterator[Callable[..., ServiceContext]]:
    built: list[ServiceContext] = []

    def make(**environ: str) -> ServiceContext:
        ctx = build_context(make_settings(**environ))
        built.append(ctx)
        return ctx

    yield make
    for ctx in built:
        close_context(ctx)


@pytest.fixture
def s3_ctx(make_context: Callable[..., ServiceContext], s3_environ: dict[str, str],
           postgres_url: str) -> ServiceContext:
    return make_context(**s3_environ, DATABASE_URL=postgres_url)


def upload(ctx: ServiceContext, data: bytes, now: datetime | None = None) -> str:
    return upload_image(ctx, data, now=now).key


def publish(ctx: ServiceContext, key: str) -> None:
    publish_image(ctx, key)


# ---------------------------------------------------------------------------- upload, publish


def test_upload_then_publish_moves_the_objects_between_buckets(
        s3_ctx: ServiceContext, swift: SwiftServer, buckets: Buckets) -> None:
    s3 = swift.s3_client()
    cache_control = s3_ctx.settings.cache_control
    uploads = {".jpg": imagegen.photo_jpeg(640, 480), ".png": imagegen.photo_png(320, 240),
               ".svg": imagegen.svg(300, 200)}
    keys = {ext: upload(s3_ctx, data) for ext, data in uploads.items()}

    every = {k for key in keys.values() for k in image_keys(key)}
    assert present(s3, buckets.incoming, every) == every
    assert present(s3, buckets.active, every) == set()
    expected_type = {".jpg": "image/jpeg", ".png": "image/png", ".svg": "image/svg+xml"}
    for ext, key in keys.items():
        assert key.endswith(ext)
        original = s3.get_object(Bucket=buckets.incoming, Key=key)
        body = original["Body"].read()
        if ext == ".svg":  # stored sanitised
            assert b"<svg" in body
        else:
            assert body == uploads[ext]
        assert original["ContentType"] == expected_type[ext]
        assert original["CacheControl"] == cache_control
        for variant in variant_keys(key):
            head = s3.head_object(Bucket=buckets.incoming, Key=variant)
            assert head["ContentType"] == ("image/png" if ext == ".png" else "image/jpeg")
            assert head["CacheControl"] == cache_control
        record = s3_ctx.records.by_file(key)
        assert record is not None and record.status == ImageStatus.INCOMING.value
    jpg = keys[".jpg"]
    uploaded = digests(s3, buckets.incoming, image_keys(jpg))

    publish(s3_ctx, jpg)

    assert present(s3, buckets.active, every) == set(image_keys(jpg))
    assert digests(s3, buckets.active, image_keys(jpg)) == uploaded
    assert present(s3, buckets.incoming, every) == every - set(image_keys(jpg))
    for key in image_keys(jpg):
        head = s3.head_object(Bucket=buckets.active, Key=key)
        assert head["ContentType"] == "image/jpeg"
        assert head["CacheControl"] == cache_control
    record = s3_ctx.records.by_file(jpg)
    assert record is not None and record.status == "active" and record.published_at
    anonymous = httpx.get(swift.public_url(buckets.active, jpg), timeout=10)
    assert anonymous.status_code == 200
    assert anonymous.content == uploads[".jpg"]
    assert httpx.get(swift.public_url(buckets.incoming, keys[".png"]),
                     timeout=10).status_code in (401, 403)


# ---------------------------------------------------------------------------- store going down


class StopsTheStoreOnFirstDelete:
    """The incoming store, except that its first delete stops Swift's proxy just before it
    runs: publish has copied everything and then loses the object store."""

    def __init__(self, inner: Store, swift: SwiftServer) -> None:
        self.inner, self.swift = inner, swift
        self.name = inner.name
        self.deletes = 0
        self.stop_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete(self, key: str) -> None:
        self.deletes += 1
        if self.deletes == 1:
            started = time.monotonic()
            self.swift.stop_proxy()
            self.stop_seconds = time.monotonic() - started
        self.inner.delete(key)


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_publish_completes_after_the_store_went_down_mid_way(
        backend: str, request: pytest.FixtureRequest,
        make_context: Callable[..., ServiceContext], postgres_url: str, swift: SwiftServer,
        buckets: Buckets) -> None:
    environ: dict[str, str] = request.getfixturevalue(f"{backend}_environ")
    ctx = make_context(**environ, DATABASE_URL=postgres_url)
    s3 = swift.s3_client()
    key = upload(ctx, imagegen.photo_jpeg(800, 600))
    uploaded = digests(s3, buckets.incoming, image_keys(key))
    assert len(uploaded) == 4
    failing = StopsTheStoreOnFirstDelete(ctx.stores.incoming, swift)
    broken = dataclasses.replace(ctx, stores=dataclasses.replace(ctx.stores, incoming=failing))

    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            publish(broken, key)
        elapsed = time.monotonic() - started - failing.stop_seconds
        assert failing.deletes == 1
        assert elapsed < STORE_DOWN_BUDGET, f"publish took {elapsed:.1f} s to give up"
    finally:
        swift.start_proxy()

    record = ctx.records.by_file(key)
    assert record is not None and record.status == "incoming"  # not marked before the move
    assert present(s3, buckets.active, image_keys(key)) == set(image_keys(key))  # copies done

    publish(ctx, key)

    assert present(s3, buckets.active, image_keys(key)) == set(image_keys(key))
    assert digests(s3, buckets.active, image_keys(key)) == uploaded
    assert present(s3, buckets.incoming, image_keys(key)) == set()
    record = ctx.records.by_file(key)
    assert record is not None and record.status == "active" and record.published_at


# ---------------------------------------------------------------------------- publish vs expire


@dataclass(frozen=True)
class KeyState:
    active: frozenset[str]
    incoming: frozenset[str]
    status: str | None


def key_state(key: str, ctx: ServiceContext, active: set[str], incoming: set[str]) -> KeyState:
    wanted = set(image_keys(key))
    record = ctx.records.by_file(key)
    return KeyState(frozenset(active & wanted), frozenset(incoming & wanted),
                    record.status if record else None)


def check_consistent(key: str, state: KeyState) -> str:
    """`published` or `expired`; fails on anything in between."""
    if state.active == frozenset(image_keys(key)):
        assert state.incoming == frozenset(), (key, state)
        assert state.status == ImageStatus.ACTIVE.value, (key, state)
        return "published"
    assert state.active == frozenset(), (key, state)  # no orphan variants, no lone original
    assert state.incoming == frozenset(), (key, state)
    assert state.status != ImageStatus.ACTIVE.value, (key, state)
    return "expired"


def test_publish_racing_expire_leaves_every_image_in_one_consistent_state(
        s3_ctx: ServiceContext, swift: SwiftServer, buckets: Buckets) -> None:
    s3 = swift.s3_client()
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    images = [imagegen.photo_jpeg(240 + index, 180) if index % 2 else
              imagegen.photo_png(200, 150 + index) for index in range(20)]
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(lambda data: upload(s3_ctx, data, now=three_hours_ago),
                             images))
    originals = {key: hashlib.sha256(data).hexdigest()
                 for key, data in zip(keys, images, strict=True)}
    every = {k for key in keys for k in image_keys(key)}
    assert len(every) == 80 and present(s3, buckets.incoming, every) == every
    start = threading.Barrier(2)
    expiry: list[ExpiryReport] = []
    outcomes: dict[str, str] = {}
    errors: list[BaseException] = []

    def expire() -> None:
        try:
            start.wait(timeout=30)
            expiry.append(expire_incoming(s3_ctx, older_than=2 * 3600))
        except BaseException as exc:  # reported below
            errors.append(exc)

    def publish_all() -> None:
        try:
            start.wait(timeout=30)
            for key in sorted(keys, reverse=True):  # expire goes in key order: they meet
                try:
                    publish(s3_ctx, key)
                    outcomes[key] = "200"
                except NotFound:
                    outcomes[key] = "404"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=expire), threading.Thread(target=publish_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "publish or expire hung"
    assert errors == []
    assert len(expiry) == 1 and len(outcomes) == len(keys)

    active, incoming = present(s3, buckets.active, every), present(s3, buckets.incoming, every)
    states = {key: check_consistent(key, key_state(key, s3_ctx, active, incoming))
              for key in keys}
    published = [key for key, state in states.items() if state == "published"]
    assert active == {k for key in published for k in image_keys(key)}
    assert incoming == set()
    for key in published:
        assert digest(s3, buckets.active, key) == originals[key]
    for key, outcome in outcomes.items():  # a publish that succeeded stays published
        if outcome == "200":
            assert states[key] == "published", key
    print(f"race outcome: {len(published)} published, {len(keys) - len(published)} expired; "
          f"publish answered {sorted(outcomes.values()).count('200')} x 200")
