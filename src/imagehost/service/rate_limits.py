"""Per-client rate limits of uploads and renders: a token bucket per client, in this process.

A client is its API key when it gives a known one, else its address (the address a trusted
proxy forwards: FORWARDED_ALLOW_IPS). Each process counts on its own, so N workers allow up to
N times the rate."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from imagehost.config import Settings
from imagehost.errors import RateLimited
from imagehost.values import parse_rate

MAX_CLIENTS = 65_536
"""Buckets kept; beyond it the least recently seen (most likely full again) are dropped."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimit:
    """`count` requests per `period` seconds and client, refilled evenly: a burst of `count`,
    then one every `period / count` seconds. `None` as the rate lets everything through."""

    def __init__(self, name: str, rate: tuple[int, float] | None,
                 clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        self.name = name
        self.rate = rate
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate is not None

    def wait(self, client: str) -> float:
        """Take one request from `client`'s bucket: 0 when allowed, else the seconds until
        the next one is (and nothing is taken)."""
        if self.rate is None:
            return 0.0
        count, period = self.rate
        per_second = count / period
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(client, None)
            if bucket is None:
                bucket = _Bucket(float(count), now)
            else:
                bucket.tokens = min(count, bucket.tokens + (now - bucket.updated) * per_second)
                bucket.updated = now
            self._buckets[client] = bucket
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / per_second

    def take(self, client: str) -> None:
        """Take one request from `client`'s bucket; RateLimited (with Retry-After) when
        empty."""
        seconds = self.wait(client)
        if seconds:
            raise self.refusal(seconds)

    def refusal(self, seconds: float) -> RateLimited:
        assert self.rate is not None
        count, period = self.rate
        return RateLimited(f"Too many {self.name}: at most {count} per {period:g} s for each "
                           "client; retry later.", retry_after=max(1, math.ceil(seconds)))


@dataclass(frozen=True)
class RateLimits:
    uploads: RateLimit
    """POST /upload, POST and PUT of images on /images, POST /import."""
    renders: RateLimit
    """Derived images that are in no cache tier."""

    @classmethod
    def from_settings(cls, settings: Settings,
                      clock: Callable[[], float] = time.monotonic) -> RateLimits:
        return cls(RateLimit("uploads", parse_rate(settings.rate_limit_uploads), clock),
                   RateLimit("renders", parse_rate(settings.rate_limit_renders), clock))

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests count time on their own clock."""
        self.uploads.clock = self.renders.clock = clock


def client_of(settings: Settings, key: str | None, address: str | None) -> str:
    """Who a limit counts against: a known API key, else the address (an unknown key would
    otherwise buy a fresh bucket with every spelling)."""
    if key and settings.scopes_of(key):
        return "key:" + key
    return "address:" + (address or "unknown")
