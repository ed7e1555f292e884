"""A render's writes below the memory tier (disk, cache store and its catalog row) run on the
cache's writer thread after the answer: the answer does not wait for them, the bytes are
served meanwhile, and a purge waits for them, so nothing of a deleted image is written after."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from imagehost.service import derived_cache
from imagehost.service.context import ServiceContext
from imagehost.service.derived import ImageAnswer, ImageRequest, serve_derived
from imagehost.service.records import store_record
from tests import imagegen


class BlockedStore:
    """Holds every cache-store write until released."""

    def __init__(self, ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        put = ctx.cache.store.put

        def blocked_put(key: str, data: bytes, content_type: str | None = None) -> None:
            self.entered.set()
            assert self.released.wait(30)
            put(key, data, content_type)

        monkeypatch.setattr(ctx.cache.store, "put", blocked_put)


@pytest.fixture
def blocked(ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlockedStore]:
    store = BlockedStore(ctx, monkeypatch)
    yield store
    store.released.set()


def render(ctx: ServiceContext, record_id: int, query: list[tuple[str, str]], *,
           write_behind: bool = True) -> ImageAnswer | None:
    return asyncio.run(serve_derived(ctx, ImageRequest(record_id, query),
                                     write_behind=write_behind))


def stored_keys(ctx: ServiceContext, record_id: int) -> list[str]:
    return [info.key for info in ctx.cache.store.list(f"derived/{record_id}/")]


def record_batches(ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The keys of each batch the writer records in the catalog."""
    batches: list[list[str]] = []
    use_many = ctx.cache.objects.use_many

    def recording(objects: list[tuple[str, int, int]], now: datetime) -> int:
        batches.append([key for key, _, _ in objects])
        return use_many(objects, now)

    monkeypatch.setattr(ctx.cache.objects, "use_many", recording)
    return batches


def test_the_answer_comes_before_the_writes_below_memory(ctx: ServiceContext,
                                                        blocked: BlockedStore) -> None:
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    answer = render(ctx, record.id, [("w", "300")])

    assert answer is not None and answer.source == "rendered" and answer.after is not None
    assert blocked.entered.wait(30)                     # the write is running, held
    [key] = ctx.cache.memory.keys(f"derived/{record.id}/")
    assert stored_keys(ctx, record.id) == []
    ctx.cache.memory.purge(f"derived/{record.id}/")        # as if evicted: the pending write
    assert ctx.cache.get(key) == (answer.body, "coalesced")  # serves it

    blocked.released.set()
    asyncio.run(answer.after())
    assert stored_keys(ctx, record.id) == [key]
    assert ctx.cache.disk is not None and ctx.cache.disk.get(key) == answer.body
    assert ctx.cache.objects.total() == len(answer.body)      # the catalog counts it


def test_without_write_behind_every_tier_is_written_before_the_answer(
        ctx: ServiceContext) -> None:
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    answer = render(ctx, record.id, [("w", "300")], write_behind=False)

    assert answer is not None and answer.after is None
    assert len(stored_keys(ctx, record.id)) == 1


def test_a_purge_waits_for_the_writes_of_a_render(ctx: ServiceContext,
                                                 blocked: BlockedStore) -> None:
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    render(ctx, record.id, [("w", "300")])
    assert blocked.entered.wait(30)

    purge = threading.Thread(target=ctx.cache.purge, args=(record.id,))
    purge.start()
    purge.join(0.5)
    assert purge.is_alive()                             # held by the pending write
    blocked.released.set()
    purge.join(30)

    assert not purge.is_alive()
    assert stored_keys(ctx, record.id) == []
    assert ctx.cache.objects.total() == 0


def test_a_writer_too_far_behind_makes_the_caller_write(ctx: ServiceContext,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived_cache, "WRITE_BEHIND_BYTES", 0)
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    answer = render(ctx, record.id, [("w", "300")])

    assert answer is not None and answer.after is None
    assert len(stored_keys(ctx, record.id)) == 1


def test_writes_queued_meanwhile_go_as_one_batch(ctx: ServiceContext, blocked: BlockedStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    batches = record_batches(ctx, monkeypatch)
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    answers = [render(ctx, record.id, [("w", "300")])]
    assert blocked.entered.wait(30)                     # the first batch holds the writer
    answers += [render(ctx, record.id, [("w", str(side))]) for side in (200, 100)]
    blocked.released.set()
    for answer in answers:
        assert answer is not None and answer.after is not None
        asyncio.run(answer.after())

    assert [len(batch) for batch in batches] == [1, 2]
    assert sorted(stored_keys(ctx, record.id)) == sorted(key for batch in batches for key in batch)
    assert ctx.cache.objects.total() == sum(len(answer.body) for answer in answers if answer)


def test_the_writer_hands_memory_the_memory_tier_freed_back(
        ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(derived_cache, "TRIM_EVERY_BYTES", 1000)
    monkeypatch.setattr(derived_cache, "release_freed_memory", lambda: trims.append(1))
    record = store_record(ctx, imagegen.photo_jpeg(640, 480)).record
    first = render(ctx, record.id, [("w", "300")])
    assert first is not None and first.after is not None
    asyncio.run(first.after())
    assert trims == []                                  # nothing evicted yet

    assert ctx.cache.memory is not None
    ctx.cache.memory.purge(f"derived/{record.id}/")    # frees more than 1000 bytes
    second = render(ctx, record.id, [("w", "200")])
    assert second is not None and second.after is not None
    asyncio.run(second.after())
    assert trims == [1]


def test_the_writer_waits_for_running_renders_to_write_them_in_one_batch(
        ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived_cache, "WRITE_BEHIND_WAIT", 30.0)
    batches = record_batches(ctx, monkeypatch)
    first, second = b"first image", b"second image"
    keys = ["derived/1/abc/w100.jpg", "derived/1/abc/w200.jpg"]

    with ctx.cache.rendering():                         # another render is running
        written = ctx.cache.put(keys[0], first, later=True)
        assert written is not None
        with ctx.cache.rendering():
            later = ctx.cache.put(keys[1], second, later=True)
        assert not written.done()                       # held while a render runs
        assert stored_keys(ctx, 1) == []
    assert written.result(30) is None and later is not None and later.result(30) is None

    assert batches == [keys]
    assert sorted(stored_keys(ctx, 1)) == keys
    assert ctx.cache.disk is not None
    assert [ctx.cache.disk.get(key) for key in keys] == [first, second]
    assert ctx.cache.objects.total() == len(first) + len(second)


def test_the_writer_waits_for_a_render_at_most_write_behind_wait(
        ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived_cache, "WRITE_BEHIND_WAIT", 0.05)
    key = "derived/1/abc/w100.jpg"

    with ctx.cache.rendering():                         # a render that never finishes
        written = ctx.cache.put(key, b"image", later=True)
        assert written is not None and written.result(30) is None
        assert stored_keys(ctx, 1) == [key]


def test_the_disk_tier_keeps_a_batch_but_not_an_item_over_an_eighth_of_its_bound(
        tmp_path: Path) -> None:
    bound = 8 * 1024 * 1024                             # the database's own pages count too
    disk = derived_cache.DiskTier(tmp_path / "disk", max_bytes=bound)
    try:
        disk.put_many([("derived/1/a/small.jpg", b"s" * 500),
                       ("derived/1/a/large.jpg", b"l" * (bound // 8 + 1)),
                       ("derived/2/b/small.jpg", b"t" * 700)])

        assert disk.get("derived/1/a/small.jpg") == b"s" * 500
        assert disk.get("derived/1/a/large.jpg") is None
        assert disk.get("derived/2/b/small.jpg") == b"t" * 700
        disk.purge("derived/1/")
        assert sorted(disk.keys()) == ["derived/2/b/small.jpg"]
    finally:
        disk.close()


def test_a_disk_tier_locked_by_another_process_drops_the_batch_without_waiting(
        tmp_path: Path) -> None:
    disk = derived_cache.DiskTier(tmp_path / "disk", max_bytes=8 * 1024 * 1024, timeout=0.1)
    other = sqlite3.connect(tmp_path / "disk" / "cache.db", timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")                # another worker holds the write lock
        began = time.monotonic()
        disk.put_many([("derived/1/a/small.jpg", b"s" * 500)])
        assert time.monotonic() - began < 5
        other.rollback()

        assert disk.get("derived/1/a/small.jpg") is None
        disk.put_many([("derived/1/a/small.jpg", b"s" * 500)])
        assert disk.get("derived/1/a/small.jpg") == b"s" * 500
    finally:
        other.close()
        disk.close()
