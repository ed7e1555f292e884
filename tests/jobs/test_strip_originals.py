"""`imagehost strip-originals` on images stored before ORIGINAL_METADATA existed (stored with
keep), run as the command line on the local store, Swift's S3 API and Swift's native API; an
interrupted run resumes; `migrate` strips what it brings in."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagehost.config import load_settings
from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.privacy import strip_metadata
from imagehost.jobs.runner import interrupted, process_item, record_listing, start_job
from imagehost.jobs.strip import StripJob
from imagehost.runtime import open_context
from tests import imagegen
from tests.jobs import (
    FileServer,
    Seed,
    changed,
    describe,
    image_key,
    jpeg,
    local_environ,
    local_snapshot,
    run_cli,
    seed_images,
    sha256,
    summary_of,
    write_tree,
)

A, B, C, D = (image_key(i, ext) for i, ext in enumerate(("jpg", "png", "webp", "jpg")))
SEEDS = [Seed(A, imagegen.jpeg_with_metadata(160, 120), "active"),
         Seed(B, imagegen.png_with_metadata(60, 40), "incoming"),
         Seed(C, imagegen.webp_with_metadata(60, 40), "active"),
         Seed(D, jpeg(1), "active")]
"""Three originals with GPS and names (one still incoming), one without metadata."""


def stored_objects(environ: dict[str, str]) -> dict[str, bytes]:
    """Every object of the incoming and active stores, as `<role>/<key>`."""
    with open_context(load_settings(environ)) as ctx:
        return {f"{role}/{info.key}": ctx.stores.named()[role].get(info.key)
                for role in ("incoming", "active") for info in ctx.stores.named()[role].list()}


@pytest.fixture(params=["local", "s3", "swift"])
def environ(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    stores = {} if request.param == "local" else request.getfixturevalue(
        f"{request.param}_environ")
    return local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}", **stores)


def test_strip_originals_strips_stored_originals_and_a_second_run_skips(
        environ: dict[str, str], tmp_path: Path) -> None:
    seed_images({**environ, "ORIGINAL_METADATA": "keep"}, SEEDS)
    with open_context(load_settings(environ)) as ctx:
        old = {seed.key: ctx.records.by_file(seed.key) for seed in SEEDS}
        record = old[A]
        assert record is not None
        stale = f"derived/{record.id}/{record.sha256[:16]}/w50.jpg"
        ctx.stores.cache.put(stale, b"a derived image of the unstripped original", "image/jpeg")
    before = stored_objects(environ)
    assert before[f"active/{A}"] == SEEDS[0].data and imagegen.has_exif_gps(SEEDS[0].data)

    if environ["STORAGE_BACKEND"] == "local":  # one dry run is enough
        plan = run_cli(["strip-originals", "--dry-run"], environ, tmp_path)
        assert plan.returncode == 0, describe(plan)
        assert "would process 3, skip 1, fail 0" in plan.stdout, describe(plan)
        assert stored_objects(environ) == before

    first = run_cli(["strip-originals", "-j", "2"], environ, tmp_path)
    assert first.returncode == 0, describe(first)
    summary = summary_of(first)
    assert (summary.kind, summary.items, summary.done, summary.skipped, summary.failed) == \
        ("strip", 4, 3, 1, 0)
    after = stored_objects(environ)
    assert {k for k in before if before[k] != after[k]} == \
        {f"active/{A}", f"incoming/{B}", f"active/{C}"}  # the variants are untouched
    for seed in SEEDS[:3]:
        original = after[f"{seed.status}/{seed.key}"]
        assert [m for m in imagegen.PRIVATE_MARKERS if m in original] == [], seed.key
        assert [m for m in imagegen.KEPT_MARKERS if m not in original] == [], seed.key
    assert imagegen.jpeg_scan(after[f"active/{A}"]) == imagegen.jpeg_scan(SEEDS[0].data)
    with open_context(load_settings(environ)) as ctx:
        for seed in SEEDS:
            row = ctx.records.by_file(seed.key)
            assert row is not None and row.id == old[seed.key].id and row.status == seed.status
            data = after[f"{seed.status}/{seed.key}"]
            assert (row.bytes, row.sha256) == (len(data), sha256(data)), seed.key
        assert list(ctx.stores.cache.list(f"derived/{old[A].id}/")) == []

    second = run_cli(["strip-originals"], environ, tmp_path)
    assert second.returncode == 0, describe(second)
    summary = summary_of(second)
    assert (summary.items, summary.done, summary.skipped) == (4, 0, 4)
    assert stored_objects(environ) == after


def test_an_interrupted_run_resumes_without_redoing_its_done_items(tmp_path: Path) -> None:
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    seed_images({**environ, "ORIGINAL_METADATA": "keep"}, SEEDS[:3])
    with open_context(load_settings(environ)) as ctx:
        kind = StripJob()
        job = start_job(kind, {}, ctx)
        record_listing(job, kind, ctx)
        (item_id, done_key), *_ = ctx.jobs.pending(job.id)
        process_item(item_id, done_key, kind, job.params, ctx)
        interrupted(job.id, ctx)  # as a run killed after its first item
    roots = {"active": tmp_path / "active", "incoming": tmp_path / "incoming"}
    before = {role: local_snapshot(root) for role, root in roots.items()}

    resumed = run_cli(["jobs", "resume", str(job.id)], environ, tmp_path)
    assert resumed.returncode == 0, describe(resumed)
    summary = summary_of(resumed)
    assert (summary.job, summary.items, summary.done, summary.pending) == (job.id, 3, 3, 0)
    rewritten = {f"{role}/{key}" for role, root in roots.items()
                 for key in changed(before[role], local_snapshot(root))}
    assert rewritten == {f"{seed.status}/{seed.key}" for seed in SEEDS[:3]
                         if seed.key != done_key}


def test_a_run_stopped_between_the_store_and_the_catalog_is_completed(tmp_path: Path) -> None:
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    seed_images({**environ, "ORIGINAL_METADATA": "keep"}, SEEDS[:1])
    stripped = strip_metadata(SEEDS[0].data, ImageFormat.JPEG, "strip-private")
    with open_context(load_settings(environ)) as ctx:
        ctx.stores.active.put(A, stripped, "image/jpeg")  # the row still has the old digest
    snapshot = local_snapshot(tmp_path / "active")

    result = run_cli(["strip-originals", "-k", A], environ, tmp_path)
    assert result.returncode == 0, describe(result)
    assert summary_of(result).done == 1
    assert changed(snapshot, local_snapshot(tmp_path / "active")) == set()
    with open_context(load_settings(environ)) as ctx:
        row = ctx.records.by_file(A)
        assert row is not None and (row.bytes, row.sha256) == (len(stripped), sha256(stripped))


@pytest.mark.parametrize("mode", ["strip-private", "keep"])
def test_migrate_stores_originals_as_original_metadata_says(mode: str, tmp_path: Path) -> None:
    source = tmp_path / "v5"
    upload = imagegen.jpeg_with_metadata(160, 120)
    write_tree(source, {A: upload})
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}",
                            ORIGINAL_METADATA=mode)
    with FileServer(source, tmp_path / "server.log") as server:
        result = run_cli(["migrate", "-k", A], {**environ, "V5_BASE_URL": server.url},
                         tmp_path)
    assert result.returncode == 0, describe(result)
    original = (tmp_path / "active" / A).read_bytes()
    if mode == "keep":
        assert original == upload
    else:
        assert not imagegen.has_exif_gps(original)
        assert [m for m in imagegen.PRIVATE_MARKERS if m in original] == []
        assert imagegen.jpeg_scan(original) == imagegen.jpeg_scan(upload)
