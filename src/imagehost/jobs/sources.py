"""Where migrate reads v5 originals: a bucket, or a base URL."""

from __future__ import annotations

import time
from typing import Protocol

import httpx

from imagehost.config import Settings
from imagehost.errors import ConfigError, NotFound, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.storage.factory import s3_client
from imagehost.storage.s3 import S3Store


class OriginalSource(Protocol):
    def fetch(self, key: str) -> bytes: ...


class UrlSource:
    def __init__(self, base_url: str, timeout: float = 60.0, attempts: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)

    def fetch(self, key: str) -> bytes:
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self.client.get(f"{self.base_url}/{key}")
            except httpx.HTTPError as exc:
                if attempt == self.attempts:
                    raise StoreUnavailable(f"v5 source unreachable for {key}: {exc}") from exc
                time.sleep(0.5 * attempt)
                continue
            if answer.status_code == 404:
                raise NotFound(f"{key} is not in the v5 source (404).")
            if answer.status_code >= 500 and attempt < self.attempts:
                time.sleep(0.5 * attempt)
                continue
            if answer.status_code != 200:
                raise StoreUnavailable(f"v5 source answered {answer.status_code} for {key}.")
            return answer.content
        raise StoreUnavailable(f"v5 source failed for {key}.")


class BucketSource:
    def __init__(self, store: S3Store) -> None:
        self.store = store

    def fetch(self, key: str) -> bytes:
        return self.store.get(key)


def build_source(settings: Settings) -> OriginalSource:
    if settings.v5_bucket:
        client = s3_client(settings, settings.v5_prefix)
        return BucketSource(S3Store("v5", client, settings.v5_bucket,
                                    account=settings.v5_prefix or "",
                                    cache_control=settings.cache_control, acl=None,
                                    content_type_of=content_type_of,
                                    multipart_threshold=settings.multipart_threshold))
    if settings.v5_base_url:
        return UrlSource(settings.v5_base_url)
    raise ConfigError("V5_BUCKET or V5_BASE_URL is required for migrate: where the v5 "
                      "originals are.")
