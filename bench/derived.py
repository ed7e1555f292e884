"""Derived images over HTTP on loopback: imagehost against thumbor and a plain pyvips loop.

In one run, on the same generated photos, every side makes the same output: fit inside a
512x512 box, encoded as JPEG, WebP, AVIF or PNG at the same quality.

Source cases: jpeg-2000px (2000x1333) and jpeg-24mp (6000x4000), JPEG Q90, each to all four
output formats; png-2000px (RGB PNG, compression 6, adaptive filters) and webp-2000px (WebP
Q90), 2000x1333, each to its own format only. There is no AVIF source: imagehost refuses AVIF
uploads (400), as c2corg refuses HEIC; a refused upload is reported, and only thumbor and the
floor from the original run for that case.

* imagehost: `imagehost serve` as a subprocess with temporary folders, SQLite and
  API_SECRET_KEY. The sources are uploaded through POST /images, so the stored variants exist
  and the source ladder applies. There are two servers: the default one (memory and disk cache
  on) and one with MEMORY_CACHE_BYTES=0 and DISK_CACHE_BYTES=0. The second still has the
  cache store, which cannot be switched off.
  Requests: GET /images/<id>/image?w=N&h=N&format=F&quality=Q.
* thumbor: installed by this script in its own virtualenv (`pip install thumbor`), configured
  by a generated thumbor.conf. The file loader reads a folder holding the same original
  files. Unsafe URLs are allowed, the source storage is off, and
  ENGINE_THREADPOOL_SIZE = RENDER_THREADS. It runs twice: without a result storage, and with
  thumbor.result_storages.file_storage. Requests:
  /unsafe/fit-in/NxN/filters:format(F):quality(Q)/<file>.
* floor: the same operation in a plain pyvips loop, with no HTTP, in a child process with
  RENDER_THREADS threads: decode and fit N as imagehost does (a JPEG at the largest DCT scale
  still covering the box, then `thumbnail_image`; other formats `thumbnail_buffer`), then
  encode with imagehost's encoder settings. It runs once from the stored BI variant (the
  source that imagehost's ladder picks; stored in the original's format) and once from the
  original (what thumbor decodes).

Each cell runs --rounds rounds, the sides taking turns; each round is some warm-up requests,
then up to --requests requests or --seconds seconds, whichever comes first. A minimal asyncio
HTTP/1.1 client (keep-alive, one connection per request in flight) keeps --concurrency requests
in flight (--hot-concurrency for the hot key). "miss" means that every URL is distinct: the box
side goes 512, 511, 510, ... and every imagehost answer must say X-Imagehost-Source: rendered.
"hot" means the same URL every time (cached by then, except
on thumbor without a result storage). req/s is the median over the rounds; server CPU per
request comes from /proc/<pid>/stat. Peak RSS is
VmHWM from /proc/<pid>/status, summed over the server's processes. It is reset through
/proc/<pid>/clear_refs at the start of each cell, so it is the peak during that cell, on top of
whatever the process already holds from earlier cells.

Run: `.venv/bin/python bench/derived.py --help` (`--quick` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyvips
from upload import photo_like

from imagehost.config import CONFIG_FILE_VARIABLE, Settings, load_settings
from imagehost.memory import ARENAS, MMAP_THRESHOLD_BYTES

if TYPE_CHECKING:
    from imagehost.catalog.models import ImageRecord
    from imagehost.imaging.derivation import Derivation

FIT = 512
"""The box side of the hot key and of the first distinct URL (then 511, 510, ...)."""
FORMATS = ("jpeg", "webp", "avif", "png")
QUALITY = {"jpeg": 82, "webp": 80, "avif": 55, "png": 90}
"""imagehost's DERIVED_QUALITY defaults, sent explicitly to both servers (PNG ignores it)."""
AVIF_EFFORT = int(Settings.model_fields["avif_effort"].default)
RENDER_THREADS = load_settings({}).render_threads
"""imagehost's RENDER_THREADS default (cores + 1); thumbor's ENGINE_THREADPOOL_SIZE too."""
"""imagehost's AVIF_EFFORT default (0). libvips maps effort to libheif's speed 9 - effort, so
thumbor gets AVIF_SPEED = 9 - effort (9)."""
PNG_COMPRESSION = 6
ROUNDS, REQUESTS, SECONDS, WARMUP = 3, 150, 7.0, 4
"""Per cell: 3 rounds of at most 150 requests or 7 s: up to 450 requests or 21 s in all (70
misses took 0.4 s at imagehost's rate, short enough for one stall to move a round by 20%)."""
CONCURRENCY, HOT_CONCURRENCY = 4, 2
"""Misses: 4 in flight keep both render threads busy. Hot key: 2, for latency."""
HOT_REQUESTS = 3000
"""Hot-key requests per cell and round (or `--seconds`): 70 hits last about 20 ms, too short
for a rate (one scheduler tick moves it by half)."""
QUICK_REQUESTS, QUICK_SECONDS, QUICK_WARMUP, QUICK_HOT_REQUESTS = 16, 3.0, 2, 300
DISTINCT_SIDES = 200
"""Distinct URLs vary the side over 512..313; past that, the quality steps down as well."""
THUMBOR_VENV = Path("/tmp/bench-thumbor-venv")
THUMBOR_REQUIREMENT = "thumbor>=7.7,<8"
THUMBOR_BUILD_DEPS = ("libcurl4-openssl-dev", "libssl-dev", "python3-dev", "build-essential")
API_KEY = "bench-derived-secret-key"
MAGIC: dict[str, Callable[[bytes], bool]] = {
    "jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    "png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "avif": lambda b: b[4:8] == b"ftyp" and b[8:12] in (b"avif", b"avis", b"mif1", b"heic"),
}

# Targets (issue 16): misses against the faster thumbor configuration, per source and output
MISS_VS_THUMBOR = {
    "jpeg-2000px": {"jpeg": 2.0, "webp": 1.2, "avif": 1.2, "png": 1.0},
    "jpeg-24mp": {"jpeg": 5.0, "webp": 5.0, "avif": 5.0, "png": 5.0},
    "png-2000px": {"png": 3.0},
    "webp-2000px": {"webp": 1.5},
}
FLOOR_FACTOR = 1.2
HIT_VS_THUMBOR = 3.0
HIT_P95_MS = 2.0
SOAK_EXTRA_MB = 250
"""Soak target: peak RSS under MEMORY_CACHE_BYTES + this, and no growth after the first
SOAK_SETTLE_MINUTES."""
SOAK_SETTLE_MINUTES = 5.0
SOAK_SAMPLE_SECONDS = 5.0
HAS_LADDER = "ladder_sides" in Settings.model_fields
"""Whether this imagehost has the ladder setting (LADDER_SIDES); without it, the ladder-off
side is reported as not available."""


EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif"}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                 "avif": "image/avif"}


@dataclass(frozen=True)
class Case:
    name: str
    width: int
    height: int
    seed: int
    source: str
    """The source's format (a key of FORMATS)."""
    note: str = ""
    """Appended to the miss target's name."""

    def miss_vs_thumbor(self, fmt: str) -> float:
        """Target: imagehost's miss req/s at least this times thumbor's (the faster one)."""
        return MISS_VS_THUMBOR[self.name][fmt]

    @property
    def filename(self) -> str:
        return f"{self.name}.{EXTENSIONS[self.source]}"

    @property
    def outputs(self) -> tuple[str, ...]:
        """JPEG sources: every output format. The others: their own format only."""
        return FORMATS if self.source == "jpeg" else (self.source,)


CASES = (
    Case("jpeg-2000px", 2000, 1333, 3, "jpeg"),
    Case("jpeg-24mp", 6000, 4000, 1, "jpeg"),
    Case("png-2000px", 2000, 1333, 5, "png"),
    Case("webp-2000px", 2000, 1333, 7, "webp"),
)
CASE_NAMES = tuple(c.name for c in CASES)
FLOOR_CASE = CASES[0].name
"""The case with the floor target (misses within FLOOR_FACTOR of the floor)."""


def case_outputs(case: Case, formats: Sequence[str]) -> list[str]:
    """The case's output formats that --format keeps."""
    return [fmt for fmt in case.outputs if fmt in formats]


# The sides, in table order.
IH = "imagehost"
IH_NC = "imagehost, memory+disk off"
IH_NL = "imagehost, ladder off"
TH = "thumbor"
TH_RS = "thumbor + result storage"
FLOOR = "floor: pyvips, same source"
FLOOR_ORIG = "floor: pyvips, original"
IH_QUIET = "imagehost, --log-level warning"
MISS, HOT = "miss", "hot"
AFTER = "after the answer: "
"""The profile's steps that a miss over HTTP runs once its answer is sent."""


# --- inputs -----------------------------------------------------------------------------------


def encode_source(image: pyvips.Image, fmt: str) -> bytes:
    """A source as a camera or an editor would write it: JPEG Q90; RGB PNG at compression 6
    with adaptive row filters (as libpng-based editors write; libvips' default, no filter,
    makes a photo PNG nearly as big as raw RGB); WebP Q90; AVIF Q60 at effort 0 (fast)."""
    if fmt == "jpeg":
        return image.jpegsave_buffer(Q=90, keep="none")
    if fmt == "png":
        return image.pngsave_buffer(compression=PNG_COMPRESSION, filter="all", keep="none")
    if fmt == "webp":
        return image.webpsave_buffer(Q=90, keep="none")
    return image.heifsave_buffer(Q=60, compression="av1", effort=0, keep="none")


def make_sources(cases: Sequence[Case], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in cases:
        path = folder / case.filename
        data = encode_source(photo_like(case.width, case.height, case.seed), case.source)
        path.write_bytes(data)
        paths[case.name] = path
    return paths


def side_and_quality(index: int, fmt: str) -> tuple[int, int]:
    """The index-th distinct request: 512, 511, ... then again with a lower quality."""
    return FIT - index % DISTINCT_SIDES, QUALITY[fmt] - index // DISTINCT_SIDES


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (thumbor --processes forks workers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def status_kb(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Iterable[int]) -> float:
    """user + system CPU of the processes (all their threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def reset_peak(pids: Iterable[int]) -> None:
    """Reset VmHWM to the current RSS (Linux: "5" > /proc/<pid>/clear_refs)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pids: Iterable[int]) -> float:
    return sum(status_kb(pid, "VmHWM") for pid in pids) / 1024


@dataclass
class Server:
    side: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    peak_mb: float = 0.0
    """The highest VmHWM seen over the whole run (read before every reset)."""
    start_mb: float = 0.0
    """VmRSS once it answers, before any request."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return process_tree(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def launch(side: str, command: Sequence[str], env: Mapping[str, str], port: int, logs: Path,
           ready_path: str, servers: list[Server]) -> Server:
    """Start a server in its own session, register it (so the caller's finally stops it),
    then wait until `ready_path` answers 200."""
    log = logs / f"{side.replace(' ', '_').replace(',', '').replace('+', 'rs')}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(list(command), env=dict(env), stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(side, process, port, log)
    servers.append(server)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{side} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.base + ready_path, timeout=2).status_code == 200:
                server.start_mb = sum(status_kb(p, "VmRSS") for p in server.pids()) / 1024
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{side} did not answer {ready_path} in 90 s:\n{server.log_tail()}")


def stop(server: Server) -> None:
    """SIGTERM to the server's own process group (its pid: start_new_session), then SIGKILL."""
    if server.process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def base_env(arena_max: int, mmap_threshold: int = 0) -> dict[str, str]:
    """This environment without imagehost settings (they would leak into the servers), with
    glibc's malloc settings as `make run` and the Docker image set them (0: unset)."""
    names = {name.upper() for name in Settings.model_fields} | {
        CONFIG_FILE_VARIABLE, "VIPS_CONCURRENCY", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    if arena_max:
        env["MALLOC_ARENA_MAX"] = str(arena_max)
    if mmap_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
    return env


def imagehost_settings(root: Path, port: int, caches: bool, threads: int,
                       avif_effort: int) -> dict[str, str]:
    """The environment settings of one imagehost: its own folders and SQLite file."""
    settings = {
        "DATABASE_URL": f"sqlite:///{root / 'imagehost.db'}",
        "INCOMING_FOLDER": str(root / "incoming"), "ACTIVE_FOLDER": str(root / "active"),
        "CACHE_FOLDER": str(root / "cache"), "TEMP_FOLDER": str(root / "temp"),
        "DISK_CACHE_FOLDER": str(root / "derived"), "API_SECRET_KEY": API_KEY,
        "SERVICE_URL": f"http://127.0.0.1:{port}", "EXPIRE_INTERVAL": "0",
        "RENDER_THREADS": str(threads), "AVIF_EFFORT": str(avif_effort)}
    if not caches:
        settings |= {"MEMORY_CACHE_BYTES": "0", "DISK_CACHE_BYTES": "0"}
    return settings


def start_imagehost(side: str, root: Path, caches: bool, args: argparse.Namespace,
                    servers: list[Server], log_level: str | None = None,
                    extra: Mapping[str, str] | None = None) -> Server:
    """`extra`: more settings (LADDER_SIDES="" for the ladder-off side)."""
    root.mkdir(parents=True)
    port = free_port()
    env = base_env(args.malloc_arena_max, args.malloc_mmap_threshold) | imagehost_settings(
        root, port, caches, args.render_threads, args.avif_effort) | dict(extra or {})
    script = Path(sys.executable).parent / "imagehost"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "imagehost.cli"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", log_level or args.log_level,
                "--workers", str(args.imagehost_workers)]
    return launch(side, command, env, port, args.logs, "/ping", servers)


def thumbor_conf(sources: Path, result_root: Path | None, threads: int,
                 avif_effort: int) -> str:
    options: dict[str, object] = {
        "LOADER": "thumbor.loaders.file_loader",
        "FILE_LOADER_ROOT_PATH": str(sources),
        "ALLOW_UNSAFE_URL": True,
        "STORAGE": "thumbor.storages.no_storage",  # no copy of each source
        "RESULT_STORAGE": "thumbor.result_storages.file_storage" if result_root else None,
        "ENGINE_THREADPOOL_SIZE": threads,
        "QUALITY": QUALITY["jpeg"],
        "PROGRESSIVE_JPEG": False,  # imagehost writes baseline, optimised JPEG
        "PNG_COMPRESSION_LEVEL": PNG_COMPRESSION,
        "AVIF_SPEED": 9 - avif_effort,
        "RESPECT_ORIENTATION": False,
    }
    if result_root:
        options |= {"RESULT_STORAGE_FILE_STORAGE_ROOT_PATH": str(result_root),
                    "RESULT_STORAGE_STORES_UNSAFE": True,
                    "RESULT_STORAGE_EXPIRATION_SECONDS": 0}
    return "".join(f"{name} = {value!r}\n" for name, value in options.items())


def start_thumbor(side: str, root: Path, sources: Path, result_storage: bool,
                  args: argparse.Namespace, thumbor: Path, servers: list[Server]) -> Server:
    root.mkdir(parents=True)
    conf = root / "thumbor.conf"
    conf.write_text(thumbor_conf(sources, root / "results" if result_storage else None,
                                 args.render_threads, args.avif_effort))
    port = free_port()
    env = base_env(args.malloc_arena_max, args.malloc_mmap_threshold) | {"HOME": str(root)}
    command = [str(thumbor), "--ip", "127.0.0.1", "--port", str(port), "--conf", str(conf),
               "--log-level", "warning", "--processes", str(args.thumbor_processes)]
    return launch(side, command, env, port, args.logs, "/healthcheck", servers)


def run_quiet(command: Sequence[str], env: Mapping[str, str] | None = None) -> bool:
    done = subprocess.run(list(command), capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
    return done.returncode == 0


def ensure_thumbor(venv: Path) -> tuple[Path, str]:
    """thumbor in its own virtualenv: reused if it works, else installed. If pip fails (older
    thumbor builds pycurl from source), install the Debian build packages as root and retry."""
    thumbor = venv / "bin" / "thumbor"

    def version() -> str | None:
        if not thumbor.exists():
            return None
        done = subprocess.run([str(thumbor), "--version"], capture_output=True, text=True,
                              check=False)
        return (done.stdout or done.stderr).strip() or None if done.returncode == 0 else None

    found = version()
    if found:
        return thumbor, found
    print(f"installing {THUMBOR_REQUIREMENT} into {venv} ...", flush=True)
    python = venv / "bin" / "python"
    if not python.exists() and not run_quiet([sys.executable, "-m", "venv", str(venv)]):
        sys.exit(f"cannot create the virtualenv {venv}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if not run_quiet([*pip, THUMBOR_REQUIREMENT]):
        if os.geteuid() != 0:
            sys.exit("pip install thumbor failed; install " + " ".join(THUMBOR_BUILD_DEPS))
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        print("pip failed: installing Debian build packages and retrying ...", flush=True)
        if not (run_quiet(["apt-get", "update", "-qq"], apt_env) and run_quiet(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                 *THUMBOR_BUILD_DEPS], apt_env) and run_quiet([*pip, THUMBOR_REQUIREMENT])):
            sys.exit("cannot install thumbor")
    found = version()
    if not found:
        sys.exit(f"{thumbor} does not run after installing it")
    return thumbor, found


def thumbor_pillow(venv: Path) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import PIL.features as f, PIL; print(PIL.__version__, "
                           "'avif' if f.check('avif') else 'no-avif')"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    """Seconds per successful request (or per image, for the floor)."""
    rates: list[float] = field(default_factory=list)
    """Requests (images) per second of each round."""
    sizes: list[int] = field(default_factory=list)
    origins: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first: tuple[int, int] | None = None
    server_cpu: float = 0.0
    """Seconds of CPU per request: the server's processes, all threads (the floor: its own)."""
    client_cpu: float = 0.0
    peak_mb: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        """The median over the rounds (robust to one round disturbed by other work)."""
        return statistics.median(self.rates) if self.rates else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3

    @property
    def ms_per_image(self) -> float:
        return 1e3 / self.rate if self.rate else float("nan")

    def merge(self, other: Samples) -> Samples:
        count = self.count + other.count
        return Samples(
            self.latencies + other.latencies, self.rates + other.rates,
            self.sizes + other.sizes, self.origins + other.origins,
            self.errors + other.errors, self.first or other.first,
            (self.server_cpu * self.count + other.server_cpu * other.count) / max(1, count),
            (self.client_cpu * self.count + other.client_cpu * other.count) / max(1, count),
            max(self.peak_mb, other.peak_mb))


def dimensions(data: bytes) -> tuple[int, int] | None:
    try:
        image = pyvips.Image.new_from_buffer(data, "")
    except pyvips.Error:
        return None
    return image.width, image.height


@dataclass(frozen=True)
class Load:
    """One round of one cell: URLs start..start+warmup-1 warm up, then up to `requests` URLs
    from start+warmup on, or `seconds`, whichever comes first."""

    start: int
    warmup: int
    requests: int
    seconds: float
    concurrency: int


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams. The load generator shares the
    2 cores with the servers; httpx costs 2 to 3.5 ms of CPU per request, more than a cache hit,
    and that would be measured as the servers' latency. This costs about a tenth of that."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
                          .encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
            await self.reader.readuntil(b"\r\n")
        else:
            body = bytearray(await self.reader.readexactly(int(headers.get("content-length", 0))))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, bytes(body)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = None


async def drive(base: str, url_for: Callable[[int], str], fmt: str, load: Load,
                measured: Callable[[], None], expect: str | None = None) -> Samples:
    """Warm up, call `measured()` (which resets the server's counters), then measure with
    `load.concurrency` requests in flight over keep-alive connections. Answers must be 200 in
    `fmt`, and with `expect`, say so in X-Imagehost-Source; others count as errors."""
    samples = Samples()
    host, port = base.removeprefix("http://").rstrip("/").split(":")
    connections = [Connection(host, int(port)) for _ in range(load.concurrency)]

    async def run(start: int, count: int, deadline: float, record: bool) -> None:
        indices = itertools.count(start)

        async def worker(connection: Connection) -> None:
            while True:
                index = next(indices)
                if index - start >= count or time.perf_counter() >= deadline:
                    return
                began = time.perf_counter()
                status, headers, body = await connection.get(url_for(index))
                took = time.perf_counter() - began
                origin = headers.get("x-imagehost-source", "-")
                if status != 200 or not MAGIC[fmt](body):
                    samples.errors[f"{status} {body[:80]!r}"] += 1
                    continue
                if expect is not None and origin != expect:
                    samples.errors[f"X-Imagehost-Source {origin}, not {expect}"] += 1
                    continue
                if record:
                    samples.latencies.append(took)
                    samples.sizes.append(len(body))
                    samples.origins[origin] += 1
                    if samples.first is None:
                        samples.first = dimensions(body)

        await asyncio.gather(*(worker(connection) for connection in connections))

    try:
        await run(load.start, load.warmup, float("inf"), False)
        measured()
        began = time.perf_counter()
        await run(load.start + load.warmup, load.requests, began + load.seconds, True)
        samples.rates = [samples.count / (time.perf_counter() - began)]
    finally:
        for connection in connections:
            await connection.close()
    return samples


def run_cell(server: Server, url_for: Callable[[int], str], fmt: str, load: Load,
             expect: str | None = None) -> Samples:
    pids = server.pids()
    marks: dict[str, float] = {}

    def measured() -> None:
        server.peak_mb = max(server.peak_mb, peak_rss_mb(pids))
        reset_peak(pids)
        marks["server"], marks["client"] = cpu_seconds(pids), time.process_time()

    samples = asyncio.run(drive(server.base, url_for, fmt, load, measured, expect))
    count = max(1, samples.count)
    samples.server_cpu = (cpu_seconds(pids) - marks["server"]) / count
    samples.client_cpu = (time.process_time() - marks["client"]) / count
    samples.peak_mb = peak_rss_mb(pids)
    server.peak_mb = max(server.peak_mb, samples.peak_mb)
    if server.process.poll() is not None:
        raise RuntimeError(f"{server.side} died:\n{server.log_tail()}")
    return samples


# --- the floor: a plain pyvips loop in a child process ------------------------------------------


def encode_like_imagehost(image: pyvips.Image, fmt: str, quality: int, avif_effort: int) -> bytes:
    """imagehost's own encoder (imaging/render.py encode_output: the format registry's saver
    options, the fast ones above FULL_EFFORT_PIXELS), with its default settings."""
    from imagehost.imaging.render import encode_output

    settings = load_settings({})
    return encode_output(image, fmt, quality, avif_effort,
                         getattr(settings, "full_effort_pixels", None))


def ladder_source(original: bytes, side: int) -> bytes | None:
    """The step of imagehost's ladder (LADDER_SIDES' default) that a miss fitting `side` x
    `side` renders from, made by imagehost's own upload code, so byte for byte the one the
    server stored; None without a ladder (or when the miss renders from the original)."""
    if not HAS_LADDER:
        return None
    from imagehost.imaging.formats import sniff_format
    from imagehost.imaging.ladder import source_step
    from imagehost.imaging.probe import probe_image
    from imagehost.imaging.render import render_ladder

    settings = load_settings({})
    info = probe_image(original, sniff_format(original), settings.limits)
    steps = {rendered.step: rendered.data
             for rendered in render_ladder(original, info, settings.ladder_sides).ladder}
    scale = min(side / info.width, side / info.height, 1.0)
    chosen = source_step(list(steps), (round(info.width * scale), round(info.height * scale)))
    return steps[chosen] if chosen is not None else None


def floor_thumbnail(data: bytes, side: int) -> pyvips.Image:
    """Fit into side x side, decoding as imagehost does (imaging/render.py `_thumbnail`): a JPEG
    at the largest DCT scale (1/2, 1/4, 1/8) that still covers the box, then resized."""
    if MAGIC["jpeg"](data):
        header = pyvips.Image.new_from_buffer(data, "")
        shrink = max(header.width, header.height) / side
        factor = next((f for f in (8, 4, 2) if shrink >= f), 1)
        if factor > 1:
            image = pyvips.Image.new_from_buffer(data, "", shrink=factor, access="sequential")
            return image.thumbnail_image(side, height=side, size="down")
    return pyvips.Image.thumbnail_buffer(data, side, height=side, size="down")


def floor_child(args: argparse.Namespace) -> None:
    """Child mode: the service's libvips set-up, then `threads` threads taking distinct sizes
    from one counter (floor_thumbnail + encode); print JSON. A thread's error fails it."""
    from imagehost.imaging.render import configure_libvips

    configure_libvips(load_settings({}).vips_concurrency)
    data = args.input.read_bytes()
    fmt, lock = args.format, threading.Lock()
    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[BaseException] = []

    def run(start: int, count: int, deadline: float, record: bool) -> None:
        indices = itertools.count(start)

        def loop() -> None:
            while True:
                with lock:
                    index = next(indices)
                if failures or index - start >= count or time.perf_counter() >= deadline:
                    return
                side, quality = side_and_quality(index, fmt)
                began = time.perf_counter()
                try:
                    image = floor_thumbnail(data, side)
                    out = encode_like_imagehost(image, fmt, quality, args.avif_effort)
                except pyvips.Error as error:
                    failures.append(error)
                    return
                took = time.perf_counter() - began
                if record:
                    with lock:
                        latencies.append(took)
                        sizes.append(len(out))

        threads = [threading.Thread(target=loop) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    run(args.start, args.warmup, float("inf"), False)
    Path("/proc/self/clear_refs").write_text("5")
    cpu0, began = time.process_time(), time.perf_counter()
    run(args.start + args.warmup, args.requests, began + args.seconds, True)
    elapsed = time.perf_counter() - began
    print(json.dumps({"latencies": latencies, "sizes": sizes, "elapsed": elapsed,
                      "cpu": (time.process_time() - cpu0) / max(1, len(latencies)),
                      "peak_mb": status_kb(os.getpid(), "VmHWM") / 1024}))


def run_child(mode: str, extra: Sequence[str], args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), mode, *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env=base_env(args.malloc_arena_max, args.malloc_mmap_threshold))
    if done.returncode:
        raise RuntimeError(f"{mode} child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_floor(source: Path, fmt: str, load: Load, args: argparse.Namespace) -> Samples:
    report = run_child("--floor-child", [
        "--input", str(source), "--format", fmt, "--threads", str(args.render_threads),
        "--start", str(load.start), "--requests", str(load.requests),
        "--seconds", str(load.seconds), "--warmup", str(load.warmup),
        "--avif-effort", str(args.avif_effort)], args)
    latencies = list(report["latencies"])
    elapsed = float(report["elapsed"])
    return Samples(latencies=latencies, rates=[len(latencies) / elapsed],
                   sizes=list(report["sizes"]),
                   origins=Counter({"-": len(latencies)}),
                   server_cpu=float(report["cpu"]),
                   peak_mb=float(report["peak_mb"]))


# --- stage timing: derive_image's steps, in-process ---------------------------------------------


def profile_child(args: argparse.Namespace) -> None:
    """Child mode: build the service in-process (imagehost's own runtime, its settings
    as the servers get them), store the source like POST /images, then run derive_image's
    steps one by one for distinct sizes and time each (wall and CPU of all threads); then the
    hit path (get_record + cache lookup, memory hit). Print median ms per step as JSON."""
    from imagehost.imaging.derivation import parse_derivation, resolve
    from imagehost.imaging.formats import ImageFormat, sniff_format
    from imagehost.imaging.probe import probe_image
    from imagehost.imaging.render import render_derivation
    from imagehost.runtime import build_context, close_context
    from imagehost.service.derived import choose_source, record_info
    from imagehost.service.derived_cache import cache_key
    from imagehost.service.records import get_record, store_record

    settings = load_settings(imagehost_settings(args.root, 8080, True, 1, args.avif_effort))
    ctx, fmt = build_context(settings), args.format
    cache = ctx.cache
    assert cache.memory is not None and cache.disk is not None
    record = store_record(ctx, args.input.read_bytes()).record
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}

    def derivation_for(index: int, rec: ImageRecord) -> Derivation:
        side, quality = side_and_quality(index, fmt)
        parsed = parse_derivation(
            [("w", str(side)), ("h", str(side)), ("format", fmt), ("quality", str(quality))],
            max_side=settings.derived_max_side, thumbnail_size=settings.thumbnail_size,
            thumbnail_enhancements=settings.thumbnail_enhancements)
        return resolve(parsed, ImageFormat(rec.format), "", quality=settings.derived_quality,
                       focal=None)

    for index in range(args.warmup + args.requests):
        marks = [("", time.perf_counter(), time.process_time())]

        def mark(step: str) -> None:
            marks.append((step, time.perf_counter(), time.process_time()))  # noqa: B023

        rec = get_record(ctx, record.id)
        mark("get_record (SQLite through SQLAlchemy)")
        derivation = derivation_for(index, rec)
        key = cache_key(rec.id, rec.sha256, derivation.canonical_name())
        mark("parse + resolve the derivation, cache key")
        if cache.get(key) is not None:
            raise RuntimeError(f"{key} is cached: not a miss")
        mark("cache lookup: memory, disk, store (all miss)")
        source_key = choose_source(ctx, rec, derivation)
        data = ctx.store_for(rec.status).get(source_key)
        mark("choose + read the ladder source")
        info = probe_image(data, sniff_format(data), ctx.policy.limits)
        mark("probe the source header")
        out = render_derivation(data, info, record_info(rec), derivation,
                                avif_effort=settings.avif_effort,
                                full_effort_pixels=settings.full_effort_pixels)
        mark("render: decode and fit + encode")
        side, quality = side_and_quality(index, fmt)
        floor = floor_thumbnail(data, side)
        encode_like_imagehost(floor, fmt, quality, args.avif_effort)
        mark("floor: decode and fit + encode, same source")
        cache.memory.put(key, out)
        mark("cache write: memory")
        cache.disk.put(key, out)
        mark(f"{AFTER}cache write: disk (diskcache)")
        cache.put_in_store(key, out)
        mark(f"{AFTER}cache write: store + its catalog row")
        if index >= args.warmup:
            for (_, w0, c0), (step, w1, c1) in itertools.pairwise(marks):
                wall.setdefault(step, []).append((w1 - w0) * 1e3)
                cpu.setdefault(step, []).append((c1 - c0) * 1e3)
    hot = cache_key(record.id, record.sha256, derivation_for(0, record).canonical_name())
    for _ in range(200):
        w0, c0 = time.perf_counter(), time.process_time()
        rec = get_record(ctx, record.id)
        if cache.get(hot) is None:
            raise RuntimeError("the hot key is not cached")
        wall.setdefault("hit: get_record + memory lookup", []).append(
            (time.perf_counter() - w0) * 1e3)
        cpu.setdefault("hit: get_record + memory lookup", []).append(
            (time.process_time() - c0) * 1e3)
    close_context(ctx)
    print(json.dumps({"source": source_key, "steps": {
        step: [statistics.median(wall[step]), statistics.mean(cpu[step])] for step in wall}}))


def print_stage_profile(profiles: Mapping[tuple[str, str], dict[str, Any]],
                        cells: Sequence[Cell]) -> None:
    print("\nWhere a miss goes, in-process: derive_image's steps one by one, 1 thread, median "
          "wall ms and mean CPU ms (all threads). The floor step renders the same size from the "
          "same source right after, so render vs floor compares like with like. The steps "
          f"marked '{AFTER.strip()}' run on the cache's writer thread once the answer is sent "
          "(they still cost CPU). Last lines: the server's CPU per miss and per hit (HTTP cells "
          "above) minus the in-process steps, i.e. what HTTP, FastAPI, middleware, logging and "
          "the thread handoffs cost per request.")
    for (case, fmt), report in profiles.items():
        steps: dict[str, list[float]] = report["steps"]
        miss = {step: v for step, v in steps.items() if not step.startswith(("hit", "floor"))}
        miss_wall = sum(w for w, _ in miss.values())
        miss_cpu = sum(c for _, c in miss.values())
        print(f"  {case} -> {fmt} (source {report['source']}):")
        for step, (ms, cpu_ms) in steps.items():
            share = f"{cpu_ms / miss_cpu:6.1%}" if step in miss else "      "
            print(f"    {step:48s} {ms:8.2f} ms  CPU {cpu_ms:8.2f} ms {share}")
        print(f"    {'sum of the miss steps':48s} {miss_wall:8.2f} ms  CPU {miss_cpu:8.2f} ms")
        before = sum(w for step, (w, _) in miss.items() if not step.startswith(AFTER))
        print(f"    {'... before the answer':48s} {before:8.2f} ms")
        miss_cell = find(cells, case, fmt, IH, MISS)
        if miss_cell is not None:
            # the HTTP server finds the record in its record cache
            inproc = miss_cpu - steps["get_record (SQLite through SQLAlchemy)"][1]
            print(f"    HTTP miss: server CPU {miss_cell.server_cpu * 1e3:.2f} ms/request, "
                  f"in-process {inproc:.2f} ms (without get_record): "
                  f"{miss_cell.server_cpu * 1e3 - inproc:.2f} ms per request for HTTP and the "
                  "framework")
        hot = find(cells, case, fmt, IH, HOT)
        if hot is not None:
            inproc = steps["hit: get_record + memory lookup"][1]
            print(f"    HTTP hit: server CPU {hot.server_cpu * 1e3:.2f} ms/request, in-process "
                  f"{inproc:.2f} ms: {hot.server_cpu * 1e3 - inproc:.2f} ms per request for "
                  "HTTP and the framework")


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    case: str
    fmt: str
    side: str
    load: str
    samples: Samples


def imagehost_url(record_id: int, fmt: str, hot: bool) -> Callable[[int], str]:
    def url(index: int) -> str:
        side, quality = side_and_quality(0 if hot else index, fmt)
        return f"/images/{record_id}/image?w={side}&h={side}&format={fmt}&quality={quality}"
    return url


def thumbor_url(filename: str, fmt: str, hot: bool) -> Callable[[int], str]:
    def url(index: int) -> str:
        side, quality = side_and_quality(0 if hot else index, fmt)
        return f"/unsafe/fit-in/{side}x{side}/filters:format({fmt}):quality({quality})/{filename}"
    return url


class Refused(RuntimeError):
    """imagehost answered the upload with a 4xx: it does not take this source."""


@dataclass(frozen=True)
class Upload:
    seconds: float
    """Wall time of the POST."""
    cpu: float
    """The server's CPU seconds during the POST."""


def upload(server: Server, case: Case, path: Path,
           timings: list[Upload] | None = None) -> tuple[int, list[str], bytes]:
    """POST /images (published at once); the record id, its variants and the BI variant (in
    the original's format). The POST's wall and server CPU time go to `timings`."""
    with httpx.Client(base_url=server.base, timeout=120) as client:
        data = path.read_bytes()
        pids = server.pids()
        cpu, began = cpu_seconds(pids), time.perf_counter()
        response = client.post("/images", files={"image": (path.name, data,
                                                            CONTENT_TYPES[case.source])},
                               headers={"Authorization": f"Bearer {API_KEY}"})
        if timings is not None:
            timings.append(Upload(time.perf_counter() - began, cpu_seconds(pids) - cpu))
        if 400 <= response.status_code < 500:
            raise Refused(f"{response.status_code} {response.text[:200]}")
        if response.status_code != 201:
            raise RuntimeError(f"upload to {server.side}: {response.status_code} "
                               f"{response.text[:300]}")
        record = response.json()
        variant = client.get(f"/images/{record['id']}/image", params={"variant": "BI"})
        variant.raise_for_status()
    return int(record["id"]), list(record["variants"]), variant.content


Measure = Callable[[Load], Samples]


class Runner:
    """Runs groups of cells (one case, format and load; one cell per side) in rounds, rotating
    the order of the sides each round, and hands every side fresh distinct URL indices."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cells: list[Cell] = []
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self.refused: dict[str, str] = {}
        self.notes: list[str] = []
        self.uploads: dict[str, list[Upload]] = {}
        """Each case's POST /images to each imagehost, one at a time."""
        """Cases whose upload imagehost refused, with its answer: only thumbor and the floor
        from the original run for them."""
        self._next: dict[tuple[str, str, str], int] = {}

    def load(self, side: str, case: str, fmt: str, hot: bool) -> Load:
        key = (side, case, fmt)
        start = self._next.get(key, 0)
        requests = self.args.hot_requests if hot else self.args.requests
        self._next[key] = start + self.args.warmup + requests
        return Load(start, self.args.warmup, requests, self.args.seconds,
                    self.args.hot_concurrency if hot else self.args.concurrency)

    def group(self, case: str, fmt: str, load: str,
              sides: Sequence[tuple[str, Measure]]) -> None:
        merged: dict[str, Samples] = {side: Samples() for side, _ in sides}
        for turn in range(self.args.rounds):
            shift = turn % len(sides)
            for side, measure in [*sides[shift:], *sides[:shift]]:
                samples = measure(self.load(side, case, fmt, load == HOT))
                merged[side] = merged[side].merge(samples)
                _progress(case, fmt, side, load, turn, samples)
        self.cells.extend(Cell(case, fmt, side, load, merged[side]) for side, _ in sides)


def _progress(case: str, fmt: str, side: str, load: str, turn: int, s: Samples) -> None:
    errors = f", {sum(s.errors.values())} ERRORS {dict(s.errors)}" if s.errors else ""
    print(f"  [{case} {fmt} {load} r{turn + 1}] {side}: {s.count} at {s.rate:.1f}/s, p50 "
          f"{s.percentile(0.5):.1f} ms, p95 {s.percentile(0.95):.1f} ms, CPU "
          f"{s.server_cpu * 1e3:.1f} ms/req, RSS {s.peak_mb:.0f} MB{errors}", flush=True)


def run_all(args: argparse.Namespace, root: Path, cases: Sequence[Case],
            formats: Sequence[str], thumbor: Path, servers: list[Server]) -> Runner:
    sources = root / "sources"
    print("generating sources ...", flush=True)
    paths = make_sources(cases, sources)
    print("starting servers ...", flush=True)
    ih = start_imagehost(IH, root / "imagehost", True, args, servers)
    ih_nc = start_imagehost(IH_NC, root / "imagehost-nocache", False, args, servers)
    th = start_thumbor(TH, root / "thumbor", sources, False, args, thumbor, servers)
    th_rs = start_thumbor(TH_RS, root / "thumbor-rs", sources, True, args, thumbor, servers)
    quiet = None
    if args.profile and args.log_level != "warning":
        quiet = start_imagehost(IH_QUIET, root / "imagehost-quiet", True, args, servers,
                                log_level="warning")
    runner = Runner(args)
    ladder_off = None
    if args.skip_ladder_off:
        pass
    elif not HAS_LADDER:
        runner.notes.append(f"{IH_NL}: not available (this imagehost has no LADDER_SIDES)")
    else:
        try:
            ladder_off = start_imagehost(IH_NL, root / "imagehost-noladder", True, args,
                                         servers, extra={"LADDER_SIDES": ""})
        except RuntimeError as refused:
            runner.notes.append(f"{IH_NL}: not available (the server refused LADDER_SIDES: "
                                f"{str(refused).splitlines()[-1][:200]})")
    imagehosts = [s for s in (ih, ih_nc, quiet, ladder_off) if s is not None]
    records: dict[tuple[str, str], int] = {}
    floor_sources: dict[str, Path] = {}
    for case in cases:
        print(f"uploading {case.name} ({paths[case.name].stat().st_size / 1e6:.1f} MB) ...",
              flush=True)
        try:
            for server in imagehosts:
                record_id, variants, bi = upload(server, case, paths[case.name],
                                                 runner.uploads.setdefault(case.name, []))
                records[server.side, case.name] = record_id
        except Refused as refused:
            runner.refused[case.name] = str(refused)
            print(f"  imagehost refuses it: {refused}; no imagehost cells for it", flush=True)
            continue
        step = ladder_source(paths[case.name].read_bytes(), FIT)
        floor_sources[case.name] = paths[case.name]
        if step is not None:
            floor_sources[case.name] = root / "sources-ladder" / case.filename
            floor_sources[case.name].parent.mkdir(exist_ok=True)
            floor_sources[case.name].write_bytes(step)
        print(f"  variants {variants}; BI is {dimensions(bi)} {len(bi) / 1e3:.0f} kB; the "
              f"floor's source (imagehost's for these misses) is "
              + (f"its ladder step {dimensions(step)} {len(step) / 1e3:.0f} kB" if step
                 else "the original"), flush=True)

    def on_imagehost(server: Server, case: Case, fmt: str, hot: bool) -> tuple[str, Measure]:
        url = imagehost_url(records[server.side, case.name], fmt, hot)
        expect = None if hot else "rendered"  # every distinct URL must be a miss
        return server.side, lambda load: run_cell(server, url, fmt, load, expect)

    def on_thumbor(server: Server, case: Case, fmt: str, hot: bool) -> tuple[str, Measure]:
        url = thumbor_url(case.filename, fmt, hot)
        return server.side, lambda load: run_cell(server, url, fmt, load)

    first = (cases[0].name, case_outputs(cases[0], formats)[0])
    for case in cases:
        refused = case.name in runner.refused
        for fmt in case_outputs(case, formats):
            for hot in (False, True):
                sides = [on_thumbor(th_rs, case, fmt, hot)] if hot else [
                    on_thumbor(th, case, fmt, hot), on_thumbor(th_rs, case, fmt, hot)]
                if not refused:
                    sides[:0] = [on_imagehost(ih, case, fmt, hot),
                                 on_imagehost(ih_nc, case, fmt, hot)]
                if quiet is not None and (case.name, fmt) == first and not refused:
                    sides.insert(1, on_imagehost(quiet, case, fmt, hot))  # access logs off
                if ladder_off is not None and not hot and not refused:
                    sides.insert(1, on_imagehost(ladder_off, case, fmt, hot))
                if not hot and not refused:
                    sides.append((FLOOR, lambda load, c=case, f=fmt:
                                  run_floor(floor_sources[c.name], f, load, args)))
                if not hot and not args.skip_floor_original:
                    sides.append((FLOOR_ORIG, lambda load, c=case, f=fmt:
                                  run_floor(paths[c.name], f, load, args)))
                runner.group(case.name, fmt, HOT if hot else MISS, sides)
    if args.profile:
        print("profile: derive_image's steps in-process ...", flush=True)
        for case in cases:
            if case.name in runner.refused:
                continue
            for fmt in case_outputs(case, formats):
                folder = Path(tempfile.mkdtemp(dir=root, prefix="profile-"))
                runner.profiles[case.name, fmt] = run_child("--profile-child", [
                    "--input", str(paths[case.name]), "--format", fmt, "--root", str(folder),
                    "--requests", str(min(args.requests, 30)), "--warmup", "2",
                    "--avif-effort", str(args.avif_effort)], args)
    for server in servers:
        server.peak_mb = max(server.peak_mb, peak_rss_mb(server.pids()))
    return runner


# --- reporting ----------------------------------------------------------------------------------


def find(cells: Sequence[Cell], case: str, fmt: str, side: str, load: str) -> Samples | None:
    return next((c.samples for c in cells
                 if (c.case, c.fmt, c.side, c.load) == (case, fmt, side, load)), None)


def print_cells(cells: Sequence[Cell]) -> None:
    print("\n| case | output | side | URLs | req/s | rounds req/s | p50 ms | p95 ms "
          "| server CPU ms/req | client CPU ms/req | peak RSS MB | KB/image | first output "
          "| served from | n |")
    print("|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|")
    for c in cells:
        s = c.samples
        kb = statistics.mean(s.sizes) / 1024 if s.sizes else float("nan")
        size = f"{s.first[0]}x{s.first[1]}" if s.first else "-"
        origins = ", ".join(f"{k} {v}" for k, v in s.origins.most_common()) or "-"
        errors = f" ({sum(s.errors.values())} errors)" if s.errors else ""
        spread = f"{min(s.rates):.1f}-{max(s.rates):.1f}" if s.rates else "-"
        client = f"{s.client_cpu * 1e3:.1f}" if c.side not in (FLOOR, FLOOR_ORIG) else "-"
        print(f"| {c.case} | {c.fmt} | {c.side} | {c.load} | {s.rate:.1f} | {spread} "
              f"| {s.percentile(0.5):.1f} | {s.percentile(0.95):.1f} | {s.server_cpu * 1e3:.1f} "
              f"| {client} | {s.peak_mb:.0f} | {kb:.1f} | {size} | {origins} "
              f"| {s.count}{errors} |")


def print_uploads(uploads: Mapping[str, Sequence[Upload]], cases: Sequence[Case]) -> None:
    print("\nUploads: POST /images of each source to each imagehost, one at a time (decode, "
          "variants, ladder, stores, catalog), median over the servers; uploads per second of "
          "one core = 1000 / CPU ms.")
    print("| case | source MP | uploads | wall ms | server CPU ms | uploads/s per core |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in cases:
        found = uploads.get(case.name)
        if not found:
            continue
        cpu = statistics.median(u.cpu for u in found) * 1e3
        size = case.width * case.height
        print(f"| {case.name} | {size / 1e6:.1f} MP | {len(found)} "
              f"| {statistics.median(u.seconds for u in found) * 1e3:.0f} | {cpu:.0f} "
              f"| {1e3 / cpu if cpu else float('nan'):.1f} |")


def best_thumbor(cells: Sequence[Cell], case: str, fmt: str, load: str) -> Samples | None:
    found = [s for s in (find(cells, case, fmt, TH, load), find(cells, case, fmt, TH_RS, load))
             if s is not None and s.count]
    return max(found, key=lambda s: s.rate) if found else None


def print_summary(cells: Sequence[Cell], cases: Sequence[Case], formats: Sequence[str]) -> None:
    print("\nRatios. Misses: imagehost (caches on) against the faster thumbor configuration, "
          "against the floor from the same source, and ladder on against ladder off. Hot key: "
          "against thumbor's result storage. CPU: server CPU per request, the steadier figure "
          "on a busy machine.")
    print("| case | output | miss req/s imagehost / thumbor | miss CPU/req thumbor / imagehost "
          "| miss ms/img imagehost / floor | miss CPU/req imagehost / floor "
          "| miss req/s ladder on / off "
          "| hot req/s imagehost / thumbor RS | hot CPU/req thumbor RS / imagehost "
          "| hot p95 ms imagehost / thumbor RS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case in cases:
        for fmt in case_outputs(case, formats):
            name = case.name
            ih, th = find(cells, name, fmt, IH, MISS), best_thumbor(cells, name, fmt, MISS)
            floor = find(cells, name, fmt, FLOOR, MISS)
            hot, th_hot = find(cells, name, fmt, IH, HOT), find(cells, name, fmt, TH_RS, HOT)
            if not (ih and th and floor and hot and th_hot):
                continue
            off = find(cells, name, fmt, IH_NL, MISS)
            print(f"| {name} | {fmt} | {_ratio(ih.rate, th.rate)} "
                  f"| {_ratio(th.server_cpu, ih.server_cpu)} "
                  f"| {_ratio(ih.ms_per_image, floor.ms_per_image)} "
                  f"| {_ratio(ih.server_cpu, floor.server_cpu)} "
                  f"| {_ratio(ih.rate, off.rate) if off else '-'} "
                  f"| {_ratio(hot.rate, th_hot.rate)} "
                  f"| {_ratio(th_hot.server_cpu, hot.server_cpu)} "
                  f"| {hot.percentile(0.95):.1f} / {th_hot.percentile(0.95):.1f} |")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


@dataclass(frozen=True)
class Target:
    name: str
    value: str
    met: bool


def _versus(ih: Samples, th: Samples) -> str:
    """CPU/req can be 0 in a short cell: fewer CPU ticks than requests (then "-")."""
    return (f"{ih.rate:.1f} vs {th.rate:.1f} req/s ({_ratio(ih.rate, th.rate)}; CPU/req "
            f"{_ratio(th.server_cpu, ih.server_cpu)})")


def _times_thumbor(factor: float) -> str:
    return "thumbor's req/s" if factor == 1 else f"{factor:g}x thumbor's req/s"


def targets(cells: Sequence[Cell], cases: Sequence[Case], formats: Sequence[str],
            refused: Mapping[str, str]) -> list[Target]:
    """Misses: each case's factor over the faster thumbor (jpeg-2000px: also within
    FLOOR_FACTOR of the floor). Hits: every case and output against thumbor's result storage."""
    found: list[Target] = []
    for case in cases:
        for fmt in case_outputs(case, formats):
            factor = case.miss_vs_thumbor(fmt)
            name = f"{case.name} -> {fmt} misses >= {_times_thumbor(factor)}"
            if case.name in refused:
                found.append(Target(name + case.note, "not measured: imagehost refuses the "
                                    f"upload ({refused[case.name][:120]})", False))
                continue
            ih = find(cells, case.name, fmt, IH, MISS)
            th = best_thumbor(cells, case.name, fmt, MISS)
            if ih and th:
                found.append(Target(name + case.note, _versus(ih, th),
                                    ih.rate / th.rate >= factor))
            floor = find(cells, case.name, fmt, FLOOR, MISS)
            if case.name == FLOOR_CASE and ih and floor:
                ratio = ih.ms_per_image / floor.ms_per_image
                found.append(Target(f"{case.name} -> {fmt} misses within {FLOOR_FACTOR}x of "
                                    "the floor's time per image",
                                    f"{ih.ms_per_image:.1f} vs {floor.ms_per_image:.1f} ms "
                                    f"({ratio:.2f}x; CPU/req "
                                    f"{_ratio(ih.server_cpu, floor.server_cpu)})",
                                    ratio <= FLOOR_FACTOR))
    for case in cases:
        for fmt in case_outputs(case, formats):
            ih, th = find(cells, case.name, fmt, IH, HOT), find(cells, case.name, fmt, TH_RS, HOT)
            if ih and th and th.rate:
                p95 = ih.percentile(0.95)
                found.append(Target(f"{case.name} -> {fmt} hits >= {HIT_VS_THUMBOR:g}x "
                                    f"thumbor's result storage, p95 < {HIT_P95_MS:g} ms",
                                    f"{_versus(ih, th)}, p95 {p95:.1f} ms",
                                    ih.rate / th.rate >= HIT_VS_THUMBOR and p95 < HIT_P95_MS))
    return found


def print_targets(found: Sequence[Target]) -> None:
    print(f"\nTargets ({sum(t.met for t in found)} of {len(found)} met):")
    for target in found:
        print(f"  {'met    ' if target.met else 'NOT MET'}  {target.name}: {target.value}")


# --- the soak: one server, a mixed load for --soak minutes, its RSS sampled -------------------


@dataclass
class SoakStats:
    hits: Samples = field(default_factory=Samples)
    misses: Samples = field(default_factory=Samples)
    rss: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the start, VmRSS MB of the server's processes)."""


def soak_url(records: Mapping[str, int], index: int, hot: bool) -> tuple[str, str]:
    """The index-th request of the mix: (format, URL). Hot requests cycle over 48 URLs;
    misses never repeat: every source, output format, box side 96..1023 and quality."""
    pairs = [(case, fmt) for case in CASES if case.name in records for fmt in case.outputs]
    if hot:
        case, fmt = pairs[index % len(pairs)]
        side, quality = 200 + 100 * (index % 48 // len(pairs)), QUALITY[fmt]
    else:
        case, fmt = pairs[index % len(pairs)]
        step = index // len(pairs)
        side, quality = 96 + step * 389 % 928, QUALITY[fmt] - step // 928 % 40
    return fmt, (f"/images/{records[case.name]}/image?w={side}&h={side}&format={fmt}"
                 f"&quality={quality}")


async def soak_load(server: Server, records: Mapping[str, int], args: argparse.Namespace,
                    stats: SoakStats) -> None:
    """args.concurrency connections; each request is a hit with probability args.soak_hits
    (a fixed set of hot URLs), else a miss; until args.soak minutes have passed."""
    host, port = server.base.removeprefix("http://").split(":")
    deadline = time.perf_counter() + args.soak * 60
    counters = {"hot": itertools.count(), "miss": itertools.count()}
    chooser = itertools.count()

    async def worker(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            hot = next(chooser) % 100 < args.soak_hits * 100
            fmt, url = soak_url(records, next(counters["hot" if hot else "miss"]), hot)
            began = time.perf_counter()
            status, _, body = await connection.get(url)
            took = time.perf_counter() - began
            samples = stats.hits if hot else stats.misses
            if status != 200 or not MAGIC[fmt](body):
                samples.errors[f"{status} {body[:80]!r}"] += 1
                continue
            samples.latencies.append(took)

    connections = [Connection(host, int(port)) for _ in range(args.concurrency)]
    try:
        await asyncio.gather(*(worker(connection) for connection in connections))
    finally:
        for connection in connections:
            await connection.close()


def run_soak(args: argparse.Namespace, root: Path, servers: list[Server]) -> SoakStats:
    paths = make_sources(CASES, root / "sources")
    server = start_imagehost(IH, root / "imagehost", True, args, servers)
    records = {}
    for case in CASES:
        try:
            records[case.name] = upload(server, case, paths[case.name])[0]
        except Refused as refused:
            print(f"  imagehost refuses {case.name}: {refused}", flush=True)
    stats = SoakStats()
    began = time.perf_counter()
    done = threading.Event()

    def sample() -> None:
        last_report = 0.0
        while not done.wait(SOAK_SAMPLE_SECONDS):
            elapsed = time.perf_counter() - began
            rss = sum(status_kb(pid, "VmRSS") for pid in server.pids()) / 1024
            stats.rss.append((elapsed, rss))
            if elapsed - last_report >= 60:
                last_report = elapsed
                print(f"  soak {elapsed / 60:4.1f} min: RSS {rss:.0f} MB (max "
                      f"{max(r for _, r in stats.rss):.0f}), {stats.hits.count} hits, "
                      f"{stats.misses.count} misses, "
                      f"{sum(stats.hits.errors.values()) + sum(stats.misses.errors.values())} "
                      "errors", flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        asyncio.run(soak_load(server, records, args, stats))
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - began
    for samples in (stats.hits, stats.misses):
        samples.rates = [samples.count / seconds]
    if server.process.poll() is not None:
        raise RuntimeError(f"{server.side} died:\n{server.log_tail()}")
    return stats


def print_soak(stats: SoakStats, args: argparse.Namespace, start_mb: float) -> list[Target]:
    memory_mb = int(Settings.model_fields["memory_cache_bytes"].default) / 2**20
    bound = memory_mb + SOAK_EXTRA_MB
    settle = SOAK_SETTLE_MINUTES * 60
    early = [rss for t, rss in stats.rss if t <= settle]
    late = [rss for t, rss in stats.rss if t > settle]
    peak = max(rss for _, rss in stats.rss)
    print(f"\nSoak: {args.soak:g} min, {args.concurrency} in flight, "
          f"{args.soak_hits:.0%} hits (48 hot URLs), misses over every source and output "
          f"format at sides 96..1023; RSS (VmRSS) every {SOAK_SAMPLE_SECONDS:g} s.")
    for name, samples in (("hits", stats.hits), ("misses", stats.misses)):
        errors = sum(samples.errors.values())
        print(f"  {name}: {samples.count} at {samples.rate:.1f}/s, p50 "
              f"{samples.percentile(0.5):.1f} ms, p95 {samples.percentile(0.95):.1f} ms"
              + (f", {errors} ERRORS {dict(samples.errors)}" if errors else ""))
    print("  RSS by minute (MB, the last sample of each minute): " + ", ".join(
        f"{int(t // 60) + 1}: {rss:.0f}" for t, rss in _last_of_each_minute(stats.rss)))
    at_settle = early[-1] if early else float("nan")
    print(f"  RSS once started {start_mb:.0f} MB; at {SOAK_SETTLE_MINUTES:g} min "
          f"{at_settle:.0f} MB; at the end {stats.rss[-1][1]:.0f} MB; max {peak:.0f} MB "
          f"(first {SOAK_SETTLE_MINUTES:g} min {max(early, default=float('nan')):.0f}, after "
          f"{max(late, default=float('nan')):.0f})")
    growth = max(late, default=0.0) - max(early, default=0.0)
    return [Target(f"soak: peak RSS < MEMORY_CACHE_BYTES + {SOAK_EXTRA_MB} MB "
                   f"({bound:.0f} MB)", f"{peak:.0f} MB", peak < bound),
            Target(f"soak: no growth after {SOAK_SETTLE_MINUTES:g} min (peak after it at "
                   "most 2% over the peak before)",
                   f"{max(late, default=float('nan')):.0f} vs "
                   f"{max(early, default=float('nan')):.0f} MB ({growth:+.0f} MB)",
                   bool(late) and growth <= 0.02 * max(early, default=0.0))]


def _last_of_each_minute(rss: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    by_minute: dict[int, tuple[float, float]] = {}
    for t, value in rss:
        by_minute[int(t // 60)] = (t, value)
    return list(by_minute.values())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Derived images on loopback: imagehost (caches on, and memory+disk off) "
                    "against thumbor (without and with its file result storage) and a plain "
                    "pyvips loop, fit 512: 2000x1333 and 6000x4000 JPEG photos to "
                    "JPEG/WebP/AVIF/PNG, and 2000x1333 PNG, WebP and AVIF photos to their "
                    "own format; all-distinct URLs (misses) and a hot key. Reports "
                    "req/s, p50, p95, server CPU per request and peak RSS (VmHWM), and checks "
                    "the targets.")
    parser.add_argument("--quick", action="store_true",
                        help=f"short run: 1 round of {QUICK_REQUESTS} requests or "
                             f"{QUICK_SECONDS:g} s per cell, {QUICK_WARMUP} warm-up requests")
    parser.add_argument("--rounds", type=int,
                        help=f"rounds per cell, the sides taking turns (default {ROUNDS}); "
                             "req/s is the median over the rounds")
    parser.add_argument("--requests", type=int,
                        help=f"requests per cell and round (default {REQUESTS})")
    parser.add_argument("--hot-requests", type=int,
                        help=f"hot-key requests per cell and round (default {HOT_REQUESTS})")
    parser.add_argument("--seconds", type=float,
                        help=f"time limit per cell and round (default {SECONDS:g})")
    parser.add_argument("--warmup", type=int,
                        help=f"warm-up requests per cell and round (default {WARMUP})")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY,
                        help=f"requests in flight for misses (default {CONCURRENCY})")
    parser.add_argument("--hot-concurrency", type=int, default=HOT_CONCURRENCY,
                        help=f"requests in flight for the hot key (default {HOT_CONCURRENCY})")
    parser.add_argument("--case", choices=CASE_NAMES, action="append",
                        help="only this source case (repeatable; default: all)")
    parser.add_argument("--format", choices=FORMATS, action="append",
                        help="only this output format (repeatable; default: all); a PNG, "
                             "WebP or AVIF source case runs only if its own format is kept")
    parser.add_argument("--render-threads", type=int, default=RENDER_THREADS,
                        help="imagehost RENDER_THREADS, thumbor ENGINE_THREADPOOL_SIZE and the "
                             f"floor's threads (default {RENDER_THREADS}, imagehost's: the "
                             "core count + 1)")
    parser.add_argument("--thumbor-processes", type=int, default=1,
                        help="thumbor --processes (default 1; peak RSS then sums them)")
    parser.add_argument("--imagehost-workers", type=int, default=1,
                        help="imagehost serve --workers (default 1; peak RSS and CPU then sum "
                             "the workers)")
    parser.add_argument("--log-level", default="info",
                        help="imagehost serve --log-level (default info, as `make run`, so "
                             "uvicorn access logs are on; thumbor runs at its default, "
                             "warning)")
    parser.add_argument("--malloc-arena-max", type=int, default=ARENAS,
                        help="MALLOC_ARENA_MAX for every server and the floor (default "
                             f"{ARENAS}, what imagehost serve sets itself; 0 leaves it unset)")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=MMAP_THRESHOLD_BYTES,
                        help="MALLOC_MMAP_THRESHOLD_ for every server and the floor (default "
                             f"{MMAP_THRESHOLD_BYTES}, what imagehost serve sets itself; 0 "
                             "leaves it unset)")
    parser.add_argument("--avif-effort", type=int, default=AVIF_EFFORT,
                        help=f"imagehost AVIF_EFFORT and the floor's effort; thumbor gets "
                             f"AVIF_SPEED = 9 - effort (default {AVIF_EFFORT}, imagehost's)")
    parser.add_argument("--soak", type=float, metavar="MINUTES",
                        help="instead of the cells: one imagehost (caches on) under a mixed "
                             "load for MINUTES (hits and misses over every source and "
                             "output format), its RSS sampled every "
                             f"{SOAK_SAMPLE_SECONDS:g} s; checks the memory targets")
    parser.add_argument("--soak-hits", type=float, default=0.6,
                        help="share of hits in the soak (default 0.6)")
    parser.add_argument("--skip-ladder-off", action="store_true",
                        help="skip the imagehost with LADDER_SIDES empty (the ladder off)")
    parser.add_argument("--skip-floor-original", action="store_true",
                        help="skip the floor from the original (keep the BI source's)")
    parser.add_argument("--profile", action="store_true",
                        help="also: one more imagehost with --log-level warning (access logs "
                             "off), in the same rounds, for the first case and format; and "
                             "derive_image's steps timed in-process for every case and format")
    parser.add_argument("--thumbor-venv", type=Path, default=THUMBOR_VENV,
                        help=f"virtualenv for thumbor, created if needed (default {THUMBOR_VENV})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (sources, caches, logs, thumbor.conf)")
    for hidden in ("--floor-child", "--profile-child"):
        parser.add_argument(hidden, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor_child or args.profile_child:
        args.format = args.format[0]
    quick = (1, QUICK_REQUESTS, QUICK_SECONDS, QUICK_WARMUP, QUICK_HOT_REQUESTS)
    defaults = quick if args.quick else (ROUNDS, REQUESTS, SECONDS, WARMUP, HOT_REQUESTS)
    for name, default in zip(("rounds", "requests", "seconds", "warmup", "hot_requests"),
                             defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if min(args.rounds, args.requests, args.hot_requests, args.concurrency,
           args.hot_concurrency) < 1 \
            or args.seconds <= 0 or args.warmup < 0:
        parser.error("--rounds, --requests, --seconds and the concurrencies must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.floor_child:
        floor_child(args)
        return 0
    if args.profile_child:
        profile_child(args)
        return 0
    if args.soak:
        return soak_main(args)
    formats = [f for f in FORMATS if not args.format or f in args.format]
    cases = [c for c in CASES
             if (not args.case or c.name in args.case) and case_outputs(c, formats)]
    if not cases:
        sys.exit("no selected case has a selected output format (PNG, WebP and AVIF sources "
                 "only make their own format)")
    thumbor, thumbor_version = ensure_thumbor(args.thumbor_venv)
    root = Path(tempfile.mkdtemp(prefix="imagehost-bench-derived-"))
    args.logs = root / "logs"
    args.logs.mkdir()
    load_start, began = os.getloadavg()[0], time.monotonic()
    with started_servers(root, args) as servers:
        runner = run_all(args, root, cases, formats, thumbor, servers)

    cells = runner.cells
    print(f"\nimagehost: pyvips {pyvips.__version__}, libvips {pyvips.version(0)}."
          f"{pyvips.version(1)}.{pyvips.version(2)}, RENDER_THREADS {args.render_threads}, "
          f"VIPS_CONCURRENCY {load_settings({}).vips_concurrency}, --log-level "
          f"{args.log_level}; thumbor {thumbor_version} (Pillow {thumbor_pillow(args.thumbor_venv)}"
          f"), ENGINE_THREADPOOL_SIZE {args.render_threads}, --processes "
          f"{args.thumbor_processes}; imagehost --workers {args.imagehost_workers}; "
          f"AVIF effort {args.avif_effort} (thumbor AVIF_SPEED "
          f"{9 - args.avif_effort}); MALLOC_ARENA_MAX {args.malloc_arena_max or 'unset'}, "
          f"MALLOC_MMAP_THRESHOLD_ {args.malloc_mmap_threshold or 'unset'}")
    print(f"load: {args.rounds} rounds x ({args.warmup} warm-up requests, then {args.requests} "
          f"requests ({args.hot_requests} for the hot key) or {args.seconds:g} s) per cell; "
          f"{args.concurrency} in flight for misses, "
          f"{args.hot_concurrency} for the hot key; fit {FIT}, quality "
          + ", ".join(f"{k} {v}" for k, v in QUALITY.items()))
    print(f"machine: {os.cpu_count()} cores; 1-min load average {load_start:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end; {(time.monotonic() - began) / 60:.1f} min")
    print("RSS once started (before any request) / peak over the whole run: " + "; ".join(
        f"{s.side} {s.start_mb:.0f} / {s.peak_mb:.0f} MB" for s in servers))
    for note in runner.notes:
        print(f"NOTE: {note}")
    for name, answer in runner.refused.items():
        print(f"NOTE: imagehost refused the {name} upload ({answer[:200]}): no imagehost or "
              "BI-floor cells for it, only thumbor and the floor from the original")
    print_cells(cells)
    print_uploads(runner.uploads, cases)
    print_summary(cells, cases, formats)
    if runner.profiles:
        print_stage_profile(runner.profiles, cells)
    print_targets(targets(cells, cases, formats, runner.refused))
    errors = sum(sum(c.samples.errors.values()) for c in cells)
    if errors:
        print(f"\nFAIL: {errors} requests failed", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def started_servers(root: Path, args: argparse.Namespace) -> Iterator[list[Server]]:
    """The servers a run starts: stopped at its end, and `root` removed (unless --keep)."""
    servers: list[Server] = []
    try:
        yield servers
    finally:
        for server in servers:
            stop(server)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def soak_main(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="imagehost-bench-soak-"))
    args.logs = root / "logs"
    args.logs.mkdir()
    load_start = os.getloadavg()[0]
    with started_servers(root, args) as servers:
        stats = run_soak(args, root, servers)
        start_mb = servers[0].start_mb
    print(f"machine: {os.cpu_count()} cores; 1-min load average {load_start:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end; RENDER_THREADS {args.render_threads}, "
          f"MALLOC_ARENA_MAX {args.malloc_arena_max or 'unset'}, MALLOC_MMAP_THRESHOLD_ "
          f"{args.malloc_mmap_threshold or 'unset'}")
    found = print_soak(stats, args, start_mb)
    print_targets(found)
    errors = sum(stats.hits.errors.values()) + sum(stats.misses.errors.values())
    if errors:
        print(f"\nFAIL: {errors} requests failed", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
