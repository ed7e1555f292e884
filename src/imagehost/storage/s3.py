"""A store on an S3 bucket (AWS or any S3-compatible provider) through boto3."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from imagehost.errors import NotFound, StoreUnavailable
from imagehost.storage.base import ContentTypeOf, ObjectInfo, Store
from imagehost.storage.keys import validate_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    def __init__(self, name: str, client: Any, bucket: str, *, account: str, cache_control: str,
                 acl: str | None, content_type_of: ContentTypeOf, multipart_threshold: int,
                 public_base_url: str | None = None, expires_after: float | None = None) -> None:
        self.name = name
        self.content_type_of = content_type_of
        self.client = client
        self.bucket = bucket
        self.account = account
        """Endpoint and credentials identity: stores of one account copy server-side."""
        self.cache_control = cache_control
        self.acl = acl
        self.expires_after = expires_after
        self.public_base_url = (public_base_url or
                                f"{client.meta.endpoint_url.rstrip('/')}/{bucket}").rstrip("/")
        self._transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                        multipart_chunksize=multipart_threshold)

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        validate_key(key)
        extra = self._object_args(key, content_type)
        with self._errors(key):
            if len(data) >= self._transfer.multipart_threshold:
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, key, ExtraArgs=extra,
                                           Config=self._transfer)
            else:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def get(self, key: str) -> bytes:
        with self._errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        try:
            with self._errors(key):
                meta = self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except NotFound:
            return None
        return ObjectInfo(key, meta["ContentLength"], meta.get("ContentType") or
                          self.content_type_of(key), meta["LastModified"],
                          meta.get("ETag", "").strip('"'))

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def copy_to(self, key: str, target: Store) -> None:
        validate_key(key)
        if isinstance(target, S3Store) and target.account == self.account:
            with self._errors(key):
                self.client.copy_object(
                    Bucket=target.bucket, Key=key, MetadataDirective="REPLACE",
                    CopySource={"Bucket": self.bucket, "Key": key},
                    **target._object_args(key, None))
        else:
            target.put(key, self.get(key), self.content_type_of(key))

    def delete(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(prefix or "(listing)"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix,
                                           PaginationConfig={"PageSize": 1000}):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"], item["Size"], self.content_type_of(item["Key"]),
                                     item["LastModified"], item.get("ETag", "").strip('"'))

    def check(self) -> None:
        with self._errors("(bucket)"):
            self.client.head_bucket(Bucket=self.bucket)

    def sweep_unfinished(self, before: datetime) -> list[str]:
        """Abort the multipart uploads started before `before` (the parts of a killed
        upload are kept, and billed, until then; the lifecycle rule of `imagehost s3
        lifecycle` aborts them after a day, on the incoming bucket only)."""
        aborted = []
        markers: dict[str, str] = {}
        while True:
            try:
                with self._errors("(multipart uploads)"):
                    page = self.client.list_multipart_uploads(Bucket=self.bucket, **markers)
            except ClientError as exc:    # a provider without them, or no right to list
                raise StoreUnavailable(f"The {self.name} store cannot list multipart "
                                       f"uploads: {exc}") from exc
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < before and self._abort(upload):
                    aborted.append(f"{upload['Key']} (multipart upload {upload['UploadId']})")
            if not page.get("IsTruncated"):
                return aborted
            markers = {"KeyMarker": page.get("NextKeyMarker", ""),
                       "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    def _abort(self, upload: dict[str, Any]) -> bool:
        try:
            with self._errors(upload["Key"]):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                   UploadId=upload["UploadId"])
        except NotFound:
            return False  # another sweep was first
        return True

    def signed_url(self, key: str, expires_in: float) -> str:
        with self._errors(key):
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": validate_key(key)},
                ExpiresIn=int(expires_in))

    def public_url(self, key: str) -> str:
        return f"{self.public_base_url}/{validate_key(key)}"

    def set_expiry_rule(self, days: int, prefix: str = "") -> None:
        """Install a lifecycle rule that expires objects `days` after their creation."""
        rule = {"ID": "imagehost-expire-incoming", "Status": "Enabled",
                "Filter": {"Prefix": prefix}, "Expiration": {"Days": days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
        with self._errors("(lifecycle)"):
            self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": [rule]})

    def expiry_rules(self) -> list[dict[str, Any]]:
        try:
            with self._errors("(lifecycle)"):
                answer = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
                return []
            raise
        return list(answer.get("Rules", []))

    def _object_args(self, key: str, content_type: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {"ContentType": content_type or self.content_type_of(key),
                                "CacheControl": self.cache_control}
        if self.acl:
            args["ACL"] = self.acl
        if self.expires_after:
            args["Expires"] = datetime.now(UTC) + timedelta(seconds=self.expires_after)
        return args

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if str(error.get("Code")) in _MISSING or status == 404:
                raise NotFound(f"No object {key!r} in the {self.name} store.") from None
            if status >= 500 or status == 0:
                raise StoreUnavailable(f"The {self.name} store failed: {error.get('Code')} "
                                       f"{error.get('Message', '')}".strip()) from exc
            raise
        except BotoCoreError as exc:
            raise StoreUnavailable(f"The {self.name} store is unreachable: {exc}") from exc
