"""A store on an OpenStack Swift container through python-swiftclient (v1 auth or Keystone)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from imagehost.errors import NotFound, StoreUnavailable
from imagehost.storage.base import ContentTypeOf, ObjectInfo, Store
from imagehost.storage.budget import SWIFT_FIRST_BACKOFF, SWIFT_MAX_BACKOFF
from imagehost.storage.keys import validate_key


@dataclass(frozen=True)
class SwiftAccount:
    auth_url: str
    username: str
    password: str
    project_name: str | None
    user_domain_name: str | None
    project_domain_name: str | None
    region_name: str | None
    timeout: float
    retries: int

    @property
    def auth_version(self) -> str:
        return "1" if "/v1" in urlsplit(self.auth_url).path else "3"

    def connect(self) -> Any:
        from swiftclient.client import Connection

        options = {"project_name": self.project_name, "region_name": self.region_name,
                   "user_domain_name": self.user_domain_name or "Default",
                   "project_domain_name": self.project_domain_name or "Default"}
        return Connection(authurl=self.auth_url, user=self.username, key=self.password,
                          auth_version=self.auth_version, retries=self.retries,
                          timeout=self.timeout, starting_backoff=SWIFT_FIRST_BACKOFF,
                          max_backoff=SWIFT_MAX_BACKOFF,
                          os_options={k: v for k, v in options.items() if v})


class SwiftStore:
    """swiftclient connections are not thread-safe: each thread gets its own."""

    def __init__(self, name: str, account: SwiftAccount, container: str, *, cache_control: str,
                 content_type_of: ContentTypeOf, temp_url_key: str | None = None,
                 public_base_url: str | None = None) -> None:
        self.name = name
        self.content_type_of = content_type_of
        self.account = account
        self.container = container
        self.cache_control = cache_control
        self._temp_url_key = temp_url_key
        self._public_base_url = public_base_url
        self._local = threading.local()

    @property
    def connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.account.connect()
        return connection

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        with self._errors(key):
            self.connection.put_object(self.container, validate_key(key), contents=data,
                                       content_type=content_type or self.content_type_of(key),
                                       headers={"Cache-Control": self.cache_control})

    def get(self, key: str) -> bytes:
        with self._errors(key):
            _, body = self.connection.get_object(self.container, validate_key(key))
            return body

    def head(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors(key):
                headers = self.connection.head_object(self.container, validate_key(key))
        except NotFound:
            return None
        modified = datetime.fromtimestamp(float(headers.get("x-timestamp", 0)), UTC)
        return ObjectInfo(key, int(headers.get("content-length", 0)),
                          headers.get("content-type") or self.content_type_of(key), modified,
                          headers.get("etag", "").strip('"'))

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def copy_to(self, key: str, target: Store) -> None:
        validate_key(key)
        if isinstance(target, SwiftStore) and target.account == self.account:
            with self._errors(key):
                self.connection.copy_object(
                    self.container, key, destination=f"/{target.container}/{key}",
                    headers={"Content-Type": self.content_type_of(key),
                             "Cache-Control": target.cache_control},
                    fresh_metadata=True)
        else:
            target.put(key, self.get(key), self.content_type_of(key))

    def delete(self, key: str) -> None:
        try:
            with self._errors(key):
                self.connection.delete_object(self.container, validate_key(key))
        except NotFound:
            return

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        marker = ""
        while True:
            with self._errors(prefix or "(listing)"):
                _, items = self.connection.get_container(self.container, prefix=prefix or None,
                                                         marker=marker, limit=1000)
            if not items:
                return
            for item in items:
                modified = datetime.fromisoformat(item["last_modified"]).replace(tzinfo=UTC)
                yield ObjectInfo(item["name"], item["bytes"], self.content_type_of(item["name"]),
                                 modified, item.get("hash", ""))
            marker = items[-1]["name"]

    def check(self) -> None:
        with self._errors("(container)"):
            self.connection.head_container(self.container)

    def sweep_unfinished(self, before: datetime) -> list[str]:
        """Nothing to do: single puts are atomic and these stores write no segments."""
        return []

    def ensure_temp_url_key(self) -> None:
        """Set the configured TempURL key on the container (idempotent)."""
        if self._temp_url_key:
            with self._errors("(container)"):
                self.connection.post_container(
                    self.container, {"X-Container-Meta-Temp-URL-Key": self._temp_url_key})

    def signed_url(self, key: str, expires_in: float) -> str:
        from swiftclient.utils import generate_temp_url

        storage_url = self._storage_url()
        parts = urlsplit(storage_url)
        path = f"{parts.path}/{self.container}/{quote(validate_key(key))}"
        signed = generate_temp_url(path, int(expires_in), self._signing_key(), "GET")
        return f"{parts.scheme}://{parts.netloc}{signed}&inline"

    def public_url(self, key: str) -> str:
        base = self._public_base_url or f"{self._storage_url()}/{self.container}"
        return f"{base.rstrip('/')}/{quote(validate_key(key))}"

    def _storage_url(self) -> str:
        with self._errors("(auth)"):
            url, _ = self.connection.get_auth() if not self.connection.url else (
                self.connection.url, None)
        return str(url).rstrip("/")

    def _signing_key(self) -> str:
        if self._temp_url_key:
            return self._temp_url_key
        with self._errors("(container)"):
            headers = self.connection.head_container(self.container)
        key = headers.get("x-container-meta-temp-url-key")
        if not key:
            raise StoreUnavailable(f"The {self.name} container has no TempURL key; set "
                                   "SWIFT_TEMP_URL_KEY.")
        return key

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from requests.exceptions import RequestException
        from swiftclient.exceptions import ClientException

        try:
            yield
        except ClientException as exc:
            if exc.http_status == 404:
                raise NotFound(f"No object {key!r} in the {self.name} store.") from None
            raise StoreUnavailable(f"The {self.name} store failed: {exc.http_status} "
                                   f"{exc.msg}") from exc
        except RequestException as exc:
            self._local.connection = None
            raise StoreUnavailable(f"The {self.name} store is unreachable: {exc}") from exc
