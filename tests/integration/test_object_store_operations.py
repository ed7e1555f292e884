"""Expiry and the s3 CLI on the real object store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from imagehost.config import Settings
from imagehost.service.expiry import expire_incoming
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from imagehost.web.app import build_services
from tests import imagegen
from tests.services import Buckets, SwiftServer


def _keys(swift: SwiftServer, bucket: str) -> list[str]:
    listing = swift.s3_client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_expire_removes_unpublished_uploads_from_the_object_store(
        backend: str, request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
        swift: SwiftServer, buckets: Buckets) -> None:
    environ = request.getfixturevalue(f"{backend}_environ")
    svc = build_services(make_settings(**environ))
    try:
        kept = upload_image(imagegen.photo_jpeg(500, 400), policy=svc.policy,
                            incoming=svc.stores.incoming, catalog=svc.catalog)
        publish_image(kept.key, policy=svc.policy, incoming=svc.stores.incoming,
                      active=svc.stores.active, catalog=svc.catalog)
        stale = upload_image(imagegen.photo_png(300, 200), policy=svc.policy,
                             incoming=svc.stores.incoming, catalog=svc.catalog)
        assert len(_keys(swift, buckets.incoming)) == 4
        report = expire_incoming(older_than=2 * 3600, policy=svc.policy,
                                 incoming=svc.stores.incoming, catalog=svc.catalog,
                                 now=datetime.now(UTC) + timedelta(hours=3))
        assert report.objects == sorted([stale.key, *stale.variant_keys])
        assert _keys(swift, buckets.incoming) == []
        assert svc.catalog.get(stale.key) is None
        assert len(_keys(swift, buckets.active)) == 4
        assert svc.catalog.get(kept.key).status == "active"
    finally:
        svc.pool.shutdown()


def test_s3_incoming_objects_carry_the_c2corg_expires_header(
        make_settings: Callable[..., Settings], s3_environ: dict[str, str], swift: SwiftServer,
        buckets: Buckets) -> None:
    svc = build_services(make_settings(**s3_environ))
    try:
        result = upload_image(imagegen.photo_jpeg(300, 200), policy=svc.policy,
                              incoming=svc.stores.incoming, catalog=svc.catalog)
        head = swift.s3_client().head_object(Bucket=buckets.incoming, Key=result.key)
        expires = head["ResponseMetadata"]["HTTPHeaders"]["expires"]
        assert abs(datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S %Z").replace(tzinfo=UTC)
                   - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=5)
        publish_image(result.key, policy=svc.policy, incoming=svc.stores.incoming,
                      active=svc.stores.active, catalog=svc.catalog)
        active = swift.s3_client().head_object(Bucket=buckets.active, Key=result.key)
        assert "expires" not in active["ResponseMetadata"]["HTTPHeaders"]
    finally:
        svc.pool.shutdown()


def _cli(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imagehost.cli", *args], text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "EXPIRE_INTERVAL": "0", **environ})


def test_s3_lifecycle_reports_a_provider_without_lifecycle_rules(
        s3_environ: dict[str, str], tmp_path) -> None:
    environ = {**s3_environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    result = _cli(["s3", "lifecycle", "--days", "1"], environ)
    assert result.returncode == 1
    assert "refused lifecycle rules" in result.stderr and "imagehost expire" in result.stderr


def test_s3_lifecycle_needs_the_s3_backend(tmp_path) -> None:
    result = _cli(["s3", "lifecycle"], {"STORAGE_BACKEND": "local",
                                        "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    assert result.returncode == 2 and "STORAGE_BACKEND=s3" in result.stderr


@pytest.mark.parametrize("backend", ["s3", "swift"])
def test_published_images_have_working_temporary_urls(
        backend: str, request: pytest.FixtureRequest,
        make_settings: Callable[..., Settings]) -> None:
    svc = build_services(make_settings(**request.getfixturevalue(f"{backend}_environ")))
    try:
        data = imagegen.photo_jpeg(320, 240)
        result = upload_image(data, policy=svc.policy, incoming=svc.stores.incoming,
                              catalog=svc.catalog)
        url = svc.stores.incoming.signed_url(result.key, 60)
        answer = httpx.get(url)
        assert answer.status_code == 200 and answer.content == data
        assert httpx.get(url[:-12] + ("0" * 12)).status_code in (401, 403)
    finally:
        svc.pool.shutdown()
