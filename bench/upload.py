"""Upload processing: imagehost (in-process libvips) against the c2corg ImageMagick pipeline.

Both sides turn the same generated original into the three default c2corg variants (BI, MI, SI)
in the same run. imagehost calls `process_upload` exactly as the service does; the c2corg side
writes the original to a temporary file and runs one `convert` per variant, as c2corg v6_images
did. Peak RSS of imagehost is measured in fresh child processes (`--child`), so the parent's own
memory (inputs, timings, ImageMagick bookkeeping) does not count.

`--http` also posts the same uploads to `POST /upload` of a real `imagehost serve` (started
here on local folders and SQLite, or the one at `--url`), and sets the whole request (body
read, processing, the writes and the catalog row) beside the in-process floor: the ratios
HTTP / floor and ImageMagick / HTTP, and the server's peak RSS after every upload.

Run: `make bench`, or `.venv/bin/python bench/upload.py --help`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pyvips

from imagehost.config import Settings, load_settings
from imagehost.imaging.formats import sniff_format
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import _load_base, _render_one, configure_libvips
from imagehost.service.policy import ImagePolicy
from imagehost.service.processing import process_upload

DEBIAN_CONVERT = Path("/usr/bin/convert")
APT_INSTALL = (["apt-get", "update", "-qq"],
               ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "imagemagick"])
C2CORG_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("BI", ("-resize", "1500x1500>", "-quality", "90")),
    ("MI", ("-resize", "400x400>", "-quality", "90")),
    ("SI", ("-resize", "200x200^", "-gravity", "center", "-extent", "200x200", "-quality", "90")),
)
IMAGEHOST_RUNS = 7
IMAGEMAGICK_RUNS = 3
SPEEDUP_TARGET = 5.0
RSS_TARGET_MB = 150.0
HTTP_UPLOADS = 15
"""Timed uploads per case over HTTP: the issue's "peak RSS after 15 uploads of each"."""
HTTP_FLOOR_TARGET = 1.25
"""The most an upload over HTTP may cost, as a multiple of the in-process floor's time."""
HTTP_SPEEDUP_TARGETS = {"jpeg-24mp": 10.0, "png-12mp": 5.0}
"""The least ImageMagick / HTTP upload ratio, per case."""
SERVER_STARTUP_SECONDS = 60.0
BASELINE = "baseline"
CHILD_ENV_DROP = ("VIPS_CONCURRENCY", "MALLOC_ARENA_MAX")
"""Unset in children: VIPS_CONCURRENCY moves libvips' own default thread count (what
configure_libvips(0) gets); MALLOC_ARENA_MAX changes glibc's memory behaviour (set on purpose
for one child only)."""
ARENA_ENV = {"MALLOC_ARENA_MAX": "2"}
SERVER_MALLOC_ENV = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")
"""Dropped for the server, which sets both itself (imagehost.memory.tune_malloc)."""

Variants = dict[str, tuple[int, int, int]]
"""suffix -> (width, height, bytes)"""


@dataclass(frozen=True)
class Case:
    name: str
    width: int
    height: int
    extension: str
    seed: int


CASES = (
    Case("jpeg-24mp", 6000, 4000, "jpg", 1),
    Case("png-12mp", 4000, 3000, "png", 2),
)
CASE_NAMES = tuple(case.name for case in CASES)


@dataclass(frozen=True)
class Timing:
    """Medians over the runs, in milliseconds: wall clock and CPU (user + system, all threads)."""

    wall_ms: float
    cpu_ms: float
    runs: int


@dataclass(frozen=True)
class ChildReport:
    peak_rss_mb: float
    uploads: int
    timing: Timing | None


# --- inputs -------------------------------------------------------------------------------


def photo_like(width: int, height: int, seed: int) -> pyvips.Image:
    """Deterministic photo-like sRGB: colour blobs (upscaled low-res noise), a lighting ramp and
    a fine, slightly blurred grain, so that it compresses roughly like a photograph."""
    cells_x, cells_y = max(2, width // 150), max(2, height // 150)
    blobs = [pyvips.Image.gaussnoise(cells_x, cells_y, sigma=40, mean=128, seed=seed * 10 + band)
             for band in range(3)]
    colour = blobs[0].bandjoin(blobs[1:]).resize(width / cells_x, vscale=height / cells_y,
                                                 kernel="cubic")
    xyz = pyvips.Image.xyz(width, height)
    ramp = xyz[0] * (50 / width) + xyz[1] * (30 / height) - 40
    noise = pyvips.Image.gaussnoise(width, height, sigma=10, mean=0, seed=seed * 10 + 7)
    grain = noise.gaussblur(0.7) + noise * 0.25
    image = colour + ramp + grain + [12, 4, -6]
    return image.cast("uchar").copy(interpretation="srgb")


def encode_input(case: Case) -> bytes:
    image = photo_like(case.width, case.height, case.seed)
    if case.extension == "jpg":
        return image.jpegsave_buffer(Q=90, keep="none")
    return image.pngsave_buffer(compression=6, filter="all", keep="none")  # libpng-like


# --- ImageMagick ----------------------------------------------------------------------------


def imagemagick_version(binary: Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "-version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError:
        return None
    first = out.splitlines()[0] if out else ""
    return first.removeprefix("Version: ") if "ImageMagick" in first else None


def ensure_imagemagick() -> tuple[Path, str]:
    """Debian's ImageMagick `convert` (the one on PATH may be a stand-in), installed if missing."""
    candidates = [DEBIAN_CONVERT]
    on_path = shutil.which("convert")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        version = imagemagick_version(candidate)
        if version:
            return candidate, version
    if os.geteuid() != 0:
        sys.exit("ImageMagick is missing: apt-get install --no-install-recommends imagemagick")
    print("ImageMagick missing: installing the Debian package ...", flush=True)
    for command in APT_INSTALL:
        subprocess.run(command, check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    version = imagemagick_version(DEBIAN_CONVERT)
    if not version:
        sys.exit(f"{DEBIAN_CONVERT} is still not ImageMagick after installing it")
    return DEBIAN_CONVERT, version


def imagemagick_limits(convert: Path) -> dict[str, str]:
    out = subprocess.run([str(convert), "-list", "resource"], capture_output=True, text=True,
                         check=True).stdout
    return {m.group(1).lower(): m.group(2)
            for m in re.finditer(r"^\s*([A-Za-z ]+):\s*(\S+)\s*$", out, re.MULTILINE)}


def limit_value(text: str) -> float:
    """`16KP`, `128MP`, `256MiB`, `unlimited` as a number (decimal prefixes: the lower bound)."""
    match = re.fullmatch(r"([\d.]+)([KMGT]?)(?:i?B|P)?", text)
    if not match:
        return float("inf")
    scale = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[match.group(2)]
    return float(match.group(1)) * scale


def check_imagemagick_policy(limits: Mapping[str, str], cases: Sequence[Case]) -> None:
    """Stop early if policy.xml would refuse an input (-limit cannot raise its limits)."""
    for case in cases:
        too_big = [name for name, needed in (("width", case.width), ("height", case.height),
                                             ("area", case.width * case.height))
                   if needed > limit_value(limits.get(name, "unlimited"))]
        if too_big:
            sys.exit(f"ImageMagick policy.xml limits {', '.join(too_big)} refuse {case.name}; "
                     "relax them in /etc/ImageMagick-6/policy.xml")


def output_path(source: Path, out_dir: Path, suffix: str) -> Path:
    return out_dir / f"{source.stem}{suffix}{source.suffix}"


def convert_variants(convert: Path, source: Path, out_dir: Path) -> None:
    """The c2corg pipeline: one `convert` per variant, each decoding the original."""
    for suffix, args in C2CORG_VARIANTS:
        target = output_path(source, out_dir, suffix)
        subprocess.run([str(convert), str(source), *args, str(target)], check=True)


def file_variants(source: Path, out_dir: Path) -> Variants:
    found = {}
    for suffix, _ in C2CORG_VARIANTS:
        data = output_path(source, out_dir, suffix).read_bytes()
        header = pyvips.Image.new_from_buffer(data, "")
        found[suffix] = (header.width, header.height, len(data))
    return found


# --- imagehost ------------------------------------------------------------------------------


def image_policy(concurrency: int | None = None) -> ImagePolicy:
    """What the service does at start-up (default settings), optionally with other threads."""
    settings = load_settings({})
    configure_libvips(settings.vips_concurrency if concurrency is None else concurrency)
    return ImagePolicy.from_settings(settings)


def imagehost_variants(data: bytes, policy: ImagePolicy) -> Variants:
    processed = process_upload(data, policy)
    return {v.spec.suffix: (v.width, v.height, len(v.data)) for v in processed.rendered.variants}


def profile_once(data: bytes, policy: ImagePolicy) -> dict[str, float]:
    """Milliseconds of each step of process_upload, done one by one as processing/render do."""
    marks = [("start", time.perf_counter())]
    fmt = sniff_format(data)
    marks.append(("sniff", time.perf_counter()))
    info = probe_image(data, fmt, policy.limits)
    marks.append(("probe (header, limits)", time.perf_counter()))
    base = _load_base(data, info, policy.specs)
    marks.append(("decode+shrink (thumbnail_buffer)", time.perf_counter()))
    for spec in policy.specs:
        _render_one(base, info, spec)
        marks.append((f"{spec.suffix}: resize+encode", time.perf_counter()))
    return {name: (end - start) * 1e3 for (_, start), (name, end) in pairwise(marks)}


def profile_steps(data: bytes, policy: ImagePolicy, runs: int) -> dict[str, float]:
    """Median ms per step over `runs` runs, after one warm-up."""
    profile_once(data, policy)
    samples = [profile_once(data, policy) for _ in range(runs)]
    return {step: statistics.median(s[step] for s in samples) for step in samples[0]}


# --- measuring --------------------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(work: Callable[[], object], runs: int, *, subprocesses: bool = False) -> Timing:
    """One warm-up call, then `runs` timed calls; CPU of our own threads, or of waited children."""
    cpu_clock = children_cpu if subprocesses else time.process_time
    work()
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, wall0 = cpu_clock(), time.perf_counter()
        work()
        walls.append(time.perf_counter() - wall0)
        cpus.append(cpu_clock() - cpu0)
    return Timing(statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3, runs)


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM, the high-water mark of its own address space.

    Not ru_maxrss: on Linux, exec folds the *old* address space's high-water mark into
    ru_maxrss, and Python's subprocess spawns with vfork, so a child's ru_maxrss starts at the
    parent's peak (here: the generated inputs), not at zero. Started from a shell, both agree."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_child(case: str, source: Path | None, runs: int, threads: int | None) -> None:
    """Child mode: configure, then nothing (baseline), one upload (`runs` 0) or a warm-up and
    `runs` timed uploads; print peak RSS (and timing) as JSON."""
    policy = image_policy(threads)
    timing, uploads = None, 0
    if case != BASELINE:
        if source is None:
            sys.exit("--child needs --input")
        data = source.read_bytes()
        if runs:
            timing = measure(lambda: process_upload(data, policy), runs)
            uploads = runs + 1
        else:
            process_upload(data, policy)
            uploads = 1
    print(json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1), "uploads": uploads,
                      "timing": timing.__dict__ if timing else None}))


def spawn_child(case: str, source: Path | None, runs: int, *, threads: int | None = None,
                extra_env: Mapping[str, str] | None = None) -> ChildReport:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--runs", str(runs)]
    if source is not None:
        command += ["--input", str(source)]
    if threads is not None:
        command += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP} | dict(extra_env or {})
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    timing = Timing(**report["timing"]) if report["timing"] else None
    return ChildReport(report["peak_rss_mb"], report["uploads"], timing)


# --- over HTTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpTiming:
    """Medians over the uploads, in milliseconds: wall clock seen by the client and the
    server process's CPU (user + system, every thread), from /proc (None for --url)."""

    wall_ms: float
    server_cpu_ms: float | None
    uploads: int


@dataclass(frozen=True)
class Server:
    url: str
    pid: int | None
    """The server's process id when it runs on this machine (CPU and RSS are read from
    /proc); None for a server given by --url."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environ(root: Path) -> dict[str, str]:
    """The server as `make run` and the Docker image run it (its own malloc settings), on
    folders and a SQLite catalog under `root`, without the caller's imagehost settings."""
    ours = {name.upper() for name in Settings.model_fields} | {"IMAGEHOST_CONFIG"}
    drop = {*ours, *CHILD_ENV_DROP, *SERVER_MALLOC_ENV}
    base = {k: v for k, v in os.environ.items() if k not in drop}
    return base | {
        "STORAGE_BACKEND": "local", "TEMP_FOLDER": str(root / "temp"),
        "INCOMING_FOLDER": str(root / "incoming"), "ACTIVE_FOLDER": str(root / "active"),
        "CACHE_FOLDER": str(root / "cache"), "DISK_CACHE_FOLDER": str(root / "derived"),
        "DATABASE_URL": f"sqlite:///{root / 'catalog.db'}", "EXPIRE_INTERVAL": "0",
        "ACCESS_LOG": "0", "LOG_LEVEL": "warning"}


def first_start(root: Path) -> float:
    """Start and stop the server once on `root`, as a deployment's first start: it creates
    and migrates the catalog (loading Alembic, which then stays in that process: about 10 MB).
    The measured server is the next start, as every later one, which finds the catalog
    current. Returns the first start's resident memory once it answers, in MB."""
    with started_server(root) as server:
        assert server.pid is not None
        return process_peak_rss_mb(server.pid)


@contextlib.contextmanager
def started_server(root: Path) -> Iterator[Server]:
    """`imagehost serve` on a free loopback port, ready once /ping answers; stopped by PID."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("imagehost")), "serve", "--host",
               "127.0.0.1", "--port", str(port)]
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, env=server_environ(root), cwd=root, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        server = Server(f"http://127.0.0.1:{port}", process.pid)
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while not _pings(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"imagehost serve did not start:\n{(root / 'server.log').read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _pings(url: str) -> bool:
    connection = _connection(url)
    try:
        connection.request("GET", _path(url, "/ping"))
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)


def _path(url: str, route: str) -> str:
    return urlsplit(url).path.rstrip("/") + route


def multipart_body(data: bytes, filename: str) -> tuple[bytes, str]:
    """A browser-like multipart body with the one field `file` (built once per case, so the
    client costs nothing but sending it)."""
    boundary = "----imagehostbench" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of `pid` (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def http_uploads(server: Server, case: Case, data: bytes, uploads: int) -> HttpTiming:
    """One warm-up, then `uploads` timed POST /upload on one keep-alive connection."""
    body, content_type = multipart_body(data, f"photo.{case.extension}")
    connection = _connection(server.url)
    path = _path(server.url, "/upload")
    walls, cpus = [], []
    for i in range(uploads + 1):
        cpu0 = process_cpu_seconds(server.pid) if server.pid else 0.0
        wall0 = time.perf_counter()
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        answer = response.read()
        wall = time.perf_counter() - wall0
        if response.status != 200:
            sys.exit(f"POST /upload answered {response.status}: {answer[:300]!r}")
        if i:  # the first is the warm-up
            walls.append(wall)
            if server.pid:
                cpus.append(process_cpu_seconds(server.pid) - cpu0)
    connection.close()
    return HttpTiming(statistics.median(walls) * 1e3,
                      statistics.median(cpus) * 1e3 if cpus else None, uploads)


@dataclass(frozen=True)
class HttpResult:
    case: Case
    floor: Timing
    http: HttpTiming
    imagemagick: Timing | None

    @property
    def floor_ratio(self) -> float:
        return self.http.wall_ms / self.floor.wall_ms

    @property
    def cpu_floor_ratio(self) -> float | None:
        cpu = self.http.server_cpu_ms
        return cpu / self.floor.cpu_ms if cpu is not None else None

    @property
    def speedup(self) -> float | None:
        return self.imagemagick.wall_ms / self.http.wall_ms if self.imagemagick else None


@dataclass(frozen=True)
class ServerMemory:
    first_start_mb: float
    """Resident memory of the first start, idle (it migrated the new catalog)."""
    idle_mb: float
    """The measured start, idle."""
    peak_mb: float
    """The measured start's peak (VmHWM) after every upload."""


def run_http(cases: Sequence[Case], inputs: Mapping[str, bytes],
             floors: Mapping[str, Timing], imagemagick: Mapping[str, Timing],
             args: argparse.Namespace,
             work_dir: Path) -> tuple[list[HttpResult], ServerMemory | None]:
    """Every case over HTTP on one server (so its peak RSS is after all of them)."""
    first = idle = 0.0
    with contextlib.ExitStack() as stack:
        if args.url:
            server = Server(args.url, None)
        else:
            root = work_dir / "server"
            root.mkdir()
            first = first_start(root)
            server = stack.enter_context(started_server(root))
            assert server.pid is not None
            idle = process_peak_rss_mb(server.pid)
        results = []
        for case in cases:
            print(f"[{case.name}] over HTTP x{args.http_uploads} ({server.url}) ...", flush=True)
            timing = http_uploads(server, case, inputs[case.name], args.http_uploads)
            results.append(HttpResult(case, floors[case.name], timing,
                                      imagemagick.get(case.name)))
        memory = (ServerMemory(first, idle, process_peak_rss_mb(server.pid)) if server.pid
                  else None)
    return results, memory


def print_http(results: Sequence[HttpResult], memory: ServerMemory | None) -> bool:
    """The HTTP table and its targets; True when every target is met."""
    print("\nPOST /upload over HTTP against the in-process floor (process_upload), same run:")
    print("| case | floor ms (CPU) | HTTP ms (server CPU) | HTTP / floor (CPU) "
          "| ImageMagick ms | ImageMagick / HTTP |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        cpu = f"{r.http.server_cpu_ms:.0f}" if r.http.server_cpu_ms is not None else "-"
        cpu_ratio = f"{r.cpu_floor_ratio:.2f}x" if r.cpu_floor_ratio is not None else "-"
        im = f"{r.imagemagick.wall_ms:.0f}" if r.imagemagick else "-"
        speedup = f"{r.speedup:.1f}x" if r.speedup else "-"
        print(f"| {r.case.name} | {r.floor.wall_ms:.0f} ({r.floor.cpu_ms:.0f}) | "
              f"{r.http.wall_ms:.0f} ({cpu}) | {r.floor_ratio:.2f}x ({cpu_ratio}) | {im} | "
              f"{speedup} |")
    uploads = sum(r.http.uploads + 1 for r in results)
    print(f"(medians of {results[0].http.uploads} uploads per case after one warm-up, on one "
          f"keep-alive connection; floor: medians of the in-process runs)")
    print("\nTargets over HTTP:")
    met = True
    for r in results:
        near = r.floor_ratio <= HTTP_FLOOR_TARGET
        line = (f"  {r.case.name}: {r.floor_ratio:.2f}x the floor (target <= "
                f"{HTTP_FLOOR_TARGET}x: {'met' if near else 'MISSED'})")
        met = met and near
        target = HTTP_SPEEDUP_TARGETS.get(r.case.name)
        if r.speedup is not None and target is not None:
            fast = r.speedup >= target
            met = met and fast
            line += (f", {r.speedup:.1f}x faster than ImageMagick (target >= {target:.0f}x: "
                     f"{'met' if fast else 'MISSED'})")
        print(line)
    if memory is not None:
        small = memory.peak_mb < RSS_TARGET_MB
        met = met and small
        print(f"  server peak RSS after {uploads} uploads: {memory.peak_mb:.1f} MB (target < "
              f"{RSS_TARGET_MB:.0f} MB: {'met' if small else 'MISSED'}); idle "
              f"{memory.idle_mb:.1f} MB, {memory.first_start_mb:.1f} MB at the first start, "
              "which migrated the new catalog")
    return met


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseResult:
    case: Case
    input_bytes: int
    imagehost: Timing
    imagemagick: Timing
    imagehost_variants: Variants
    imagemagick_variants: Variants
    rss: ChildReport
    """Default settings, warm-up + `runs` uploads: the figure held against the target."""
    rss_single: ChildReport
    rss_arena: ChildReport
    default_threads: ChildReport | None

    @property
    def ratio(self) -> float:
        return self.imagemagick.wall_ms / self.imagehost.wall_ms

    @property
    def cpu_ratio(self) -> float:
        return self.imagemagick.cpu_ms / self.imagehost.cpu_ms


def run_case(case: Case, data: bytes, work_dir: Path, convert: Path, policy: ImagePolicy,
             args: argparse.Namespace) -> CaseResult:
    source = work_dir / f"upload-{case.name}.{case.extension}"
    source.write_bytes(data)  # c2corg's convert reads a file
    out_dir = work_dir / f"out-{case.name}"
    out_dir.mkdir()
    print(f"[{case.name}] imagehost x{args.runs} ...", flush=True)
    ours = measure(lambda: process_upload(data, policy), args.runs)
    print(f"[{case.name}] ImageMagick x{args.im_runs} ...", flush=True)
    theirs = measure(lambda: convert_variants(convert, source, out_dir), args.im_runs,
                     subprocesses=True)
    print(f"[{case.name}] peak RSS children ...", flush=True)
    rss = spawn_child(case.name, source, args.runs)
    single = spawn_child(case.name, source, 0)
    arena = spawn_child(case.name, source, args.runs, extra_env=ARENA_ENV)
    default = None if args.skip_threads else spawn_child(case.name, source, args.runs, threads=0)
    return CaseResult(case, len(data), ours, theirs, imagehost_variants(data, policy),
                      file_variants(source, out_dir), rss, single, arena, default)


def print_timings(results: Sequence[CaseResult]) -> None:
    print("\n| case | imagehost median ms | ImageMagick median ms | ratio (IM / imagehost) "
          "| imagehost CPU ms | ImageMagick CPU ms | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.case.name} | {r.imagehost.wall_ms:.0f} | {r.imagemagick.wall_ms:.0f} "
              f"| {r.ratio:.1f}x | {r.imagehost.cpu_ms:.0f} | {r.imagemagick.cpu_ms:.0f} "
              f"| {r.cpu_ratio:.1f}x |")
    first = results[0]
    print(f"(medians of {first.imagehost.runs} imagehost / {first.imagemagick.runs} ImageMagick "
          "runs after one warm-up; CPU = user+system of all imagehost threads / of the three "
          "convert processes)")


def print_memory(results: Sequence[CaseResult], baseline: ChildReport) -> None:
    print(f"\nPeak RSS of imagehost (fresh child process each, VmHWM); baseline (import + "
          f"configure, no upload): {baseline.peak_rss_mb:.1f} MB")
    uploads = results[0].rss.uploads
    print(f"| case | peak RSS MB ({uploads} uploads) | net of baseline MB | 1 upload MB "
          f"| {uploads} uploads, MALLOC_ARENA_MAX=2 MB | median ms (default / arena 2) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r.case.name} | {r.rss.peak_rss_mb:.1f} | "
              f"{r.rss.peak_rss_mb - baseline.peak_rss_mb:.1f} | {r.rss_single.peak_rss_mb:.1f} "
              f"| {r.rss_arena.peak_rss_mb:.1f} | {_ms(r.rss)} / {_ms(r.rss_arena)} |")
    lines = []
    for r in results:
        one, default = r.rss.timing, r.default_threads
        if one and default and default.timing:
            lines.append(f"{r.case.name} 1 thread {one.wall_ms:.0f} ms (CPU {one.cpu_ms:.0f}) vs "
                         f"libvips default {default.timing.wall_ms:.0f} ms "
                         f"(CPU {default.timing.cpu_ms:.0f}), {default.peak_rss_mb:.1f} MB")
    if lines:
        print(f"libvips threads, configure_libvips(1) vs (0) = {os.cpu_count()} here, fresh "
              f"children: " + "; ".join(lines))


def _ms(report: ChildReport) -> str:
    return f"{report.timing.wall_ms:.0f}" if report.timing else "-"


def print_variants(results: Sequence[CaseResult]) -> bool:
    """Variant dimensions on both sides; True when they are all identical."""
    print("\nVariants, imagehost vs ImageMagick (WxH, bytes):")
    same = True
    for r in results:
        for suffix, _ in C2CORG_VARIANTS:
            ours, theirs = r.imagehost_variants.get(suffix), r.imagemagick_variants.get(suffix)
            equal = bool(ours and theirs and ours[:2] == theirs[:2])
            same = same and equal
            print(f"  {r.case.name} {suffix}: {_describe(ours)} vs {_describe(theirs)} "
                  f"{'same size' if equal else 'DIFFERENT SIZE'}")
    return same


def _describe(variant: tuple[int, int, int] | None) -> str:
    return f"{variant[0]}x{variant[1]} {variant[2]:>8,d} B" if variant else "missing"


def print_targets(results: Sequence[CaseResult]) -> bool:
    print("\nTargets:")
    met = True
    for r in results:
        fast = r.ratio >= SPEEDUP_TARGET
        small = r.rss.peak_rss_mb < RSS_TARGET_MB
        met = met and fast and small
        print(f"  {r.case.name}: {r.ratio:.1f}x faster (CPU {r.cpu_ratio:.1f}x; target >= "
              f"{SPEEDUP_TARGET:.0f}x: {'met' if fast else 'MISSED'}), peak RSS "
              f"{r.rss.peak_rss_mb:.1f} MB (target < {RSS_TARGET_MB:.0f} MB: "
              f"{'met' if small else 'MISSED'})")
    return met


def print_profile(inputs: Mapping[str, bytes], policy: ImagePolicy, runs: int) -> None:
    print(f"\nWhere imagehost's time goes (median ms of {runs} runs, step by step):")
    for name, data in inputs.items():
        steps = profile_steps(data, policy, runs)
        total = sum(steps.values())
        print(f"  {name}: total {total:.0f} ms")
        for step, ms in steps.items():
            print(f"    {step:34s} {ms:7.1f} ms {ms / total:6.1%}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark imagehost's upload processing (sniff, header limits, decode once, "
                    "encode BI/MI/SI) against the c2corg pipeline (three ImageMagick `convert` "
                    "processes per upload) on generated 24 MP JPEG and 12 MP PNG uploads, check "
                    "that both give the same variant sizes, and measure imagehost's peak RSS.")
    parser.add_argument("--runs", type=int, default=IMAGEHOST_RUNS,
                        help=f"timed imagehost runs per case, after a warm-up "
                             f"(default {IMAGEHOST_RUNS})")
    parser.add_argument("--im-runs", type=int, default=IMAGEMAGICK_RUNS,
                        help=f"timed ImageMagick runs per case, after a warm-up "
                             f"(default {IMAGEMAGICK_RUNS})")
    parser.add_argument("--case", choices=CASE_NAMES, action="append",
                        help="only this case (repeatable; default: all)")
    parser.add_argument("--profile", action="store_true",
                        help="also time each step of imagehost's processing (done anyway when "
                             "a target is missed)")
    parser.add_argument("--skip-threads", action="store_true",
                        help="skip the libvips default-threads (configure_libvips(0)) child")
    parser.add_argument("--http", action="store_true",
                        help="also post the uploads to POST /upload of `imagehost serve` "
                             "(started here on temporary folders, or --url) and compare with "
                             "the in-process floor and ImageMagick")
    parser.add_argument("--http-only", action="store_true",
                        help="only the in-process floor and the uploads over HTTP (no "
                             "ImageMagick, no RSS children): quick, for profiling")
    parser.add_argument("--url", help="a running server's base URL for --http (no CPU or RSS "
                                      "figures then); default: start one")
    parser.add_argument("--http-uploads", type=int, default=HTTP_UPLOADS,
                        help=f"timed uploads per case over HTTP, after a warm-up "
                             f"(default {HTTP_UPLOADS})")
    parser.add_argument("--child", choices=(*CASE_NAMES, BASELINE), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.child and (args.runs < 1 or args.im_runs < 1 or args.http_uploads < 1):
        parser.error("--runs, --im-runs and --http-uploads must be at least 1")
    args.http = args.http or args.http_only or bool(args.url)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, args.input, args.runs, args.threads)
        return 0
    cases = [c for c in CASES if not args.case or c.name in args.case]
    if args.http_only:
        return main_http_only(cases, args)
    convert, im_version = ensure_imagemagick()
    im_limits = imagemagick_limits(convert)
    check_imagemagick_policy(im_limits, cases)
    print("generating inputs ...", flush=True)
    inputs = {case.name: encode_input(case) for case in cases}  # with libvips' default threads
    policy = image_policy()
    baseline = spawn_child(BASELINE, None, 0)
    with tempfile.TemporaryDirectory(prefix="imagehost-bench-") as tmp:
        results = [run_case(case, inputs[case.name], Path(tmp), convert, policy, args)
                   for case in cases]
        if args.http:
            http_results, server_memory = run_http(
                cases, inputs, {r.case.name: r.imagehost for r in results},
                {r.case.name: r.imagemagick for r in results}, args, Path(tmp))

    print(f"\nImageMagick {im_version} ({convert}); policy: "
          + ", ".join(f"{k} {im_limits.get(k, '?')}"
                      for k in ("width", "height", "area", "memory", "map", "thread")))
    print(f"imagehost: pyvips {pyvips.__version__}, libvips {pyvips.version(0)}."
          f"{pyvips.version(1)}.{pyvips.version(2)}, default settings "
          f"(vips_concurrency {load_settings({}).vips_concurrency})")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {os.getloadavg()[0]:.2f} at the "
          "end (anything above 0 is other work competing with the benchmark)")
    print("inputs: " + "; ".join(
        f"{r.case.name} {r.case.width}x{r.case.height} {r.input_bytes / 1e6:.1f} MB "
        f"(sha256 {hashlib.sha256(inputs[r.case.name]).hexdigest()[:12]})" for r in results))
    print_timings(results)
    print_memory(results, baseline)
    same = print_variants(results)
    met = print_targets(results)
    if args.http:
        print_http(http_results, server_memory)
    if args.profile or not met:
        print_profile(inputs, policy, args.runs)
    if not same:
        print("\nFAIL: imagehost and ImageMagick variant dimensions differ", file=sys.stderr)
        return 1
    return 0


def main_http_only(cases: Sequence[Case], args: argparse.Namespace) -> int:
    print("generating inputs ...", flush=True)
    inputs = {case.name: encode_input(case) for case in cases}
    policy = image_policy()
    floors = {}
    for case in cases:
        print(f"[{case.name}] in-process floor x{args.runs} ...", flush=True)
        floors[case.name] = measure(lambda data=inputs[case.name]: process_upload(data, policy),
                                    args.runs)
    with tempfile.TemporaryDirectory(prefix="imagehost-bench-") as tmp:
        results, server_memory = run_http(cases, inputs, floors, {}, args, Path(tmp))
    print(f"machine: {os.cpu_count()} cores, 1-min load average {os.getloadavg()[0]:.2f}")
    print_http(results, server_memory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
