"""The derived-image cache on real folders and a real catalog: memory, disk and cache-store
tiers (and restarts), LRU eviction by bytes, purge on delete and replace, request coalescing,
the source ladder, and the cache store on the real S3 API (Swift)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips
from fastapi.testclient import TestClient

import imagehost.service.derived as derived_service
from imagehost.imaging.derivation import Derivation, parse_derivation, resolve
from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.render import render_derivation
from imagehost.service.context import ServiceContext
from imagehost.service.derived import derive_image, record_info
from imagehost.service.derived_cache import DiskTier, MemoryTier, cache_key
from tests import imagegen
from tests.conftest import SECRET, app_context, files_under
from tests.kit.servers import Buckets, SwiftServer

ADMIN = {"Authorization": f"Bearer {SECRET}"}
JPEG = imagegen.photo_jpeg(400, 300)
SOURCE = "x-imagehost-source"


@pytest.fixture
def make(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """A client (a new app instance each call) on this test's folders and catalog: the cache
    store in tmp_path/cache, the disk tier in tmp_path/derived (tests.kit.environ)."""
    return make_client


def upload(client: TestClient, content: bytes, path: str) -> dict[str, Any]:
    response = client.post("/images", files={"image": (path.rsplit("/", 1)[-1], content)},
                           data={"path": path}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def get(client: TestClient, record_id: int, headers: dict[str, str] | None = None,
        **params: Any) -> httpx.Response:
    return client.get(f"/images/{record_id}/image", params=params, headers=headers)


def metric(client: TestClient, source: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^imagehost_derived_total{{source="{source}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def size(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def disk_keys(ctx: ServiceContext, record_id: int) -> list[str]:
    disk = ctx.cache.disk
    assert disk is not None
    return disk.keys(f"derived/{record_id}/")


def store_keys(root: Path, record_id: int) -> list[str]:
    return [p for p in files_under(root) if p.startswith(f"derived/{record_id}/")]


def memory_keys(ctx: ServiceContext, record_id: int) -> list[str]:
    memory = ctx.cache.memory
    assert memory is not None
    return [k for k in memory._items if k.startswith(f"derived/{record_id}/")]


# -- the tiers ---------------------------------------------------------------------------------

def test_first_request_renders_then_memory(make: Callable[..., TestClient],
                                           tmp_path: Path) -> None:
    client = make()
    record = upload(client, JPEG, "tiers.jpg")
    first = get(client, record["id"], w=120)
    second = get(client, record["id"], w=120)
    assert (first.headers[SOURCE], second.headers[SOURCE]) == ("rendered", "memory")
    assert first.content == second.content and size(first.content) == (120, 90)
    assert (metric(client, "rendered"), metric(client, "memory")) == (1, 1)
    key = cache_key(record["id"], record["sha256"], "w120_inside_q82.jpg")
    # written through to every tier
    assert memory_keys(app_context(client), record["id"]) == [key]
    assert disk_keys(app_context(client), record["id"]) == [key]
    assert (tmp_path / "cache" / key).read_bytes() == first.content


def test_without_memory_the_second_request_is_a_disk_hit(make: Callable[..., TestClient],
                                                         tmp_path: Path) -> None:
    client = make(MEMORY_CACHE_BYTES="0")
    record = upload(client, JPEG, "disk.jpg")
    first = get(client, record["id"], w=120, format="webp")
    second = get(client, record["id"], w=120, format="webp")
    assert (first.headers[SOURCE], second.headers[SOURCE]) == ("rendered", "disk")
    assert first.content == second.content
    [key] = disk_keys(app_context(client), record["id"])
    assert app_context(client).cache.disk.get(key) == first.content


def test_the_disk_tier_survives_a_restart(make: Callable[..., TestClient]) -> None:
    client = make()
    record = upload(client, JPEG, "restart.jpg")
    first = get(client, record["id"], w=150, h=150, fit="cover")
    assert first.headers[SOURCE] == "rendered"
    restarted = make()
    again = get(restarted, record["id"], w=150, h=150, fit="cover")
    assert again.headers[SOURCE] == "disk"
    assert again.content == first.content
    assert get(restarted, record["id"], w=150, h=150, fit="cover").headers[SOURCE] == "memory"
    assert metric(restarted, "rendered") == 0


def test_without_memory_and_disk_the_store_answers(make: Callable[..., TestClient],
                                                   tmp_path: Path) -> None:
    client = make(MEMORY_CACHE_BYTES="0", DISK_CACHE_BYTES="0")
    record = upload(client, JPEG, "store.jpg")
    first = get(client, record["id"], w=100, format="png")
    second = get(client, record["id"], w=100, format="png")
    assert (first.headers[SOURCE], second.headers[SOURCE]) == ("rendered", "store")
    assert first.content == second.content
    key = cache_key(record["id"], record["sha256"], "w100_inside_q90.png")
    assert store_keys(tmp_path / "cache", record["id"]) == [key]
    assert files_under(tmp_path / "derived") == []


def test_a_lower_tier_hit_fills_the_upper_ones(make: Callable[..., TestClient],
                                               tmp_path: Path) -> None:
    client = make()
    record = upload(client, JPEG, "fill.jpg")
    rendered = get(client, record["id"], w=90)
    # another instance with its own (empty) disk folder: the shared store answers
    other = make(DISK_CACHE_FOLDER=str(tmp_path / "other-derived"))
    assert get(other, record["id"], w=90).headers[SOURCE] == "store"
    assert len(disk_keys(app_context(other), record["id"])) == 1
    again = get(other, record["id"], w=90)
    assert again.headers[SOURCE] == "memory"
    assert again.content == rendered.content


# -- eviction ----------------------------------------------------------------------------------

def test_memory_tier_evicts_the_least_recently_used_by_bytes() -> None:
    tier = MemoryTier(8000)                       # items up to 1000 bytes
    keys = [f"derived/1/abc/k{i}.jpg" for i in range(9)]
    for i, key in enumerate(keys[:8]):
        tier.put(key, bytes([i]) * 1000)
    assert (tier.bytes, len(tier)) == (8000, 8)
    assert tier.get(keys[0]) == b"\x00" * 1000    # now the most recently used
    tier.put(keys[8], b"\x08" * 1000)
    assert tier.get(keys[1]) is None              # the least recently used went first
    assert all(tier.get(k) is not None for k in [keys[0], *keys[2:]])
    assert (tier.bytes, len(tier)) == (8000, 8)
    tier.put(keys[2], b"x" * 500)                 # replacing counts the new size only
    assert tier.bytes == 7500
    tier.put("derived/1/abc/big.jpg", b"x" * 1001)    # larger than an eighth: not kept
    assert tier.get("derived/1/abc/big.jpg") is None
    tier.put("derived/2/abc/other.jpg", b"y" * 100)
    tier.purge("derived/1/")
    assert (tier.bytes, len(tier)) == (100, 1)
    assert tier.get("derived/2/abc/other.jpg") == b"y" * 100


def test_disk_tier_evicts_the_least_recently_used_and_survives_a_restart(
        tmp_path: Path) -> None:
    root = tmp_path / "disk"
    tier = DiskTier(root, 1_000_000)              # items up to 125 000 bytes
    keys = [f"derived/{1 + i % 2}/abc/k{i:03}.jpg" for i in range(250)]
    item = {key: bytes([i % 256]) * 5_000 for i, key in enumerate(keys)}
    for key in keys[:100]:
        tier.put(key, item[key])
    assert tier.keys() == sorted(keys[:100])      # 100 x 5 kB and the index fit
    assert tier.get(keys[0]) == item[keys[0]]     # read: now the most recently used
    for key in keys[100:]:
        tier.put(key, item[key])
        assert tier.bytes <= 1_000_000
    kept = set(tier.keys())
    used = [*keys[1:100], keys[0], *keys[100:]]
    evicted = [k for k in used if k not in kept]
    # the least recently used went first, one by one: not the one read
    assert evicted == used[:len(evicted)] and 50 < len(evicted) < 99
    assert all(tier.get(k) == item[k] for k in used if k in kept)   # in the same order
    tier.put("derived/1/abc/big.jpg", b"x" * 125_001)  # larger than an eighth: not kept
    assert tier.get("derived/1/abc/big.jpg") is None
    assert tier.get(keys[0]) is not None          # keys[0] read last
    tier.close()
    # a new tier on the same folder (a restart) finds everything in the same order ...
    restarted = DiskTier(root, 1_000_000)
    assert set(restarted.keys()) == kept
    restarted.close()
    # ... and evicts the least recently used at start when the bound has shrunk
    smaller = DiskTier(root, 500_000)
    left = set(smaller.keys())
    assert smaller.bytes <= 500_000 and len(left) > 40
    used = [k for k in used if k in kept and k != keys[0]] + [keys[0]]
    assert left == set(used[len(kept) - len(left):])
    smaller.purge("derived/1/")
    assert smaller.keys() == sorted(k for k in left if k.startswith("derived/2/"))


def test_disk_tier_removes_the_files_of_the_old_layout(tmp_path: Path) -> None:
    root = tmp_path / "disk"
    (root / "12").mkdir(parents=True)
    (root / "12" / ("ab" * 20)).write_bytes(b"old derived image")
    (root / "12" / ".tmpabandoned").write_bytes(b"half")
    (root / "notes").mkdir()
    (root / "notes" / "keep.txt").write_text("not ours")
    tier = DiskTier(root, 100_000)
    assert not (root / "12").exists()
    assert (root / "notes" / "keep.txt").read_text() == "not ours"
    assert tier.keys() == []


# -- purge -------------------------------------------------------------------------------------

def test_delete_purges_every_tier(make: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make()
    ctx = app_context(client)
    record = upload(client, imagegen.jpeg_with_exif(300, 400, orientation=6), "purge/gone.jpg")
    keep = upload(client, imagegen.photo_jpeg(200, 150), "purge/kept.jpg")
    for params in ({"w": 100}, {"w": 80, "format": "webp"}, {"meta": "true"}):
        assert get(client, record["id"], **params).status_code == 200
    assert get(client, keep["id"], w=100).status_code == 200
    assert len(memory_keys(ctx, record["id"])) == 3
    assert len(disk_keys(ctx, record["id"])) == 3
    assert len(store_keys(tmp_path / "cache", record["id"])) == 3
    response = client.delete(f"/images/{record['id']}", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert memory_keys(ctx, record["id"]) == []
    assert disk_keys(ctx, record["id"]) == []
    assert store_keys(tmp_path / "cache", record["id"]) == []
    assert get(client, record["id"], w=100).status_code == 404
    # the other image's derivatives stay
    assert len(memory_keys(ctx, keep["id"])) == 1
    assert len(disk_keys(ctx, keep["id"])) == 1
    assert len(store_keys(tmp_path / "cache", keep["id"])) == 1
    assert get(client, keep["id"], w=100).headers[SOURCE] == "memory"


def test_a_replaced_image_never_serves_its_old_derivatives(make: Callable[..., TestClient],
                                                           tmp_path: Path) -> None:
    client = make()
    ctx = app_context(client)
    old = upload(client, JPEG, "replace/r.jpg")
    before = get(client, old["id"], w=100)
    assert before.headers[SOURCE] == "rendered"
    new_bytes = imagegen.jpeg_with_exif(300, 400, orientation=6, gps=False)
    put = client.put("/images/replace/r.jpg", content=new_bytes,
                     headers={**ADMIN, "Content-Type": "image/jpeg"})
    assert put.status_code == 200, put.text
    new = put.json()
    assert new["id"] == old["id"] and new["sha256"] != old["sha256"]
    old_key = cache_key(old["id"], old["sha256"], "w100_inside_q82.jpg")
    assert memory_keys(ctx, old["id"]) == []
    assert not (tmp_path / "cache" / old_key).exists()
    assert store_keys(tmp_path / "cache", old["id"]) == []
    after = get(client, old["id"], w=100)
    assert after.headers[SOURCE] == "rendered"
    assert after.content != before.content
    # the same bytes as a first upload of the new image gives
    twin = upload(client, new_bytes, "replace/twin.jpg")
    assert get(client, twin["id"], w=100).content == after.content
    # a client holding the old ETag gets the new image, not a 304
    assert after.headers["etag"] != before.headers["etag"]
    revalidated = get(client, old["id"], headers={"If-None-Match": before.headers["etag"]},
                      w=100)
    assert revalidated.status_code == 200
    assert revalidated.content == after.content


# -- coalescing --------------------------------------------------------------------------------

def test_concurrent_identical_requests_render_once(make: Callable[..., TestClient],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = make()
    ctx = app_context(client)
    record = upload(client, imagegen.photo_jpeg(800, 600), "burst.jpg")
    calls: list[str] = []
    asked: list[str] = []
    lock = threading.Lock()
    real = derived_service.render_derivation
    real_pending = ctx.single_flight.pending

    def counted_pending(key: str) -> bool:
        asked.append(key)                         # a request about to lead or join the render
        return real_pending(key)

    def slow_render(*args: Any, **kwargs: Any) -> bytes:
        with lock:
            calls.append(threading.current_thread().name)
        deadline = time.monotonic() + 10          # until every request waits for this render
        while len(asked) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(ctx.single_flight, "pending", counted_pending)
    monkeypatch.setattr(derived_service, "render_derivation", slow_render)
    rendered_before = metric(client, "rendered")

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(
                http.get(f"/images/{record['id']}/image", params={"w": 333, "format": "webp"})
                for _ in range(8)))

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.content for r in responses}) == 1
    assert size(responses[0].content) == (333, 250)
    assert len(asked) == 8 and len(calls) == 1
    assert len(ctx.single_flight) == 0
    assert metric(client, "rendered") == rendered_before + 1


def test_concurrent_failures_are_shared_and_not_cached(make: Callable[..., TestClient],
                                                       tmp_path: Path) -> None:
    client = make()
    record = upload(client, imagegen.photo_png(300, 200), "burst/broken.png")
    (tmp_path / "active" / "burst/broken.png").write_bytes(imagegen.bmp_like_garbage())

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(
                http.get(f"/images/{record['id']}/image", params={"format": "webp"})
                for _ in range(4)))

    responses = asyncio.run(burst())
    assert all(400 <= r.status_code < 600 for r in responses)
    assert all(r.json()["error"] for r in responses)
    assert len(app_context(client).single_flight) == 0
    assert memory_keys(app_context(client), record["id"]) == []
    assert store_keys(tmp_path / "cache", record["id"]) == []


# -- the ladder --------------------------------------------------------------------------------

def resolved(ctx: ServiceContext, query: list[tuple[str, str]],
             source: ImageFormat) -> Derivation:
    settings = ctx.settings
    derivation = parse_derivation(query, max_side=settings.derived_max_side,
                                  thumbnail_size=settings.thumbnail_size,
                                  thumbnail_enhancements=settings.thumbnail_enhancements)
    return resolve(derivation, source, "", quality=settings.derived_quality, focal=None)


def test_a_miss_renders_from_the_smallest_step_of_the_ladder_at_least_1_5x_the_output(
        make: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make(MEMORY_CACHE_BYTES="0", DISK_CACHE_BYTES="0")
    ctx = app_context(client)
    original = imagegen.photo_jpeg(4000, 3000)
    record = upload(client, original, "ladder/big.jpg")
    response = get(client, record["id"], w=512)
    assert response.headers[SOURCE] == "rendered"
    assert size(response.content) == (512, 384)
    catalog_record = ctx.records.get(record["id"])
    large, small = "ladder/big.jpg.ladder-1024", "ladder/big.jpg.ladder-256"
    assert catalog_record.ladder == [large, small]
    expectations = [
        ([("w", "512")], large, (512, 384)),            # 1024x768 >= 1.5 x 512x384
        ([("w", "300")], large, (300, 225)),            # 256x192 < 1.5 x 300x225
        ([("w", "100"), ("h", "100"), ("fit", "cover")], small, (100, 100)),  # 133x100 first
        ([("w", "500"), ("h", "500"), ("fit", "cover")], large, (500, 500)),   # 667x500
        ([("w", "512"), ("h", "512"), ("fit", "cover")], "ladder/big.jpg", (512, 512)),
        ([("w", "1000"), ("h", "100"), ("fit", "fill")], "ladder/big.jpg", (1000, 100)),
        ([("w", "700")], "ladder/big.jpg", (700, 525)),  # 1.5 x 700 > 1024
        ([("w", "200"), ("h", "200"), ("fit", "cover"), ("gravity", "attention")], large,
         (200, 200)),
    ]
    for query, source_key, expected in expectations:
        derivation = resolved(ctx, [*query, ("quality", "77")], ImageFormat.JPEG)
        derived = derive_image(ctx, catalog_record, derivation)
        assert derived.source == f"rendered from {source_key}", query
        assert size(derived.data) == expected == derivation.output_size(4000, 3000), query
        # the size computed from the original is the size a render from the original gives
        direct = render_derivation(original, record_info(catalog_record),
                                   record_info(catalog_record), derivation,
                                   avif_effort=ctx.settings.avif_effort)
        assert size(direct) == expected, query
    # a cached answer names its tier
    again = derive_image(ctx, catalog_record, resolved(ctx, [("w", "300"), ("quality", "77")],
                                                       ImageFormat.JPEG))
    assert again.source == "store"


def test_a_miss_falls_back_to_the_original_when_a_step_is_missing(
        make: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make()
    ctx = app_context(client)
    record = upload(client, imagegen.photo_jpeg(1000, 750), "ladder/gap.jpg")
    (tmp_path / "active" / "ladder/gap.jpg.ladder-256").unlink()
    derived = derive_image(ctx, ctx.records.get(record["id"]),
                           resolved(ctx, [("w", "120")], ImageFormat.JPEG))
    assert derived.source == "rendered from ladder/gap.jpg"
    assert size(derived.data) == (120, 90)


# -- the cache store on the real S3 API --------------------------------------------------------

def test_cache_store_on_s3(make: Callable[..., TestClient], s3_environ: dict[str, str],
                           swift: SwiftServer, buckets: Buckets) -> None:
    client = make(**s3_environ)
    record = upload(client, JPEG, "s3/photo.jpg")
    first = get(client, record["id"], w=100)
    assert first.status_code == 200, first.text
    assert first.headers[SOURCE] == "rendered"
    s3 = swift.s3_client()
    key = f"derived/{record['id']}/{record['sha256'][:16]}/w100_inside_q82.jpg"
    listed = s3.list_objects_v2(Bucket=buckets.cache, Prefix=f"derived/{record['id']}/")
    assert [item["Key"] for item in listed.get("Contents", [])] == [key]
    stored = s3.get_object(Bucket=buckets.cache, Key=key)
    assert stored["Body"].read() == first.content
    assert stored["ContentType"] == "image/jpeg"
    # a presigned URL of the cache bucket fetches the same bytes with a plain client
    answer = get(client, record["id"], w=100, url="true").json()
    fetched = httpx.get(answer["url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == first.content
    # without memory and disk the bucket answers
    bare = make(**s3_environ, MEMORY_CACHE_BYTES="0", DISK_CACHE_BYTES="0")
    again = get(bare, record["id"], w=100)
    assert again.headers[SOURCE] == "store"
    assert again.content == first.content
    # deleting the image empties its prefix
    assert client.delete(f"/images/{record['id']}", headers=ADMIN).status_code == 200
    listed = s3.list_objects_v2(Bucket=buckets.cache, Prefix=f"derived/{record['id']}/")
    assert listed.get("Contents", []) == []
