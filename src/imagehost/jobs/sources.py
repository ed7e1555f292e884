"""Where migrate reads v5 originals: a bucket, or a base URL."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from typing import Protocol

from imagehost.config import Settings
from imagehost.errors import ConfigError, NotFound, StoreUnavailable
from imagehost.imaging.formats import content_type_of
from imagehost.storage.factory import s3_client
from imagehost.storage.s3 import S3Store


class OriginalSource(Protocol):
    def fetch(self, key: str) -> bytes: ...


class UrlSource:
    """GET <base_url>/<key> with the standard library: redirects followed, network errors and
    5xx answers retried, 404 a missing original."""

    def __init__(self, base_url: str, timeout: float = 60.0, attempts: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts

    def fetch(self, key: str) -> bytes:
        for attempt in range(1, self.attempts + 1):
            try:
                with urllib.request.urlopen(f"{self.base_url}/{key}",
                                            timeout=self.timeout) as answer:
                    if answer.status != 200:
                        raise StoreUnavailable(
                            f"v5 source answered {answer.status} for {key}.")
                    return answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise NotFound(f"{key} is not in the v5 source (404).") from None
                if exc.code < 500 or attempt == self.attempts:
                    raise StoreUnavailable(
                        f"v5 source answered {exc.code} for {key}.") from None
            except ValueError as exc:  # not a URL urllib can open
                raise StoreUnavailable(f"v5 source {self.base_url!r}: {exc}") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, timeout, reset
                if attempt == self.attempts:
                    raise StoreUnavailable(f"v5 source unreachable for {key}: {exc}") from exc
            time.sleep(0.5 * attempt)
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
