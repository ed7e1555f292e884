"""PlanCache: a plan counts only for the record object it was made for (a record read again,
after a write or its cache entry's expiry, is a new object), per query and Accept header,
at most `max_items` plans with the oldest going first."""

from __future__ import annotations

from imagehost.service.plan_cache import PlanCache
from tests.unit.test_record_cache import record

QUERY = (("w", "300"), ("format", "webp"))


def test_a_plan_is_found_for_the_same_record_query_and_accept() -> None:
    plans: PlanCache[str] = PlanCache()
    current = record(1)
    plans.put(current, QUERY, "image/webp", "plan A")

    assert plans.get(current, QUERY, "image/webp") == "plan A"
    assert plans.get(current, (("w", "300"),), "image/webp") is None
    assert plans.get(current, QUERY, "image/avif") is None
    assert plans.get(record(2), QUERY, "image/webp") is None


def test_a_record_read_again_does_not_get_the_plan_of_its_previous_object() -> None:
    plans: PlanCache[str] = PlanCache()
    before = record(1)
    plans.put(before, QUERY, "", "plan of before")
    after = record(1, data={"focal": [0.2, 0.8]})            # the same id, read again

    assert plans.get(after, QUERY, "") is None
    plans.put(after, QUERY, "", "plan of after")
    assert plans.get(after, QUERY, "") == "plan of after"
    assert plans.get(before, QUERY, "") is None
    assert len(plans) == 1


def test_past_max_items_the_oldest_plan_goes_first() -> None:
    plans: PlanCache[int] = PlanCache(max_items=2)
    records = [record(i) for i in (1, 2, 3)]
    for index, current in enumerate(records):
        plans.put(current, QUERY, "", index)

    assert [plans.get(current, QUERY, "") for current in records] == [None, 1, 2]
    plans.put(records[1], QUERY, "", 10)                     # replacing does not evict
    assert [plans.get(current, QUERY, "") for current in records] == [None, 10, 2]
