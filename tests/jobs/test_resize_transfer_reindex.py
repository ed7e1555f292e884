"""`imagehost resize`, `transfer` and `reindex` run as the command line on real stores: local
folders, Swift's S3 API and Swift's native API, with a SQLite catalog.

Local store objects are rewritten by renaming a new file in, so "touched" is a change of inode
or mtime; on Swift it is a change of the listing's microsecond last-modified time."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.jobs import (
    Seed,
    catalog_images,
    changed,
    clean_environ,
    describe,
    dimensions,
    image_key,
    jpeg,
    local_environ,
    local_files,
    local_snapshot,
    png,
    query,
    run_cli,
    s3_objects,
    seed_images,
    sha256,
    summary_of,
    svg,
    variant_keys,
    write_tree,
)
from tests.kit.servers import S3_GROUP, Buckets, SwiftServer, _empty_and_delete, unique_name

# --- resize -------------------------------------------------------------------------------

NEW_SIZES = json.dumps([
    {"suffix": "BI", "convert": ["-resize", "160x160>", "-quality", "80"]},
    {"suffix": "MI", "convert": ["-resize", "100x100>", "-quality", "80"]},
    {"suffix": "SI", "convert": ["-resize", "50x50^", "-gravity", "center", "-extent", "50x50",
                                 "-quality", "80"]},
])
"""RESIZING_CONFIG after the change: every variant smaller than the default's."""


def new_size(suffix: str, width: int, height: int) -> tuple[int, int]:
    if suffix == "SI":
        return 50, 50
    box = 160 if suffix == "BI" else 100
    scale = min(1.0, box / width, box / height)
    return round(width * scale), round(height * scale)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


A = image_key(1, "jpg", second=1_500_000_000)
B = image_key(2, "jpg", second=1_500_000_000)
C = image_key(3, "png", second=1_500_000_000)
D = image_key(4, "jpg", second=1_600_000_000)
E = image_key(5, "svg", second=1_600_000_000)
F = image_key(6, "jpg", second=1_500_000_000)
RESIZE_SEEDS = [
    Seed(A, jpeg(11), "active", when("2020-01-01T00:00:00")),
    Seed(B, jpeg(12), "active", when("2021-06-01T00:00:00")),
    Seed(C, png(13), "active", when("2022-03-01T00:00:00")),
    Seed(D, jpeg(14), "active", when("2023-01-01T00:00:00")),
    Seed(E, svg(5), "active", when("2023-06-01T00:00:00")),
    Seed(F, jpeg(16), "incoming"),
]
ACTIVE_KEYS = [A, B, C, D, E]


@pytest.fixture
def resize_environ(tmp_path: Path) -> dict[str, str]:
    environ = local_environ(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    seed_images(environ, RESIZE_SEEDS)
    return environ


def variants_of(*keys: str, only: tuple[str, ...] = ("BI", "MI", "SI")) -> set[str]:
    return {v for key in keys for v in variant_keys(key, only)}


def check_new_sizes(root: Path, keys: list[str], only: tuple[str, ...] = ("BI", "MI", "SI")) \
        -> None:
    files = local_files(root)
    for key in keys:
        width, height = dimensions(files[key])
        for suffix, variant in zip(only, variant_keys(key, only), strict=True):
            assert dimensions(files[variant]) == new_size(suffix, width, height), variant


def resize(args: list[str], environ: dict[str, str], cwd: Path) -> tuple[int, Any]:
    result = run_cli(["resize", "-j", "2", *args], environ | {"RESIZING_CONFIG": NEW_SIZES}, cwd)
    assert result.returncode == 0, describe(result)
    return result.returncode, summary_of(result)


def test_resize_regenerates_every_variant_after_a_config_change(
        resize_environ: dict[str, str], tmp_path: Path) -> None:
    active, incoming = tmp_path / "active", tmp_path / "incoming"
    before, before_incoming = local_snapshot(active), local_snapshot(incoming)

    _, counts = resize([], resize_environ, tmp_path)

    assert (counts.items, counts.done, counts.failed) == (5, 5, 0)
    assert changed(before, local_snapshot(active)) == variants_of(*ACTIVE_KEYS), \
        "exactly the variants of the active originals are rewritten"
    check_new_sizes(active, ACTIVE_KEYS)
    assert local_snapshot(incoming) == before_incoming, "resize touched incoming"


def test_resize_selects_by_key_prefix_publication_time_and_suffix(
        resize_environ: dict[str, str], tmp_path: Path) -> None:
    active = tmp_path / "active"

    before = local_snapshot(active)
    _, counts = resize(["--key", A], resize_environ, tmp_path)
    assert (counts.items, counts.done) == (1, 1)
    assert changed(before, local_snapshot(active)) == variants_of(A)
    check_new_sizes(active, [A])

    before = local_snapshot(active)
    _, counts = resize(["--prefix", "16", "--only", "BI"], resize_environ, tmp_path)
    assert (counts.items, counts.done) == (2, 2)
    assert changed(before, local_snapshot(active)) == variants_of(D, E, only=("BI",)), \
        "--only BI must leave MI and SI alone"
    check_new_sizes(active, [D, E], only=("BI",))

    before = local_snapshot(active)
    _, counts = resize(["--since", "2021-01-01", "--until", "2022-12-31T23:59:59Z"],
                       resize_environ, tmp_path)
    assert (counts.items, counts.done) == (2, 2), "published in 2021 and 2022: B and C"
    assert changed(before, local_snapshot(active)) == variants_of(B, C)
    check_new_sizes(active, [B, C])


def test_resize_limit_stops_after_n_items(resize_environ: dict[str, str],
                                          tmp_path: Path) -> None:
    """-l N: the first N active originals in catalog order, as migrate's -l."""
    active = tmp_path / "active"
    before = local_snapshot(active)

    _, counts = resize(["-l", "2"], resize_environ, tmp_path)

    assert (counts.items, counts.done) == (2, 2), f"-l 2 ignored: {counts}"
    assert changed(before, local_snapshot(active)) == variants_of(A, B)


# --- transfer -----------------------------------------------------------------------------

ROLES = ("incoming", "active", "cache")
CACHED = {"derived/ab/cdef0123.webp": b"RIFF\x00derived-1", "derived/12/3456.jpg": jpeg(40)}


@pytest.fixture
def swift_containers(swift: SwiftServer) -> Iterator[Buckets]:
    """A second set of buckets, written through Swift's native API."""
    client = swift.s3_client()
    names = Buckets(unique_name("incoming"), unique_name("active"), unique_name("cache"))
    for name in (names.incoming, names.active, names.cache):
        client.create_bucket(Bucket=name)
    yield names
    for name in (names.incoming, names.active, names.cache):
        _empty_and_delete(client, name)


def write_yaml(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def local_config(root: Path, catalog: str) -> dict[str, Any]:
    return {"storage_backend": "local", "temp_folder": str(root / "temp"),
            "incoming_folder": str(root / "incoming"), "active_folder": str(root / "active"),
            "cache_folder": str(root / "cache"), "database_url": catalog}


def local_tree(root: Path) -> dict[str, dict[str, str]]:
    return {role: {k: sha256(v) for k, v in local_files(root / role).items()} for role in ROLES}


def s3_tree(swift: SwiftServer, buckets: Buckets) -> dict[str, dict[str, str]]:
    client = swift.s3_client()
    return {role: {k: sha256(v) for k, v in s3_objects(client, getattr(buckets, role)).items()}
            for role in ROLES}


def swift_tree(swift: SwiftServer, buckets: Buckets) -> dict[str, dict[str, str]]:
    """Read back through the native API."""
    connection = swift.swift_connection()
    tree: dict[str, dict[str, str]] = {}
    for role in ROLES:
        container = getattr(buckets, role)
        _, listing = connection.get_container(container, full_listing=True)
        tree[role] = {o["name"]: sha256(connection.get_object(container, o["name"])[1])
                      for o in listing}
    return tree


def swift_stamps(swift: SwiftServer, buckets: Buckets) -> dict[str, tuple[str, str]]:
    connection = swift.swift_connection()
    stamps = {}
    for role in ROLES:
        _, listing = connection.get_container(getattr(buckets, role), full_listing=True)
        stamps |= {f"{role}:{o['name']}": (o["hash"], o["last_modified"]) for o in listing}
    return stamps


def test_transfer_local_to_s3_to_swift_and_back_is_byte_identical(
        swift: SwiftServer, buckets: Buckets, swift_containers: Buckets,
        tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    source = tmp_path / "local"
    environ = local_environ(source, catalog)
    seed_images(environ, [Seed(A, jpeg(21)), Seed(C, png(22)), Seed(E, svg(3)),
                          Seed(F, jpeg(23), "incoming")])
    write_tree(source / "cache", CACHED)
    original = local_tree(source)
    total = sum(len(keys) for keys in original.values())
    assert total == 4 * 4 + 2
    credentials = {S3_GROUP: {"endpoint": swift.s3_endpoint,
                              "access_key_id": swift.access_key_id,
                              "secret_key": swift.secret_key, "region": "us-east-1"}}
    local_yaml = write_yaml(tmp_path / "local.yaml", local_config(source, catalog))
    s3_yaml = write_yaml(tmp_path / "s3.yaml", {
        "storage_backend": "s3", "incoming_bucket": buckets.incoming,
        "active_bucket": buckets.active, "cache_bucket": buckets.cache,
        "incoming_prefix": S3_GROUP, "active_prefix": S3_GROUP, "cache_prefix": S3_GROUP,
        "s3_credentials": credentials, "database_url": catalog})
    s3_text = s3_yaml.read_text()
    swift_yaml = write_yaml(tmp_path / "swift.yaml", {
        "storage_backend": "swift", "incoming_bucket": swift_containers.incoming,
        "active_bucket": swift_containers.active, "cache_bucket": swift_containers.cache,
        "os_auth_url": swift.auth_url, "os_username": swift.username,
        "os_password": swift.password, "database_url": "sqlite:///ignored.db"})
    back = tmp_path / "back"
    back_yaml = write_yaml(tmp_path / "back.yaml", local_config(back, catalog))
    environ = clean_environ()  # every setting comes from --config

    planned = run_cli(["transfer", "--config", str(local_yaml), "--to", str(s3_yaml),
                       "--dry-run"], environ, tmp_path)
    assert planned.returncode == 0, describe(planned)
    assert f"dry run: would process {total}, skip 0, fail 0" in planned.stdout
    assert len(re.findall(r"^would process\s+(incoming|active|cache):", planned.stdout,
                          re.MULTILINE)) == total
    assert s3_tree(swift, buckets) == {role: {} for role in ROLES}, "--dry-run wrote"

    to_s3 = run_cli(["transfer", "--config", str(local_yaml), "--to", str(s3_yaml), "-j", "2"],
                    environ, tmp_path)
    assert to_s3.returncode == 0, describe(to_s3)
    counts = summary_of(to_s3)
    assert (counts.items, counts.done, counts.skipped, counts.failed) == (total, total, 0, 0)
    assert s3_tree(swift, buckets) == original

    stamps = swift_stamps(swift, buckets)
    again = run_cli(["transfer", "--config", str(local_yaml), "--to", str(s3_yaml)],
                    environ, tmp_path)
    assert again.returncode == 0, describe(again)
    counts = summary_of(again)
    assert (counts.items, counts.done, counts.skipped) == (total, 0, total), \
        "identical objects must be skipped"
    assert swift_stamps(swift, buckets) == stamps, "the second transfer rewrote objects"

    to_swift = run_cli(["transfer", "--config", str(s3_yaml), "--to", str(swift_yaml),
                        "--switch", "-j", "2"], environ, tmp_path)
    assert to_swift.returncode == 0, describe(to_swift)
    assert summary_of(to_swift).done == total
    assert swift_tree(swift, swift_containers) == original
    switched = yaml.safe_load(s3_yaml.read_text())
    assert (switched["storage_backend"], switched["incoming_bucket"], switched["active_bucket"],
            switched["cache_bucket"], switched["os_auth_url"], switched["database_url"]) == \
        ("swift", swift_containers.incoming, swift_containers.active, swift_containers.cache,
         swift.auth_url, catalog), "--switch: the stores of the target, our catalog"
    assert (tmp_path / "s3.yaml.bak").read_text() == s3_text
    assert f"switched {s3_yaml}" in to_swift.stdout

    # the switched configuration now reads from Swift
    home = run_cli(["transfer", "--config", str(s3_yaml), "--to", str(back_yaml), "-j", "2"],
                   environ, tmp_path)
    assert home.returncode == 0, describe(home)
    assert summary_of(home).done == total
    assert local_tree(back) == original
    for role in ROLES:
        assert local_files(back / role) == local_files(source / role), role


# --- reindex ------------------------------------------------------------------------------


def expected_row(data: bytes, fmt: str, status: str) -> dict[str, Any]:
    width, height = dimensions(data)
    return {"status": status, "format": fmt, "width": width, "height": height,
            "bytes": len(data), "sha256": sha256(data)}


def rows_without_times(url: str) -> dict[str, dict[str, Any]]:
    return {key: {k: v for k, v in row.items() if k != "published_at"}
            for key, row in catalog_images(url).items()}


def reindex(args: list[str], environ: dict[str, str], cwd: Path) -> Any:
    return run_cli(["reindex", "-j", "2", *args], environ, cwd)


def test_reindex_rebuilds_a_lost_catalog(tmp_path: Path) -> None:
    database = tmp_path / "catalog.db"
    catalog = f"sqlite:///{database}"
    environ = local_environ(tmp_path, catalog)
    seed_images(environ, [Seed(A, jpeg(31)), Seed(C, png(32)), Seed(E, svg(7)),
                          Seed(F, jpeg(33), "incoming")])
    stored = local_files(tmp_path / "active") | local_files(tmp_path / "incoming")
    expected = {A: expected_row(stored[A], "jpeg", "active"),
                C: expected_row(stored[C], "png", "active"),
                E: expected_row(stored[E], "svg", "active"),
                F: expected_row(stored[F], "jpeg", "incoming")}
    assert rows_without_times(catalog) == expected
    database.unlink()

    result = reindex([], environ, tmp_path)

    assert result.returncode == 0, describe(result)
    counts = summary_of(result)
    assert (counts.items, counts.done, counts.failed) == (4, 4, 0), describe(result)
    assert rows_without_times(catalog) == expected
    rows = catalog_images(catalog)
    assert all(rows[k]["published_at"] is not None for k in (A, C, E))
    assert rows[F]["published_at"] is None


def test_reindex_dry_run_reports_the_differences_then_a_run_repairs_them(
        tmp_path: Path) -> None:
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    environ = local_environ(tmp_path, catalog)
    active, incoming = tmp_path / "active", tmp_path / "incoming"
    vanished, kept, revived, moved, waiting, unrecorded = (
        image_key(i, "jpg", second=1_700_000_000) for i in range(1, 7))
    seed_images(environ, [Seed(vanished, jpeg(41)), Seed(kept, jpeg(42)),
                          Seed(revived, jpeg(43)), Seed(moved, jpeg(44), "incoming"),
                          Seed(waiting, jpeg(45), "incoming")])
    seed_images(environ, [Seed(unrecorded, png(46))], record=False)
    for key in (vanished, *variant_keys(vanished)):  # its files are gone
        (active / key).unlink()
    for key in (moved, *variant_keys(moved)):  # published behind the catalog's back
        (incoming / key).rename(active / key)
    engine = create_engine(catalog)
    with engine.begin() as connection:  # a tombstone whose image is still there
        connection.execute(text("UPDATE images SET status = 'deleted' WHERE key = :k"),
                           {"k": revived})
    engine.dispose()
    rows_before = catalog_images(catalog)
    files_before = local_snapshot(active) | local_snapshot(incoming)

    planned = reindex(["--dry-run"], environ, tmp_path)

    assert planned.returncode == 0, describe(planned)
    would = set(re.findall(r"^would process\s+(\S+)$", planned.stdout, re.MULTILINE))
    assert would == {f"record:{vanished}", f"store:active:{unrecorded}",
                     f"store:active:{moved}", f"store:active:{revived}"}, describe(planned)
    skipped = set(re.findall(r"^would skip\s+(\S+)$", planned.stdout, re.MULTILINE))
    assert skipped == {f"store:active:{kept}", f"store:incoming:{waiting}",
                       f"record:{kept}", f"record:{moved}", f"record:{waiting}"}, \
        describe(planned)
    assert "dry run: would process 4, skip 5, fail 0" in planned.stdout
    assert catalog_images(catalog) == rows_before, "--dry-run changed the catalog"
    assert query(catalog, "SELECT count(*) FROM jobs") == [(0,)]
    assert local_snapshot(active) | local_snapshot(incoming) == files_before

    repaired = reindex([], environ, tmp_path)

    assert repaired.returncode == 0, describe(repaired)
    counts = summary_of(repaired)
    assert (counts.items, counts.done, counts.skipped, counts.failed) == (9, 4, 5, 0)
    rows = catalog_images(catalog)
    assert {key: row["status"] for key, row in rows.items()} == {
        vanished: "deleted", kept: "active", revived: "active", moved: "active",
        waiting: "incoming", unrecorded: "active"}
    files = local_files(active)
    assert {k: v for k, v in rows[unrecorded].items() if k != "published_at"} == \
        expected_row(files[unrecorded], "png", "active")
    assert rows[moved]["published_at"] is not None
    assert local_snapshot(active) | local_snapshot(incoming) == files_before, \
        "reindex must not touch the stores"
    again = reindex(["--dry-run"], environ, tmp_path)
    assert "dry run: would process 0," in again.stdout, describe(again)


def test_reindex_an_active_record_whose_original_is_only_in_incoming(tmp_path: Path) -> None:
    """The catalog says active, but the active store lost the image and incoming still has it:
    the record must follow the store that holds the image (incoming), not stay active."""
    catalog = f"sqlite:///{tmp_path / 'catalog.db'}"
    environ = local_environ(tmp_path, catalog)
    key = image_key(1, "jpg", second=1_750_000_000)
    seed_images(environ, [Seed(key, jpeg(51), "incoming")])
    engine = create_engine(catalog)
    with engine.begin() as connection:
        connection.execute(text("UPDATE images SET status = 'active' WHERE key = :k"),
                           {"k": key})
    engine.dispose()

    result = reindex([], environ, tmp_path)

    assert result.returncode == 0, describe(result)
    assert catalog_images(catalog)[key]["status"] == "incoming", describe(result)
