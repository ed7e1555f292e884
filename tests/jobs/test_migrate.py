"""`imagehost migrate` against a c2corg v5 database on the real PostgreSQL and a v5 source bucket
on the real object store (Swift's S3 API), run as the command line.

The v5 listing has duplicates (several archive versions per image) and has_svg rows (the key
becomes `.svg`, and the stale raster originals `<base>.jpg`/`<base>.png` already in active must
go); the source lacks some originals and holds some corrupt ones. migrate must move exactly the
right set, report the failures, exit non-zero, and do nothing on a second run."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.jobs import (
    FileServer,
    V5Set,
    build_v5_set,
    catalog_images,
    changed,
    describe,
    dimensions,
    fill_v5_database,
    image_key,
    image_objects,
    job_items,
    jpeg,
    local_environ,
    local_files,
    local_snapshot,
    put_objects,
    query,
    run_cli,
    s3_objects,
    sha256,
    show_job,
    summary_of,
    variant_keys,
    write_tree,
)
from tests.kit.servers import S3_GROUP, V5_TABLE, Buckets, FreshPostgresDatabase, SwiftServer

UNRELATED = "1300000000_1.jpg"
"""An original of the active store that is not in the v5 listing: never touched."""


@pytest.fixture(scope="module")
def v5(v5_database: str, v5_bucket: str, swift: SwiftServer) -> V5Set:
    """10 good images (8 JPEG, 2 PNG) + 2 SVG, 2 missing, 2 corrupt; 3 versions of every
    other image in the listing."""
    data = build_v5_set(8, pngs=2, svgs=2, missing=2, corrupt=2, versions=3)
    fill_v5_database(v5_database, data.rows)
    put_objects(swift.s3_client(), v5_bucket, data.source)
    assert len(data.rows) > len(data.listed) == 16  # duplicates in the listing
    return data


@pytest.fixture
def v5_environ(v5_database: str, v5_bucket: str, swift: SwiftServer) -> dict[str, str]:
    """The v5 listing and the v5 bucket, reached through the SWIFT_S3 credential group."""
    return {"V5_DATABASE_URL": v5_database, "V5_BUCKET": v5_bucket, "V5_PREFIX": S3_GROUP,
            f"{S3_GROUP}_ENDPOINT": swift.s3_endpoint,
            f"{S3_GROUP}_ACCESS_KEY_ID": swift.access_key_id,
            f"{S3_GROUP}_SECRET_KEY": swift.secret_key,
            f"{S3_GROUP}_DEFAULT_REGION": "us-east-1"}


def stale_objects(v5: V5Set) -> dict[str, bytes]:
    return {key: jpeg(900 + i) for i, key in enumerate(v5.stale)}


def expected_variant_size(spec: str, width: int, height: int) -> tuple[int, int]:
    """The default RESIZING_CONFIG: BI 1500x1500>, MI 400x400> (shrink only), SI 200x200
    filled and cropped."""
    if spec == "SI":
        return 200, 200
    box = 1500 if spec == "BI" else 400
    scale = min(1.0, box / width, box / height)
    return round(width * scale), round(height * scale)


def check_migrated(v5: V5Set, active: dict[str, bytes], keys: list[str]) -> None:
    """Each key's original as the source had it (SVG: sanitised, same size) and its three
    variants at the right sizes."""
    for key in keys:
        original = active[key]
        if key.endswith(".svg"):
            assert b"<svg" in original, key
        else:
            assert original == v5.source[key], f"{key}: not the v5 original"
        width, height = dimensions(original)
        for spec, variant in zip(("BI", "MI", "SI"), variant_keys(key), strict=True):
            assert dimensions(active[variant]) == expected_variant_size(spec, width, height), \
                variant


def check_catalog(url: str, v5: V5Set, active: dict[str, bytes], keys: list[str]) -> None:
    rows = catalog_images(url)
    assert set(rows) == set(keys), "catalog rows are not exactly the migrated images"
    for key in keys:
        width, height = dimensions(active[key])
        row = rows[key]
        assert (row["status"], row["width"], row["height"], row["bytes"], row["sha256"]) == \
            ("active", width, height, len(active[key]), sha256(active[key])), key
        assert row["format"] == {"jpg": "jpeg", "png": "png", "svg": "svg"}[key[-3:]], row
        assert row["published_at"] is not None, key


def swift_listing(swift: SwiftServer, bucket: str) -> dict[str, tuple[str, str]]:
    """name -> (hash, last_modified to the microsecond): any rewrite changes it."""
    _, objects = swift.swift_connection().get_container(bucket, full_listing=True)
    return {o["name"]: (o["hash"], o["last_modified"]) for o in objects}


def test_migrate_moves_exactly_the_right_set_reports_failures_and_a_rerun_does_nothing(
        v5: V5Set, v5_environ: dict[str, str], s3_environ: dict[str, str], buckets: Buckets,
        swift: SwiftServer, postgres_url: str, tmp_path: Path) -> None:
    s3 = swift.s3_client()
    put_objects(s3, buckets.active, stale_objects(v5) | {UNRELATED: jpeg(999)})
    environ = local_environ(tmp_path, postgres_url) | s3_environ | v5_environ

    first = run_cli(["migrate", "-j", "2"], environ, tmp_path)

    assert first.returncode == 1, describe(first)
    counts = summary_of(first)
    assert (counts.kind, counts.items, counts.done, counts.skipped, counts.failed,
            counts.pending) == ("migrate", 16, 12, 0, 4, 0), describe(first)
    active = s3_objects(s3, buckets.active)
    assert set(active) == v5.expected_active() | {UNRELATED}, \
        "active must hold exactly the migrated originals and variants (stale rasters removed)"
    assert active[UNRELATED] == jpeg(999)
    check_migrated(v5, active, v5.good)
    check_catalog(postgres_url, v5, active, v5.good)
    items = job_items(postgres_url, counts.job)
    assert [key for _, key, _, _, _ in items] == v5.listed, "one item per listed key, in order"

    shown = show_job(counts.job, environ, tmp_path)
    assert (shown["kind"], shown["state"], shown["items"], shown["done"], shown["skipped"],
            shown["failed"], shown["pending"]) == ("migrate", "failed", 16, 12, 0, 4, 0), shown
    assert shown["listed"] is True and shown["finished"] is not None
    assert shown["rate_per_second"] > 0
    errors = {failure["key"]: failure["error"] for failure in shown["failures"]}
    assert set(errors) == set(v5.failing), shown["failures"]
    for key in v5.missing:
        assert errors[key].startswith("NotFound") and key in errors[key], errors[key]
    for key in v5.corrupt:
        assert re.match(r"(InvalidImage|UnsupportedFormat): ", errors[key]), errors[key]
    listed = run_cli(["jobs", "list"], environ, tmp_path)
    assert re.search(rf"^#{counts.job}\s+migrate\s+failed\s+.*16/16 done, 4 failed$",
                     listed.stdout, re.MULTILINE), describe(listed)

    before = swift_listing(swift, buckets.active)
    second = run_cli(["migrate", "-j", "2"], environ, tmp_path)

    assert second.returncode == 1, describe(second)
    again = summary_of(second)
    assert again.job != counts.job
    assert (again.items, again.done, again.skipped, again.failed, again.pending) == \
        (16, 0, 12, 4, 0), describe(second)
    assert swift_listing(swift, buckets.active) == before, "the second run wrote something"
    assert {k for _, k, state, _, _ in job_items(postgres_url, again.job) if state == "failed"} \
        == set(v5.failing)


def test_key_limit_and_order(v5: V5Set, v5_environ: dict[str, str], tmp_path: Path) -> None:
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}") | v5_environ
    active_root = tmp_path / "active"
    write_tree(active_root, stale_objects(v5))
    svg_key = v5.svg[0]
    base = svg_key.removesuffix(".svg")

    one = run_cli(["migrate", "-k", svg_key], environ, tmp_path)

    assert one.returncode == 0, describe(one)
    assert (summary_of(one).items, summary_of(one).done) == (1, 1)
    assert set(local_files(active_root)) == image_objects(svg_key) | (
        set(v5.stale) - {f"{base}.jpg", f"{base}.png"}), "-k: that image only, its stale gone"

    limited = run_cli(["migrate", "-l", "3"], environ, tmp_path)

    assert limited.returncode == 0, describe(limited)
    job = summary_of(limited).job
    catalog = f"{tmp_path / 'catalog.db'}"
    assert [key for _, key, _, _, _ in job_items(f"sqlite:///{catalog}", job)] == v5.listed[:3]
    assert summary_of(limited).done == 3

    descending = run_cli(["migrate", "-l", "5"], environ | {"V5_ORDER": "DESC"}, tmp_path)

    assert descending.returncode == 1, describe(descending)  # the last listed ones fail
    job = summary_of(descending).job
    last_five = v5.listed[::-1][:5]
    assert [key for _, key, _, _, _ in job_items(f"sqlite:///{catalog}", job)] == last_five
    migrated = [svg_key, *v5.listed[:3], *(k for k in last_five if k in v5.good)]
    stale_left = {k for k in v5.stale if k.rsplit(".", 1)[0] + ".svg" not in migrated}
    active = local_files(active_root)
    assert set(active) == set().union(*(image_objects(k) for k in migrated)) | stale_left
    check_migrated(v5, active, migrated)


def test_force_migrates_again(v5: V5Set, v5_environ: dict[str, str], tmp_path: Path) -> None:
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}") | v5_environ
    first = run_cli(["migrate", "-j", "2"], environ, tmp_path)
    assert first.returncode == 1, describe(first)
    before = local_snapshot(tmp_path / "active")
    assert set(before) == v5.expected_active()

    forced = run_cli(["migrate", "-j", "2", "-f"], environ, tmp_path)

    assert forced.returncode == 1, describe(forced)
    counts = summary_of(forced)
    assert (counts.items, counts.done, counts.skipped, counts.failed) == \
        (16, len(v5.good), 0, 4), describe(forced)
    after = local_snapshot(tmp_path / "active")
    assert changed(before, after) == v5.expected_active(), "-f rewrites every migrated object"
    assert {k: s.sha256 for k, s in after.items()} == {k: s.sha256 for k, s in before.items()}


def test_dry_run_writes_nothing(v5: V5Set, v5_environ: dict[str, str], tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    environ = local_environ(tmp_path, catalog) | v5_environ
    write_tree(tmp_path / "active", stale_objects(v5))
    before = local_snapshot(tmp_path / "active")

    result = run_cli(["migrate", "--dry-run"], environ, tmp_path)

    assert result.returncode == 0, describe(result)
    planned = re.findall(r"^would process\s+(\S+)$", result.stdout, re.MULTILINE)
    assert planned == v5.listed, describe(result)
    assert "dry run: would process 16, skip 0, fail 0" in result.stdout
    assert local_snapshot(tmp_path / "active") == before, "--dry-run wrote to active"
    assert query(catalog, "SELECT count(*) FROM images") == [(0,)]
    assert query(catalog, "SELECT count(*) FROM jobs") == [(0,)], "--dry-run recorded a job"


def test_migrate_from_a_base_url(v5: V5Set, v5_database: str, tmp_path: Path) -> None:
    source = tmp_path / "v5-uploads"
    write_tree(source, v5.source)
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    with FileServer(source, tmp_path / "requests.log") as server:
        environ = local_environ(tmp_path, catalog) | {
            "V5_DATABASE_URL": v5_database, "V5_BASE_URL": server.url + "/"}

        result = run_cli(["migrate", "-j", "2"], environ, tmp_path)

        requested = server.requests()
        assert result.returncode == 1, describe(result)
        counts = summary_of(result)
        assert (counts.items, counts.done, counts.failed) == (16, 12, 4), describe(result)
        active = local_files(tmp_path / "active")
        assert set(active) == v5.expected_active()
        check_migrated(v5, active, v5.good)
        check_catalog(catalog, v5, active, v5.good)
        assert sorted(requested) == sorted(v5.listed), "one GET per listed original"
        errors = dict(job_items_errors(catalog, counts.job))
        assert set(errors) == set(v5.failing)
        for key in v5.missing:
            assert "404" in errors[key], errors[key]

        # the missing originals turn up: `jobs retry` runs the failed items again
        write_tree(source, {key: jpeg(700 + i) for i, key in enumerate(v5.missing)})
        retried = run_cli(["jobs", "retry", str(counts.job)], environ, tmp_path)

        assert retried.returncode == 1, describe(retried)  # the corrupt ones fail again
        assert "retrying 4 failed items" in retried.stdout
        again = summary_of(retried)
        assert (again.job, again.items, again.done, again.failed, again.pending) == \
            (counts.job, 16, 14, 2, 0), describe(retried)
        assert sorted(server.requests()[len(requested):]) == sorted(v5.failing)
    active = local_files(tmp_path / "active")
    assert set(active) == v5.expected_active() | set().union(
        *(image_objects(key) for key in v5.missing))
    assert {key for key, _ in job_items_errors(catalog, counts.job)} == set(v5.corrupt)
    for i, key in enumerate(v5.missing):
        assert active[key] == jpeg(700 + i)
        assert catalog_images(catalog)[key]["status"] == "active"


def job_items_errors(url: str, job: int) -> list[tuple[str, str | None]]:
    return [(key, error) for _, key, state, _, error in job_items(url, job) if state == "failed"]


def test_an_svg_already_migrated_still_loses_its_stale_rasters(
        v5: V5Set, v5_environ: dict[str, str], tmp_path: Path) -> None:
    """The reference migration removes `<base>.jpg`/`.png` of an SVG key before deciding to
    skip it: a raster original that reappeared in active next to a migrated SVG goes too."""
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}") | v5_environ
    svg_key = v5.svg[1]
    base = svg_key.removesuffix(".svg")
    first = run_cli(["migrate", "-k", svg_key], environ, tmp_path)
    assert first.returncode == 0, describe(first)
    write_tree(tmp_path / "active", {f"{base}.jpg": jpeg(901), f"{base}.png": jpeg(902)})
    before = local_snapshot(tmp_path / "active")

    again = run_cli(["migrate", "-k", svg_key], environ, tmp_path)

    assert again.returncode == 0, describe(again)
    after = local_snapshot(tmp_path / "active")
    assert set(after) == image_objects(svg_key), \
        f"stale raster originals left next to {svg_key}: "\
        f"{sorted(set(after) - image_objects(svg_key))}"
    assert changed(before, after) == {f"{base}.jpg", f"{base}.png"}


def test_the_listing_pages_through_a_large_v5_table(postgres_server_url: str,
                                                    tmp_path: Path) -> None:
    """More rows than one page (500) of the listing, archive ids in random order, versions
    scattered: every key once, by first archive id, ASC and DESC, -l across a page end."""
    shuffled = random.Random(5)
    filenames = [image_key(i, "jpg", second=1_420_000_000) for i in range(1234)]
    versions = [*filenames, *filenames[::3]]  # a third of the images has two versions
    ids = shuffled.sample(range(1, 10_000_000), len(versions))
    listing = V5Set(rows=[(archive_id, i % 1234, filename, False)
                          for i, (archive_id, filename) in enumerate(zip(ids, versions,
                                                                         strict=True))])
    assert len(listing.listed) == 1234
    with FreshPostgresDatabase(postgres_server_url) as url:
        plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(V5_TABLE))
        engine.dispose()
        fill_v5_database(plain, listing.rows)
        environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}",
                                V5_DATABASE_URL=plain, V5_BASE_URL="http://127.0.0.1:9/")

        ascending = run_cli(["migrate", "--dry-run"], environ, tmp_path)
        descending = run_cli(["migrate", "--dry-run", "-l", "600"],
                             environ | {"V5_ORDER": "desc"}, tmp_path)

    for result in (ascending, descending):
        assert result.returncode == 0, describe(result)
    planned = re.findall(r"^would process\s+(\S+)$", ascending.stdout, re.MULTILINE)
    assert planned == listing.listed
    planned = re.findall(r"^would process\s+(\S+)$", descending.stdout, re.MULTILINE)
    assert planned == listing.listed[::-1][:600]


def test_an_image_stored_but_never_recorded_gets_its_record(
        v5: V5Set, v5_environ: dict[str, str], tmp_path: Path) -> None:
    """A run killed after putting an image's objects in active but before recording it in the
    catalog: the next run (or the resumed job) finds every object there and must not skip the
    catalog, or the image stays uncatalogued for good."""
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    environ = local_environ(tmp_path, catalog) | v5_environ
    key = v5.good[0]
    first = run_cli(["migrate", "-k", key], environ, tmp_path)
    assert first.returncode == 0, describe(first)
    assert catalog_images(catalog)[key]["status"] == "active"
    engine = create_engine(catalog)
    with engine.begin() as connection:  # as if killed between storing and recording
        connection.execute(text("DELETE FROM images WHERE key = :k"), {"k": key})
    engine.dispose()

    again = run_cli(["migrate", "-k", key], environ, tmp_path)

    assert again.returncode == 0, describe(again)
    rows = catalog_images(catalog)
    assert key in rows and rows[key]["status"] == "active", \
        f"{key} is in active but not in the catalog after: {summary_of(again)}"
