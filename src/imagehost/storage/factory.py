"""Build the stores Settings describe."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagehost.config import Settings
from imagehost.storage.base import ContentTypeOf, Store
from imagehost.storage.budget import s3_plan, swift_plan
from imagehost.storage.local import LocalStore
from imagehost.storage.signing import UrlSigner

if TYPE_CHECKING:
    from imagehost.storage.s3 import S3Store
    from imagehost.storage.swift import SwiftStore

PRIVATE, PUBLIC = "private", "public-read"
STORE_NAMES = ("incoming", "active", "cache")
"""The stores' names (in /files URLs, job parameters and pending writes)."""


@dataclass(frozen=True)
class Stores:
    incoming: Store
    active: Store
    cache: Store
    signer: UrlSigner
    """Signs /files URLs of local stores (and verifies them when they come back)."""

    def named(self) -> dict[str, Store]:
        return {name: getattr(self, name) for name in STORE_NAMES}


def build_stores(settings: Settings, content_type_of: ContentTypeOf) -> Stores:
    # without SERVICE_URL the signer makes root-relative URLs; the request supplies the host
    base = f"{(settings.service_url or '').rstrip('/')}{settings.prefix}"
    signer = UrlSigner((settings.signed_url_key or secrets.token_hex(32)).encode(), base)
    if settings.storage_backend == "s3":
        return _s3_stores(settings, signer, content_type_of)
    if settings.storage_backend == "swift":
        return _swift_stores(settings, signer, content_type_of)
    active_url = settings.active_public_url or (
        f"{base}/active" if settings.service_url else None)

    def store(name: str, root: Path, public: str | None = None) -> LocalStore:
        return LocalStore(name, root, content_type_of=content_type_of, signer=signer,
                          public_base_url=public)

    return Stores(
        incoming=store("incoming", settings.incoming_folder),
        active=store("active", settings.active_folder, active_url),
        cache=store("cache", settings.cache_folder),
        signer=signer,
    )


def s3_client(settings: Settings, group: str | None) -> Any:
    import boto3
    from botocore.config import Config

    credentials = settings.credentials(group)
    style = settings.s3_addressing_style
    if style == "auto" and credentials.endpoint:
        style = "path"
    plan = s3_plan(settings.store_request_budget, settings.store_max_attempts,
                   settings.store_connect_timeout, settings.store_read_timeout)
    config = Config(signature_version=settings.s3_signature_version,
                    s3={"addressing_style": style},
                    connect_timeout=plan.connect, read_timeout=plan.read,
                    retries={"max_attempts": plan.attempts, "mode": "standard"})
    return boto3.session.Session().client(
        "s3", endpoint_url=credentials.endpoint, aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_key, region_name=credentials.region,
        config=config)


# The S3 and Swift stores are imported where they are built: boto3 alone costs 0.25 s of start
# and about 10 MB of every process's memory, for nothing with the local backend.


def _s3_stores(settings: Settings, signer: UrlSigner, content_type_of: ContentTypeOf) -> Stores:
    from imagehost.storage.s3 import S3Store

    clients: dict[str, Any] = {}

    def store(name: str, bucket: str, group: str | None, acl: str,
              public: str | None = None, expires: float | None = None) -> S3Store:
        account = group or ""
        if account not in clients:
            clients[account] = s3_client(settings, group)
        return S3Store(name, clients[account], bucket, account=account,
                       cache_control=settings.cache_control,
                       acl=acl if settings.s3_acl else None, content_type_of=content_type_of,
                       multipart_threshold=settings.multipart_threshold,
                       public_base_url=public, expires_after=expires)

    assert settings.incoming_bucket and settings.active_bucket
    return Stores(
        incoming=store("incoming", settings.incoming_bucket, settings.incoming_prefix, PRIVATE,
                       expires=settings.expire_after),
        active=store("active", settings.active_bucket, settings.active_prefix, PUBLIC,
                     public=settings.active_public_url),
        cache=store("cache", settings.cache_bucket or settings.active_bucket,
                    settings.cache_prefix or settings.active_prefix, PRIVATE),
        signer=signer,
    )


def _swift_stores(settings: Settings, signer: UrlSigner,
                  content_type_of: ContentTypeOf) -> Stores:
    from imagehost.storage.swift import SwiftAccount, SwiftStore

    assert settings.os_auth_url and settings.os_username and settings.os_password
    plan = swift_plan(settings.store_request_budget, settings.store_max_attempts,
                      settings.store_read_timeout)
    account = SwiftAccount(settings.os_auth_url, settings.os_username, settings.os_password,
                           settings.os_project_name, settings.os_user_domain_name,
                           settings.os_project_domain_name, settings.os_region_name,
                           timeout=plan.read, retries=plan.attempts - 1)

    def store(name: str, container: str, public: str | None = None) -> SwiftStore:
        return SwiftStore(name, account, container, cache_control=settings.cache_control,
                          content_type_of=content_type_of,
                          temp_url_key=settings.swift_temp_url_key, public_base_url=public)

    assert settings.incoming_bucket and settings.active_bucket
    return Stores(
        incoming=store("incoming", settings.incoming_bucket),
        active=store("active", settings.active_bucket, settings.active_public_url),
        cache=store("cache", settings.cache_bucket or settings.active_bucket),
        signer=signer,
    )
