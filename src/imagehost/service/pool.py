"""A bounded pool for blocking work (libvips releases the GIL, so threads scale)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from imagehost.errors import Overloaded

T = TypeVar("T")


class WorkPool:
    """Runs at most `threads` jobs at once with at most `queue` waiting; beyond that the caller
    gets Overloaded (503 + Retry-After) at once instead of queueing without end."""

    def __init__(self, threads: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="imagehost-work")
        self.capacity = threads + queue
        self.in_flight = 0

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.in_flight >= self.capacity:
            raise Overloaded("The server is busy; retry shortly.", retry_after=1)
        self.in_flight += 1
        try:
            future = self._executor.submit(functools.partial(fn, *args, **kwargs))
            return await asyncio.wrap_future(future)
        finally:
            self.in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
