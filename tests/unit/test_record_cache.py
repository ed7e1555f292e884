"""RecordCache: active records kept `ttl` seconds (on an injected clock), at most `max_items`
(the least recently stored go first), nothing when ttl is 0, never a non-active record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.service.record_cache import RecordCache

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(record_id: int, status: str = ImageStatus.ACTIVE.value,
           data: dict | None = None) -> ImageRecord:
    return ImageRecord(id=record_id, key=f"{record_id}_1.jpg", status=status, format="jpeg",
                       width=10, height=20, bytes=99, sha256=f"{record_id:064x}", variants=[],
                       data=data or {}, created_at=T0,
                       published_at=T0 if status == ImageStatus.ACTIVE.value else None)


def test_a_record_is_kept_until_its_ttl_has_passed() -> None:
    clock = FakeClock()
    cache = RecordCache(10, clock=clock)
    stored = record(1)
    cache.put(stored)

    assert cache.get(1) is stored
    assert len(cache) == 1
    clock.now += 9.999
    assert cache.get(1) is stored
    clock.now += 0.001                       # exactly ttl after the put: expired
    assert cache.get(1) is None
    assert len(cache) == 0                   # get dropped the expired entry
    clock.now -= 5                           # even if the clock went back, it is gone
    assert cache.get(1) is None


def test_each_record_expires_on_its_own_schedule() -> None:
    clock = FakeClock()
    cache = RecordCache(10, clock=clock)
    cache.put(record(1))
    clock.now += 6
    cache.put(record(2))
    clock.now += 5                           # 11 s after 1, 5 s after 2

    assert cache.get(1) is None
    assert cache.get(2) is not None


def test_putting_again_replaces_the_record_and_restarts_its_ttl() -> None:
    clock = FakeClock()
    cache = RecordCache(10, clock=clock)
    cache.put(record(1, data={"v": 1}))
    clock.now += 8
    newer = record(1, data={"v": 2})
    cache.put(newer)
    clock.now += 8                           # 16 s after the first put, 8 after the second

    assert cache.get(1) is newer
    assert len(cache) == 1


def test_unknown_id_is_none() -> None:
    cache = RecordCache(10, clock=FakeClock())
    cache.put(record(1))
    assert cache.get(2) is None


def test_max_items_evicts_the_least_recently_stored_first() -> None:
    cache = RecordCache(100, max_items=3, clock=FakeClock())
    for record_id in (1, 2, 3):
        cache.put(record(record_id))
    assert cache.get(1) is not None          # a get does not count as storing

    cache.put(record(4))

    assert len(cache) == 3
    assert cache.get(1) is None
    assert [cache.get(i) is not None for i in (2, 3, 4)] == [True, True, True]
    cache.put(record(5))
    assert cache.get(2) is None
    assert [cache.get(i) is not None for i in (3, 4, 5)] == [True, True, True]


def test_putting_again_makes_a_record_the_most_recently_stored() -> None:
    cache = RecordCache(100, max_items=3, clock=FakeClock())
    for record_id in (1, 2, 3):
        cache.put(record(record_id))
    cache.put(record(1))                     # refreshed: 2 is now the oldest

    cache.put(record(4))

    assert len(cache) == 3
    assert cache.get(2) is None
    assert [cache.get(i) is not None for i in (1, 3, 4)] == [True, True, True]


@pytest.mark.parametrize("status", [ImageStatus.INCOMING.value, ImageStatus.DELETED.value])
def test_non_active_records_are_not_stored(status: str) -> None:
    cache = RecordCache(10, clock=FakeClock())
    cache.put(record(1, status=status))

    assert cache.get(1) is None
    assert len(cache) == 0


def test_a_non_active_put_leaves_an_earlier_active_entry_alone() -> None:
    """put ignores a non-active record; it is not a way to drop an entry (writes forget)."""
    cache = RecordCache(10, clock=FakeClock())
    active = record(1)
    cache.put(active)
    cache.put(record(2, status=ImageStatus.INCOMING.value))

    assert len(cache) == 1
    assert cache.get(1) is active
    assert cache.get(2) is None


@pytest.mark.parametrize("ttl", [0, 0.0, -1])
def test_ttl_zero_or_less_stores_nothing(ttl: float) -> None:
    cache = RecordCache(ttl, clock=FakeClock())
    cache.put(record(1))

    assert cache.get(1) is None
    assert len(cache) == 0


def test_forget_drops_one_record_and_refuses_reads_that_started_before_it() -> None:
    cache = RecordCache(10, clock=FakeClock())
    cache.put(record(1))
    cache.put(record(2))
    read_at = cache.generation               # a read of record 3 starts
    cache.forget(1)                          # a write of record 1 ends meanwhile

    assert cache.get(1) is None
    assert cache.get(2) is not None
    cache.put(record(3), read_at=read_at)    # the read may predate the write: refused
    assert cache.get(3) is None
    cache.put(record(3), read_at=cache.generation)
    assert cache.get(3) is not None


def test_forget_without_an_id_drops_everything() -> None:
    clock = FakeClock()
    cache = RecordCache(10, clock=clock)
    for record_id in (1, 2, 3):
        cache.put(record(record_id))

    cache.forget()

    assert len(cache) == 0
    assert [cache.get(i) for i in (1, 2, 3)] == [None, None, None]
    cache.put(record(2))                     # still usable afterwards
    assert cache.get(2) is not None and len(cache) == 1


def test_the_default_clock_is_monotonic_time() -> None:
    cache = RecordCache(60)
    cache.put(record(1))
    assert cache.get(1) is not None
    assert cache.max_items == 10_000
