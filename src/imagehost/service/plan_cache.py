"""What derived requests resolved to, by record, query and Accept header: resolving a query
(parse, defaults, cache key, headers) costs twice the memory lookup of a hit.

An entry holds the record object it was resolved for and counts only for that object: the
record cache hands out a new object once the record is written or its entry expires, so a
plan never outlives the record it was made from.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from imagehost.catalog.models import ImageRecord

Plan = TypeVar("Plan")


class PlanCache(Generic[Plan]):
    """At most `max_items` plans (the oldest go first). Used on the event loop only."""

    def __init__(self, max_items: int = 4096) -> None:
        self.max_items = max_items
        self._items: dict[tuple[int, tuple[tuple[str, str], ...], str],
                          tuple[ImageRecord, Plan]] = {}

    def get(self, record: ImageRecord, params: tuple[tuple[str, str], ...],
            accept: str) -> Plan | None:
        item = self._items.get((record.id, params, accept))
        return item[1] if item is not None and item[0] is record else None

    def put(self, record: ImageRecord, params: tuple[tuple[str, str], ...], accept: str,
            plan: Plan) -> None:
        key = (record.id, params, accept)
        if key not in self._items and len(self._items) >= self.max_items:
            self._items.pop(next(iter(self._items)), None)
        self._items[key] = (record, plan)

    def __len__(self) -> int:
        return len(self._items)
