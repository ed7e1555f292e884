"""Expiry and the s3 CLI on the real object store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from imagehost.config import Settings
from imagehost.runtime import open_context
from imagehost.service.expiry import expire_incoming
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from tests import imagegen
from tests.kit.cli import describe, run_cli
from tests.kit.environ import local_environ
from tests.kit.servers import Buckets, SwiftServer


def _keys(swift: SwiftServer, bucket: str) -> list[str]:
    listing = swift.s3_client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_expire_removes_unpublished_uploads_from_the_object_store(
        backend: str, request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
        swift: SwiftServer, buckets: Buckets) -> None:
    environ = request.getfixturevalue(f"{backend}_environ")
    with open_context(make_settings(**environ)) as ctx:
        kept = upload_image(ctx, imagegen.photo_jpeg(500, 400))
        publish_image(ctx, kept.key)
        stale = upload_image(ctx, imagegen.photo_png(300, 200))
        assert len(_keys(swift, buckets.incoming)) == 4
        report = expire_incoming(ctx, older_than=2 * 3600,
                                 now=datetime.now(UTC) + timedelta(hours=3))
        assert report.objects == sorted([stale.key, *stale.variant_keys])
        assert report.records == 1
        assert _keys(swift, buckets.incoming) == []
        assert ctx.records.by_file(stale.key) is None
        assert len(_keys(swift, buckets.active)) == 5  # with the ladder's 256 px step
        published = ctx.records.by_file(kept.key)
        assert published is not None and published.status == "active"


def test_s3_incoming_objects_carry_the_c2corg_expires_header(
        make_settings: Callable[..., Settings], s3_environ: dict[str, str], swift: SwiftServer,
        buckets: Buckets) -> None:
    with open_context(make_settings(**s3_environ)) as ctx:
        result = upload_image(ctx, imagegen.photo_jpeg(300, 200))
        head = swift.s3_client().head_object(Bucket=buckets.incoming, Key=result.key)
        expires = head["ResponseMetadata"]["HTTPHeaders"]["expires"]
        assert abs(datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S %Z").replace(tzinfo=UTC)
                   - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=5)
        publish_image(ctx, result.key)
        active = swift.s3_client().head_object(Bucket=buckets.active, Key=result.key)
        assert "expires" not in active["ResponseMetadata"]["HTTPHeaders"]


def test_s3_lifecycle_reports_a_provider_without_lifecycle_rules(
        s3_environ: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["s3", "lifecycle", "--days", "1"], local_environ(tmp_path, **s3_environ),
                     tmp_path)
    assert result.returncode == 1, describe(result)
    assert "refused lifecycle rules" in result.stderr and "imagehost expire" in result.stderr


def test_s3_lifecycle_needs_the_s3_backend(tmp_path: Path) -> None:
    result = run_cli(["s3", "lifecycle"], local_environ(tmp_path), tmp_path)
    assert result.returncode == 2 and "STORAGE_BACKEND=s3" in result.stderr, describe(result)


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_published_images_have_working_temporary_urls(
        backend: str, request: pytest.FixtureRequest,
        make_settings: Callable[..., Settings]) -> None:
    with open_context(make_settings(**request.getfixturevalue(f"{backend}_environ"))) as ctx:
        data = imagegen.photo_jpeg(320, 240)
        result = upload_image(ctx, data)
        url = ctx.stores.incoming.signed_url(result.key, 60)
        answer = httpx.get(url)
        assert answer.status_code == 200 and answer.content == data
        # README: a tampered URL is refused with 403 by S3, 401 by Swift
        refused = {"s3": 403, "swift": 401}[backend]
        assert httpx.get(url[:-12] + ("0" * 12)).status_code == refused
