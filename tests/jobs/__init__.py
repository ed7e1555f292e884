"""Helpers of the job tests (migrate, resize, transfer, reindex, resume, Celery): the imagehost
CLI in a subprocess, distinct small test images, c2corg v5 data sets, snapshots of stores and
catalogs, and a tiny HTTP file server on loopback."""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyvips
import yaml
from sqlalchemy import create_engine, text

from tests import imagegen
from tests.kit.cli import (
    CLI_TIMEOUT,
    clean_environ,
    command,
    describe,
    kill,
    run_cli,
    start_cli,
    wait_for,
)
from tests.kit.environ import local_environ as kit_local_environ

__all__ = ["CLI_TIMEOUT", "clean_environ", "command", "describe", "kill", "run_cli",
           "start_cli", "wait_for"]

DEFAULT_SUFFIXES = ("BI", "MI", "SI")

# --- the CLI ---------------------------------------------------------------------------------


def local_environ(root: Path, database_url: str, **overrides: str) -> dict[str, str]:
    """Local stores under `root`, the catalog at `database_url`."""
    return kit_local_environ(root, DATABASE_URL=database_url, **overrides)


_JOB_LINE = re.compile(r"^job (\d+): (\w+): items (\d+), done (\d+), skipped (\d+), "
                       r"failed (\d+), pending (\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class Summary:
    job: int
    kind: str
    items: int
    done: int
    skipped: int
    failed: int
    pending: int


def summary_of(result: subprocess.CompletedProcess[str]) -> Summary:
    """The `job N: kind: items ...` line a job command prints last."""
    found = _JOB_LINE.findall(result.stdout)
    assert found, f"no job summary line in the output\n{describe(result)}"
    job, kind, *counts = found[-1]
    return Summary(int(job), kind, *map(int, counts))


def show_job(job_id: int, environ: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = run_cli(["jobs", "show", str(job_id)], environ, cwd)
    assert result.returncode == 0, describe(result)
    shown = yaml.safe_load(result.stdout)
    assert isinstance(shown, dict), result.stdout
    return shown


def job_started(log: Path, kind: str) -> int | None:
    """The job id from `<kind>: job N started` in a background run's log, once it is there."""
    if not log.exists():
        return None
    found = re.search(rf"{kind}: job (\d+) started", log.read_text(errors="replace"))
    return int(found.group(1)) if found else None


# --- images ---------------------------------------------------------------------------------


def image_key(index: int, ext: str, *, second: int = 1_400_000_000) -> str:
    """A c2corg key `<seconds>_<random>.<ext>`, distinct per index."""
    return f"{second + index}_{10_000 + index}.{ext}"


@functools.cache
def jpeg(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A small photo-like JPEG, different for every seed."""
    return imagegen._photo(width, height, seed=seed).jpegsave_buffer(Q=85, strip=True)


@functools.cache
def png(seed: int, width: int = 160, height: int = 120) -> bytes:
    return imagegen._photo(width, height, seed=seed).pngsave_buffer(compression=6)


@functools.cache
def svg(seed: int) -> bytes:
    return imagegen.svg(200 + seed, 150)


def dimensions(data: bytes) -> tuple[int, int]:
    image = pyvips.Image.new_from_buffer(data, "")
    return image.width, image.height


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def variant_keys(key: str, suffixes: Iterable[str] = DEFAULT_SUFFIXES) -> list[str]:
    """c2corg variant names: `<base><SUFFIX>.<ext>`, SVG originals giving JPEG variants."""
    base, ext = key.rsplit(".", 1)
    ext = "jpg" if ext == "svg" else ext
    return [f"{base}{suffix}.{ext}" for suffix in suffixes]


def image_objects(key: str) -> set[str]:
    return {key, *variant_keys(key)}


# --- c2corg v5 data sets --------------------------------------------------------------------


@dataclass
class V5Set:
    """What a v5 database lists and what its source holds, with the expected outcome."""

    rows: list[tuple[int, int, str, bool]] = field(default_factory=list)
    """app_images_archives rows: (image_archive_id, id, filename, has_svg)."""
    source: dict[str, bytes] = field(default_factory=dict)
    """The v5 originals by key (what a bucket or base URL serves)."""
    good: list[str] = field(default_factory=list)
    """Keys that migrate, in listing order (first archive id ascending)."""
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    svg: list[str] = field(default_factory=list)
    """The `.svg` keys of has_svg rows (also in good)."""
    stale: list[str] = field(default_factory=list)
    """Raster originals (`<base>.jpg`/`.png` of the SVG keys) that sit in active beforehand."""

    @property
    def listed(self) -> list[str]:
        """Every listed key, in listing order (first archive id ascending)."""
        first: dict[str, int] = {}
        for archive_id, _, filename, has_svg in self.rows:
            key = filename.rsplit(".", 1)[0] + ".svg" if has_svg else filename
            first[key] = min(first.get(key, archive_id), archive_id)
        return sorted(first, key=first.__getitem__)

    @property
    def failing(self) -> list[str]:
        return [*self.missing, *self.corrupt]

    def expected_active(self) -> set[str]:
        return set().union(*(image_objects(key) for key in self.good))


def build_v5_set(good: int, *, pngs: int = 0, svgs: int = 0, missing: int = 0,
                 corrupt: int = 0, versions: int = 1, second: int = 1_400_000_000) -> V5Set:
    """A v5 listing with `versions` archive rows per image (duplicates in the listing), the
    images' archive versions interleaved so that ids of one image are not contiguous.
    Corrupt originals alternate between an undecodable JPEG and a BMP (unsupported)."""
    data = V5Set()
    images: list[tuple[str, bool]] = []  # (filename as v5 stored it, has_svg)
    index = 0

    def add(ext: str, payload: bytes | None, has_svg: bool = False) -> str:
        nonlocal index
        index += 1
        filename = image_key(index, ext, second=second)
        images.append((filename, has_svg))
        key = filename.rsplit(".", 1)[0] + ".svg" if has_svg else filename
        if payload is not None:
            data.source[key] = payload
        return key

    for i in range(good):
        data.good.append(add("jpg", jpeg(second % 997 + i)))
    for i in range(pngs):
        data.good.append(add("png", png(second % 991 + i)))
    for i in range(svgs):
        # v5 kept the rasterised .jpg as the filename and flagged has_svg
        key = add("jpg", svg(i), has_svg=True)
        data.good.append(key)
        data.svg.append(key)
        base = key.rsplit(".", 1)[0]
        data.stale += [f"{base}.jpg", f"{base}.png"]
    for _ in range(missing):
        data.missing.append(add("jpg", None))
    for i in range(corrupt):
        broken = imagegen.corrupt_jpeg(64, 48) if i % 2 == 0 else imagegen.bmp_like_garbage()
        data.corrupt.append(add("jpg", broken))
    archive_id = 100
    for version in range(versions):
        for document, (filename, has_svg) in enumerate(images, start=1):
            if version and document % 2 == 0:
                continue  # every other image has a single version
            archive_id += 7
            data.rows.append((archive_id, document, filename, has_svg))
    order = data.listed
    data.good.sort(key=order.index)
    return data


def fill_v5_database(url: str, rows: Iterable[tuple[int, int, str, bool]]) -> None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM app_images_archives"))
            connection.execute(
                text("INSERT INTO app_images_archives (image_archive_id, id, filename, "
                     "has_svg) VALUES (:a, :d, :f, :s)"),
                [{"a": a, "d": d, "f": f, "s": s} for a, d, f, s in rows])
    finally:
        engine.dispose()


def write_tree(root: Path, objects: dict[str, bytes]) -> None:
    for key, payload in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)


# --- stores ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    sha256: str
    inode: int
    mtime_ns: int
    size: int


def local_files(root: Path) -> dict[str, bytes]:
    """Every object of a local store (its .tmp work area excluded) with its bytes."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".tmp" not in p.relative_to(root).parts}


def local_snapshot(root: Path) -> dict[str, FileState]:
    """Per object: content hash plus inode and mtime (a rewrite renames a new file in)."""
    snapshot = {}
    for key, payload in local_files(root).items():
        stat = (root / key).stat()
        snapshot[key] = FileState(sha256(payload), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return snapshot


def changed(before: dict[str, FileState], after: dict[str, FileState]) -> set[str]:
    """Keys written, added or removed between two snapshots."""
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def s3_listing(client: Any, bucket: str) -> dict[str, tuple[str, datetime, int]]:
    """key -> (etag, last modified, size) of every object in a bucket."""
    listing = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            listing[item["Key"]] = (item["ETag"], item["LastModified"], item["Size"])
    return listing


def s3_objects(client: Any, bucket: str) -> dict[str, bytes]:
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in s3_listing(client, bucket)}


def put_objects(client: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, payload in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=payload)


def describe_images(objects: dict[str, bytes]) -> dict[str, tuple[str, int, int, int]]:
    """key -> (sha256, width, height, bytes): what must match between two runs' stores."""
    described = {}
    for key, payload in objects.items():
        width, height = dimensions(payload)
        described[key] = (sha256(payload), width, height, len(payload))
    return described


# --- catalogs -------------------------------------------------------------------------------


def _engine(url: str) -> Any:
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def catalog_images(url: str) -> dict[str, dict[str, Any]]:
    """key -> the catalog columns the jobs set."""
    rows = query(url, "SELECT key, status, format, width, height, bytes, sha256, "
                      "published_at FROM images")
    return {key: {"status": status, "format": fmt, "width": width, "height": height,
                  "bytes": size, "sha256": digest, "published_at": published}
            for key, status, fmt, width, height, size, digest, published in rows}


def job_items(url: str, job_id: int) -> list[tuple[int, str, str, int, str | None]]:
    """(id, key, state, attempts, error) of a job's items in listing order."""
    return query(url, "SELECT id, key, state, attempts, error FROM job_items "
                      "WHERE job_id = :job ORDER BY id", job=job_id)


def item_counts(url: str, job_id: int | None) -> dict[str, int]:
    if job_id is None:
        return {}
    rows = query(url, "SELECT state, count(*) FROM job_items WHERE job_id = :job "
                      "GROUP BY state", job=job_id)
    return dict(rows)  # type: ignore[arg-type]


# --- a tiny HTTP file server ----------------------------------------------------------------

FILE_SERVER = r"""
import functools, http.server, sys, threading, time

root, delay, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with lock, open(log, "a") as out:
            out.write(self.path + "\n")
        time.sleep(delay)
        super().do_GET()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                         functools.partial(Handler, directory=root))
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class FileServer:
    """`with FileServer(root, delay) as server:` serves `root` at `server.url` on loopback
    (http.server in a subprocess), sleeping `delay` s per GET and logging every path."""

    def __init__(self, root: Path, log: Path, delay: float = 0.0) -> None:
        self.root, self.log, self.delay = root, log, delay
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FileServer:
        self.log.touch()
        self.process = subprocess.Popen(
            [sys.executable, "-c", FILE_SERVER, str(self.root), str(self.delay), str(self.log)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            start_new_session=True)
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            kill(self.process)
            raise AssertionError(f"the file server did not start (printed {port!r})")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        kill(self.process)

    def requests(self) -> list[str]:
        """Every requested key so far, in order."""
        return [line.lstrip("/") for line in self.log.read_text().splitlines() if line]


# --- seeding stores and catalog in-process -----------------------------------------------


@dataclass(frozen=True)
class Seed:
    key: str
    data: bytes
    status: str = "active"
    """active or incoming: the store it goes to and its catalog status."""
    published_at: datetime | None = None


def seed_images(environ: dict[str, str], images: Iterable[Seed], *,
                record: bool = True) -> None:
    """Store each image (original + variants of the configured RESIZING_CONFIG) in its store
    and, with `record`, catalog it, as uploads and publishes would have."""
    from datetime import UTC

    from imagehost.catalog.models import ImageStatus
    from imagehost.config import load_settings
    from imagehost.runtime import open_context
    from imagehost.service.processing import process_upload
    from imagehost.service.storing import store_all, store_image

    with open_context(load_settings(environ)) as ctx:
        for image in images:
            status = ImageStatus(image.status)
            processed = process_upload(image.data, ctx.policy)
            now = datetime.now(UTC)
            if not record:
                store_all(ctx.store_for(status), processed.objects(image.key))
                continue
            stored = store_image(ctx, image.key, processed, status, now=now)
            if image.published_at is not None:
                stored.record.published_at = image.published_at
                ctx.records.save(stored.record)
