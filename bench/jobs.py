"""Bulk resize throughput: `imagehost resize` (local threads, Celery workers) against the c2corg
ImageMagick pipeline.

A fresh local setup in a work directory (SQLite catalog, local incoming/active/cache folders) is
filled with generated, deterministic, photo-like JPEGs: each one goes through the service's own
`store_record`, so it becomes an active original with its variants and a catalog record. Then,
in the same run:

  * ImageMagick, as c2corg v6_images did: per image, one `convert` per variant (BI, MI, SI),
    each decoding the original; images taken 1 and 2 at a time;
  * `imagehost resize -j 1` and `-j 2`: one subprocess each, exactly as an operator runs it;
  * `imagehost resize --broker redis://...` with two `imagehost worker -j 1` subprocesses,
    sharing the SQLite catalog and the active folder. The broker is a private redis-server
    (Debian's package, installed if missing) on a free loopback port, without persistence,
    stopped by PID at the end: not scripts/services/redis.sh, which `make test` stops when it
    finishes and whose database 0 is where the tests' workers take tasks from.

Before every imagehost run the variants are deleted from the active store, and afterwards every
one must be back. The wall time of each `imagehost resize` subprocess counts everything (start,
imports, listing, processing); the job's own rate comes from `imagehost jobs show`.

Run: `.venv/bin/python bench/jobs.py --help`; `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyvips
import yaml
from upload import C2CORG_VARIANTS, ensure_imagemagick, photo_like

from imagehost.config import CONFIG_FILE_VARIABLE, Settings, env_name, load_settings
from imagehost.runtime import open_context
from imagehost.service.records import store_record
from imagehost.storage.factory import Stores

IMAGES = 500
QUICK_IMAGES = 60
ROUNDS = 1
WIDTH, HEIGHT = 1600, 1200
MARGIN_X, MARGIN_Y = 800, 600
"""The photos are crops of one generated canvas this much larger than a photo."""
SEED = 5
KEY_BASE = 1_700_000_000
REDIS_DB = 13
"""Database number added to a --broker URL that names none, so that the benchmark's queue is not
the one tests or other workers use on database 0."""
WORKERS = 2
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
CHILD_ENV_DROP = ("VIPS_CONCURRENCY", "MALLOC_ARENA_MAX", CONFIG_FILE_VARIABLE)
APT_REDIS = (["apt-get", "update", "-qq"],
             ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"])


@dataclass(frozen=True)
class Setting:
    name: str
    parallel: int
    imagemagick: bool
    celery: bool = False

    @property
    def baseline(self) -> str:
        """The ImageMagick setting this one is compared with: the same parallelism."""
        return f"im-{self.parallel}"


SETTINGS = (
    Setting("im-1", 1, imagemagick=True),
    Setting("im-2", 2, imagemagick=True),
    Setting("local-1", 1, imagemagick=False),
    Setting("local-2", 2, imagemagick=False),
    Setting("celery-2", WORKERS, imagemagick=False, celery=True),
)
LABELS = {
    "im-1": "ImageMagick, 1 image at a time (3 `convert` per image)",
    "im-2": "ImageMagick, 2 images at a time (3 `convert` per image)",
    "local-1": "`imagehost resize -j 1`",
    "local-2": "`imagehost resize -j 2`",
    "celery-2": f"`imagehost resize --broker`, {WORKERS} x `imagehost worker -j 1`",
}


@dataclass
class Run:
    """One timed run of one setting."""

    wall_s: float
    cpu_s: float
    images: int
    job_rate: float | None = None
    job_id: int | None = None

    @property
    def rate(self) -> float:
        return self.images / self.wall_s

    @property
    def cpu_ms_per_image(self) -> float:
        return self.cpu_s * 1e3 / self.images


@dataclass
class Result:
    setting: Setting
    runs: list[Run] = field(default_factory=list)

    def median(self, value: Callable[[Run], float | None]) -> float | None:
        values = [v for v in map(value, self.runs) if v is not None]
        return statistics.median(values) if values else None


# --- inputs -----------------------------------------------------------------------------------


def generate_photos(count: int) -> Iterator[tuple[str, bytes]]:
    """`count` deterministic 1600x1200 JPEGs (q90), with c2corg-style keys: crops of one
    photo-like canvas (bench/upload.py's generator) at different offsets, every other one
    mirrored, each with its own brightness, so that no two are alike."""
    canvas = photo_like(WIDTH + MARGIN_X, HEIGHT + MARGIN_Y, SEED).copy_memory()
    for index in range(count):
        left = (index * 211) % (MARGIN_X + 1)
        top = (index * 137) % (MARGIN_Y + 1)
        image = canvas.crop(left, top, WIDTH, HEIGHT)
        if index % 2:
            image = image.fliphor()
        gain = 0.85 + 0.3 * ((index * 37) % 101) / 100
        image = image.linear([gain] * 3, [0] * 3).cast("uchar")
        yield f"{KEY_BASE + index}_{index}.jpg", image.jpegsave_buffer(Q=90, keep="none")


def write_config(work: Path) -> Path:
    config = {
        "storage_backend": "local",
        "temp_folder": str(work / "temp"),
        "incoming_folder": str(work / "incoming"),
        "active_folder": str(work / "active"),
        "cache_folder": str(work / "cache"),
        "disk_cache_folder": str(work / "derived"),
        "database_url": f"sqlite:///{work / 'catalog.db'}",
    }
    path = work / "imagehost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class Catalog:
    settings: Settings
    stores: Stores
    variants: dict[str, list[str]]
    """original key -> variant keys"""


def fill_catalog(config: Path, photos: Sequence[tuple[str, bytes]]) -> Catalog:
    """Every photo as an active original with its variants and record, through the service's
    `store_record` (as POST /records does)."""
    settings = load_settings({}, config)
    with open_context(settings) as ctx:

        def store(photo: tuple[str, bytes]) -> tuple[str, list[str]]:
            saved = store_record(ctx, photo[1], path=photo[0])
            return saved.record.key, list(saved.record.variants)

        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            variants = dict(pool.map(store, photos))
        return Catalog(settings, ctx.stores, variants)


# --- subprocesses -----------------------------------------------------------------------------


def child_env(config: Path) -> dict[str, str]:
    """The environment of every imagehost subprocess: the benchmark's configuration file only
    (a DATABASE_URL or ACTIVE_FOLDER in our own environment would override it)."""
    settings_vars = {env_name(name) for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items()
           if k not in CHILD_ENV_DROP and k not in settings_vars}
    return env | {CONFIG_FILE_VARIABLE: str(config)}


def imagehost_command() -> list[str]:
    script = Path(sys.executable).with_name("imagehost")
    if script.exists():
        return [str(script)]
    found = shutil.which("imagehost")
    return [found] if found else [sys.executable, "-m", "imagehost.cli"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """User + system seconds of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen[Any], name: str) -> None:
    """SIGTERM (a warm shutdown for Celery), then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"{name} (pid {process.pid}) did not stop in {STOP_TIMEOUT:.0f} s: killing it",
              flush=True)
        process.kill()
        process.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the broker -------------------------------------------------------------------------------


def with_db(url: str, db: int) -> str:
    """A redis URL on database `db` (kept when the URL names one)."""
    match = re.fullmatch(r"(redis://[^/]+)(/\d*)?", url.rstrip("/"))
    if match and not (match.group(2) or "").strip("/"):
        return f"{match.group(1)}/{db}"
    return url


def redis_ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def ensure_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("redis-server is missing: apt-get install --no-install-recommends redis-server")
    print("redis-server missing: installing the Debian package ...", flush=True)
    for command in APT_REDIS:
        subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("redis-server")
    if not found:
        sys.exit("redis-server is still missing after installing it")
    return found


@contextmanager
def own_redis(work: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port, no persistence, stopped by PID."""
    binary = ensure_redis_server()
    port = free_port()
    log = work / "redis.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work), "--daemonize", "no"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + START_TIMEOUT
        while not redis_ping(url):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"redis-server did not start:\n{tail(log)}")
            time.sleep(0.1)
        print(f"broker: {url} (redis-server pid {process.pid})", flush=True)
        yield url
    finally:
        stop_process(process, "redis-server")


@contextmanager
def broker(args: argparse.Namespace, work: Path) -> Iterator[str]:
    if args.broker:
        url = with_db(args.broker, REDIS_DB)
        if not redis_ping(url):
            sys.exit(f"--broker {url} does not answer")
        print(f"broker: {url} (--broker)", flush=True)
        yield url
        return
    with own_redis(work) as url:
        yield url


@contextmanager
def celery_workers(url: str, config: Path, work: Path, count: int) -> Iterator[list[int]]:
    """`count` `imagehost worker -j 1` processes; yields their PIDs once each says it is
    ready."""
    processes: list[tuple[subprocess.Popen[Any], Path]] = []
    try:
        for number in range(1, count + 1):
            log = work / f"worker-{number}.log"
            with log.open("w") as out:
                processes.append((subprocess.Popen(
                    [*imagehost_command(), "worker", "--broker", url, "-j", "1"],
                    stdout=out, stderr=subprocess.STDOUT, env=child_env(config)), log))
        deadline = time.monotonic() + START_TIMEOUT
        for process, log in processes:
            while " ready." not in tail(log, 200):
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"imagehost worker (pid {process.pid}) did not start:\n{tail(log)}")
                time.sleep(0.2)
        print("workers: " + ", ".join(f"pid {p.pid}" for p, _ in processes), flush=True)
        yield [process.pid for process, _ in processes]
    finally:
        for process, _ in processes:
            stop_process(process, "imagehost worker")


# --- the settings -----------------------------------------------------------------------------


def im_output(out_dir: Path, key: str, suffix: str) -> Path:
    stem, extension = key.rsplit(".", 1)
    return out_dir / f"{stem}{suffix}.{extension}"


def run_imagemagick(convert: Path, sources: Sequence[Path], out_dir: Path, parallel: int,
                    env: Mapping[str, str]) -> Run:
    """The c2corg pipeline: per image, one `convert <original> <args> <variant>` per variant,
    one after the other; `parallel` images at a time."""
    out_dir.mkdir(exist_ok=True)

    def one(source: Path) -> None:
        for suffix, im_args in C2CORG_VARIANTS:
            subprocess.run([str(convert), str(source), *im_args,
                            str(im_output(out_dir, source.name, suffix))], check=True, env=env)

    cpu0, wall0 = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, sources))
    return Run(time.perf_counter() - wall0, children_cpu() - cpu0, len(sources))


def delete_variants(catalog: Catalog) -> None:
    for keys in catalog.variants.values():
        for key in keys:
            catalog.stores.active.delete(key)


def missing_variants(catalog: Catalog) -> list[str]:
    return [key for keys in catalog.variants.values() for key in keys
            if not catalog.stores.active.exists(key)]


def run_resize(extra: Sequence[str], config: Path, work: Path, name: str,
               worker_pids: Sequence[int] = ()) -> tuple[float, float, int]:
    """One `imagehost resize` subprocess: wall seconds, CPU seconds (its own, plus the workers'
    during the run), job id."""
    log = work / f"{name}.log"
    workers0 = sum(map(process_cpu, worker_pids))
    cpu0, wall0 = children_cpu(), time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run([*imagehost_command(), "resize", *extra], stdout=subprocess.PIPE,
                              stderr=out, text=True, env=child_env(config), check=False)
    wall = time.perf_counter() - wall0
    cpu = children_cpu() - cpu0 + sum(map(process_cpu, worker_pids)) - workers0
    match = re.search(r"^job (\d+): ", done.stdout, re.MULTILINE)
    if done.returncode or not match:
        sys.exit(f"imagehost resize {' '.join(extra)} failed (exit {done.returncode}):\n"
                 f"{done.stdout}{tail(log)}")
    return wall, cpu, int(match.group(1))


def job_report(job_id: int, config: Path) -> dict[str, Any]:
    out = subprocess.run([*imagehost_command(), "jobs", "show", str(job_id)], capture_output=True,
                         text=True, check=True, env=child_env(config)).stdout
    return yaml.safe_load(out)


def run_imagehost(setting: Setting, catalog: Catalog, config: Path, work: Path, round_: int,
                  url: str | None, worker_pids: Sequence[int]) -> Run:
    delete_variants(catalog)
    extra = ["--broker", url] if setting.celery and url else ["-j", str(setting.parallel)]
    wall, cpu, job_id = run_resize(extra, config, work, f"{setting.name}-{round_}", worker_pids)
    report = job_report(job_id, config)
    images = len(catalog.variants)
    if report["done"] != images or report["failed"] or report["pending"]:
        sys.exit(f"job {job_id} did not do every image: {report}")
    missing = missing_variants(catalog)
    if missing:
        sys.exit(f"job {job_id} left {len(missing)} variants missing, e.g. {missing[:3]}")
    return Run(wall, cpu, images, float(report["rate_per_second"]), job_id)


def warm_up(catalog: Catalog, config: Path, work: Path, url: str | None) -> None:
    """One image through each path, untimed: compiles .pyc files, warms the page cache and
    lets each Celery worker build its job context (first task) before the timed runs."""
    first = next(iter(catalog.variants))
    run_resize(["--key", first, "-j", "1"], config, work, "warm-up-local")
    if url:
        for number in range(WORKERS):
            run_resize(["--key", first, "--broker", url], config, work, f"warm-up-celery-{number}")


# --- checks and report ------------------------------------------------------------------------


def dimensions(data: bytes) -> tuple[int, int]:
    header = pyvips.Image.new_from_buffer(data, "")
    return header.width, header.height


def compare_variants(catalog: Catalog, out_dir: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """Number of variants whose size differs between imagehost and ImageMagick, and the sizes
    of the first image's variants."""
    differ = 0
    first: dict[str, tuple[int, int]] = {}
    for key in catalog.variants:
        for suffix, _ in C2CORG_VARIANTS:
            ours_key = im_output(Path(), key, suffix).name
            ours = dimensions(catalog.stores.active.get(ours_key))
            theirs = dimensions(im_output(out_dir, key, suffix).read_bytes())
            differ += ours != theirs
            first.setdefault(suffix, ours)
    return differ, first


def fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def print_table(results: Mapping[str, Result]) -> None:
    print("\n| setting | wall s | images/s | job rate images/s (`jobs show`) | CPU ms / image "
          "| vs ImageMagick, same parallelism (images/s) | CPU vs ImageMagick |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        base = results.get(result.setting.baseline)
        rate = result.median(lambda r: r.rate)
        cpu = result.median(lambda r: r.cpu_ms_per_image)
        ratio = cpu_ratio = None
        if base and rate and cpu:
            base_rate, base_cpu = base.median(lambda r: r.rate), base.median(
                lambda r: r.cpu_ms_per_image)
            ratio = rate / base_rate if base_rate else None
            cpu_ratio = base_cpu / cpu if base_cpu else None
        print(f"| {LABELS[name]} | {fmt(result.median(lambda r: r.wall_s))} | {fmt(rate)} "
              f"| {fmt(result.median(lambda r: r.job_rate))} | {fmt(cpu, '.0f')} "
              f"| {fmt(ratio, '.1f', 'x')} | {fmt(cpu_ratio, '.1f', 'x')} |")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `imagehost resize` (regenerating BI/MI/SI of active originals) "
                    "with 1 and 2 local threads and with 2 Celery workers (redis broker, shared "
                    "SQLite catalog), against the c2corg pipeline (three ImageMagick `convert` "
                    "processes per image, 1 and 2 images at a time), on generated 1600x1200 "
                    "JPEGs, in images per second.")
    parser.add_argument("--images", type=int, default=IMAGES,
                        help=f"number of generated photos (default {IMAGES})")
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run: {QUICK_IMAGES} images (unless --images is given)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"run every setting this many times, one round after the other, "
                             f"and report medians (default {ROUNDS})")
    parser.add_argument("--only", choices=[s.name for s in SETTINGS], action="append",
                        help="only this setting (repeatable; default: all). The ratios need "
                             "the ImageMagick setting of the same parallelism")
    parser.add_argument("--broker",
                        help=f"use this redis broker (database /{REDIS_DB} if the URL names "
                             f"none) instead of a private redis-server on a free loopback port")
    parser.add_argument("--im-threads", type=int,
                        help="MAGICK_THREAD_LIMIT for ImageMagick (default: unset, its OpenMP "
                             "default of one thread per core, as c2corg ran it)")
    parser.add_argument("--work-dir", type=Path,
                        help="keep the catalog, stores and logs here (default: a temporary "
                             "directory, removed at the end)")
    args = parser.parse_args(argv)
    if args.quick and args.images == IMAGES:
        args.images = QUICK_IMAGES
    if args.images < 1 or args.rounds < 1:
        parser.error("--images and --rounds must be at least 1")
    return args


@contextmanager
def work_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            sys.exit(f"--work-dir {path} is not empty")
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="imagehost-bench-jobs-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = [s for s in SETTINGS if not args.only or s.name in args.only]
    convert, im_version = ensure_imagemagick()
    im_env = {k: v for k, v in os.environ.items() if not k.startswith("MAGICK_")}
    if args.im_threads:
        im_env["MAGICK_THREAD_LIMIT"] = str(args.im_threads)
    with work_dir(args.work_dir) as work:
        config = write_config(work)
        print(f"generating {args.images} photos ...", flush=True)
        started = time.perf_counter()
        photos = list(generate_photos(args.images))
        digest = hashlib.sha256(b"".join(data for _, data in photos)).hexdigest()[:12]
        size = sum(len(data) for _, data in photos)
        print(f"storing them through store_record ({time.perf_counter() - started:.0f} s so "
              "far) ...", flush=True)
        catalog = fill_catalog(config, photos)
        sources_dir = work / "originals"
        sources_dir.mkdir()
        sources = []
        for key, _ in photos:  # c2corg's convert reads files: the stored originals
            sources.append(sources_dir / key)
            sources[-1].write_bytes(catalog.stores.active.get(key))
        del photos
        print(f"ready in {time.perf_counter() - started:.0f} s", flush=True)
        results = {s.name: Result(s) for s in settings}
        want_celery = any(s.celery for s in settings)
        with (broker(args, work) if want_celery else _nothing()) as url, \
             (celery_workers(url, config, work, WORKERS) if url else _nothing()) as pids:
            warm_up(catalog, config, work, url)
            for round_ in range(1, args.rounds + 1):
                for setting in settings:
                    print(f"[round {round_}/{args.rounds}] {setting.name} ...", end=" ",
                          flush=True)
                    if setting.imagemagick:
                        run = run_imagemagick(convert, sources, work / f"im-out-{setting.name}",
                                              setting.parallel, im_env)
                    else:
                        run = run_imagehost(setting, catalog, config, work, round_, url,
                                            pids or ())
                    results[setting.name].runs.append(run)
                    job = f", job #{run.job_id} rate {run.job_rate:.1f}/s" if run.job_id else ""
                    print(f"{run.wall_s:.1f} s, {run.rate:.1f} images/s, CPU "
                          f"{run.cpu_ms_per_image:.0f} ms/image{job}", flush=True)
        im_out = next((work / f"im-out-{s.name}" for s in settings if s.imagemagick), None)
        ih_ran = any(not s.imagemagick for s in settings)
        differ, first = compare_variants(catalog, im_out) if im_out and ih_ran else (0, {})

    print(f"\nImageMagick {im_version} ({convert}), MAGICK_THREAD_LIMIT "
          f"{im_env.get('MAGICK_THREAD_LIMIT', 'unset')}")
    print(f"imagehost: pyvips {pyvips.__version__}, libvips {pyvips.version(0)}."
          f"{pyvips.version(1)}.{pyvips.version(2)}, vips_concurrency "
          f"{catalog.settings.vips_concurrency}, SQLite catalog, local active folder")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {os.getloadavg()[0]:.2f} at the "
          "end (anything above 0 is other work competing with the benchmark)")
    print(f"inputs: {args.images} JPEGs {WIDTH}x{HEIGHT} q90, {size / 1e6:.1f} MB "
          f"(sha256 of all {digest}); {args.rounds} round(s), medians")
    print_table(results)
    print("(wall: each `imagehost resize` subprocess from start to exit, or all `convert` "
          "processes; job rate: items / (last item - job start) from `imagehost jobs show`; "
          "CPU: user+system of the subprocesses, Celery workers included; ratios: images/s of "
          "the row / of ImageMagick with the same parallelism, ImageMagick CPU / the row's)")
    if first:
        print("variants of the first image: " + ", ".join(
            f"{suffix} {w}x{h}" for suffix, (w, h) in first.items()))
    if differ:
        print(f"\nFAIL: {differ} variants differ in size between imagehost and ImageMagick",
              file=sys.stderr)
        return 1
    if first:
        print("variant sizes: identical on both sides for every image")
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    sys.exit(main())
