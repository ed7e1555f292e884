"""The size bounds of the derived-image caches hold across processes and instances: the cache
store's (CACHE_STORE_MAX_BYTES, kept in the shared catalog, least recently used first, on the
local store with SQLite and on S3 with PostgreSQL), its age limit (CACHE_STORE_MAX_AGE, by
expire), purges keeping its accounting right, and the disk tier's bound with two processes
writing into one folder."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehost.catalog.models import DerivedObject
from imagehost.service.derived_cache import TOUCH_INTERVAL, DerivedCache, DiskTier, cache_key
from imagehost.service.expiry import expire_incoming
from tests import imagegen
from tests.conftest import SECRET, app_context
from tests.kit.disk_writer import fill_disk_tier

ADMIN = {"Authorization": f"Bearer {SECRET}"}
NO_UPPER_TIERS = {"MEMORY_CACHE_BYTES": "0", "DISK_CACHE_BYTES": "0"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def stored(cache: DerivedCache) -> dict[str, int]:
    """The derived objects in the cache store, with their sizes."""
    return {info.key: info.size for info in cache.store.list("derived/")}


def rows(cache: DerivedCache) -> dict[str, int]:
    with Session(cache.objects.engine) as session:
        return {row.key: row.bytes for row in session.scalars(select(DerivedObject))}


@pytest.fixture(params=["local-sqlite", "s3-postgresql"])
def shared_environ(request: pytest.FixtureRequest) -> dict[str, str]:
    """Two instances on one cache store and one catalog."""
    if request.param == "local-sqlite":
        return dict(NO_UPPER_TIERS)
    return {**NO_UPPER_TIERS, **request.getfixturevalue("s3_environ"),
            "DATABASE_URL": request.getfixturevalue("postgres_url")}


def test_the_cache_store_bound_holds_across_two_instances(
        make_client: Callable[..., TestClient], shared_environ: dict[str, str]) -> None:
    bound = 30_000
    first = make_client(**shared_environ, CACHE_STORE_MAX_BYTES=str(bound))
    second = make_client(**shared_environ, CACHE_STORE_MAX_BYTES=str(bound))
    upload = first.post("/images", files={"image": ("b.jpg", imagegen.photo_jpeg(900, 600))},
                        data={"path": "bound/b.jpg"}, headers=ADMIN)
    assert upload.status_code == 201, upload.text
    record_id = upload.json()["id"]
    cache = app_context(first).cache
    rendered = 0
    for n, width in enumerate(range(300, 420, 4)):         # 30 sizes, 4-6 kB each
        client = (first, second)[n % 2]
        answer = client.get(f"/images/{record_id}/image", params={"w": width})
        assert answer.status_code == 200, answer.text
        rendered += len(answer.content)
        in_store = stored(cache)
        assert sum(in_store.values()) <= bound, (width, in_store)
        assert rows(cache) == in_store                      # the catalog counts what is there
        assert cache.objects.total() == sum(in_store.values())
    assert rendered > 4 * bound                             # unbounded, the store held all
    # the last rendered are kept; a kept size is a store hit in either instance
    last = cache_key(record_id, upload.json()["sha256"], "w416_inside_q82.jpg")
    assert last in stored(cache)
    again = second.get(f"/images/{record_id}/image", params={"w": 416})
    assert again.headers["x-imagehost-source"] == "store"


def test_the_least_recently_used_go_first_and_hits_count_as_use(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(**NO_UPPER_TIERS, CACHE_STORE_MAX_BYTES="45000")
    cache = app_context(client).cache
    clock = cache.clock = Clock()
    key = {n: f"derived/{n % 3 + 1}/abc/k{n}.jpg" for n in range(1, 9)}
    for n in (1, 2, 3, 4):
        cache.put(key[n], bytes([n]) * 10_000)
        clock.advance(1)
    assert set(stored(cache)) == {key[1], key[2], key[3], key[4]}
    clock.advance(TOUCH_INTERVAL.total_seconds())
    assert cache.get(key[1]) == (bytes([1]) * 10_000, "store")   # used again
    clock.advance(1)
    cache.put(key[5], b"5" * 10_000)                     # 50 000 > 45 000: one goes
    assert set(stored(cache)) == {key[1], key[3], key[4], key[5]}
    clock.advance(1)
    assert cache.get(key[3]) is not None                 # used again
    assert cache.get(key[5]) is not None                 # just stored: not marked again
    clock.advance(1)
    cache.put(key[6], b"6" * 10_000)
    assert set(stored(cache)) == {key[1], key[3], key[5], key[6]}
    clock.advance(1)
    cache.put(key[7], b"7" * 10_000)
    assert set(stored(cache)) == {key[3], key[5], key[6], key[7]}
    clock.advance(1)
    cache.put(key[8], b"8" * 10_000)                     # key[5]'s hit came too soon to count
    assert set(stored(cache)) == {key[3], key[6], key[7], key[8]}
    assert rows(cache) == stored(cache) and cache.objects.total() == 40_000


def test_purge_and_temporary_urls_keep_the_accounting_right(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(**NO_UPPER_TIERS)
    cache = app_context(client).cache
    for record_id in (1, 2):
        for n in range(3):
            cache.put(f"derived/{record_id}/abc/k{n}.jpg", b"x" * (1000 * (n + 1)))
    assert cache.objects.total() == 12_000
    assert cache.purge(1) == 3
    assert rows(cache) == stored(cache) == {f"derived/2/abc/k{n}.jpg": 1000 * (n + 1)
                                            for n in range(3)}
    assert cache.objects.total() == 6_000
    upload = client.post("/images", files={"image": ("t.jpg", imagegen.photo_jpeg(300, 200))},
                         data={"path": "temp/t.jpg"}, headers=ADMIN)
    record_id = upload.json()["id"]
    answer = client.get(f"/images/{record_id}/image", params={"w": 50, "url": "true"},
                        headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert rows(cache) == stored(cache) and len(stored(cache)) == 4
    assert client.delete(f"/images/{record_id}", headers=ADMIN).status_code == 200
    assert rows(cache) == stored(cache) and cache.objects.total() == 6_000


def test_expire_removes_derived_objects_unused_for_the_max_age(
        make_client: Callable[..., TestClient]) -> None:
    client = make_client(**NO_UPPER_TIERS, CACHE_STORE_MAX_AGE="1h")
    ctx = app_context(client)
    clock = ctx.cache.clock = Clock()
    ctx.cache.put("derived/1/abc/old.jpg", b"o" * 100)
    clock.advance(3000)
    ctx.cache.put("derived/1/abc/new.jpg", b"n" * 100)
    clock.advance(700)
    report = expire_incoming(ctx, older_than=7200)
    assert report.derived == ["derived/1/abc/old.jpg"]
    assert rows(ctx.cache) == stored(ctx.cache) == {"derived/1/abc/new.jpg": 100}


def test_a_lowered_bound_is_applied_by_expire(make_client: Callable[..., TestClient]) -> None:
    client = make_client(**NO_UPPER_TIERS)
    cache = app_context(client).cache
    clock = cache.clock = Clock()
    for n in range(5):
        cache.put(f"derived/1/abc/k{n}.jpg", b"x" * 1000)
        clock.advance(1)
    lowered = make_client(**NO_UPPER_TIERS, CACHE_STORE_MAX_BYTES="2500")
    report = expire_incoming(app_context(lowered), older_than=7200)
    assert report.derived == [f"derived/1/abc/k{n}.jpg" for n in range(3)]
    assert rows(cache) == stored(cache) and cache.objects.total() == 2000


# -- the disk tier across processes --------------------------------------------------------

DISK_BOUND = 400_000


def test_the_disk_bound_holds_with_two_processes_on_one_folder(tmp_path: Path) -> None:
    """Two processes write about three times the bound into one folder at once."""
    root = tmp_path / "derived"
    DiskTier(root, DISK_BOUND).close()
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=fill_disk_tier,
                             args=(str(root), DISK_BOUND, worker, start, results))
               for worker in (1, 2)]
    for worker in workers:
        worker.start()
    largest = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    tier = DiskTier(root, DISK_BOUND)
    # each write evicts what is over the bound before it returns: the other process may
    # have written one item in between
    assert all(size <= DISK_BOUND + 12_000 for size in largest), largest
    assert tier.bytes <= DISK_BOUND
    kept = tier.keys()
    assert {k.split("/")[1] for k in kept} == {"1", "2"}
    assert 20 < len(kept) < 120
    assert (root / "cache.db").stat().st_size <= DISK_BOUND + 12_000
