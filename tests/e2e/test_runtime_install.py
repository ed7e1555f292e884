"""A runtime-only install, as `pip install imagehost` makes it: a fresh venv with the package
and its declared dependencies, none of the test extra. Every command's --help and a minimal
run of each work there (a runtime module importing a test-only package, as migrate once did
with httpx, fails here); a missing optional dependency ends with one line naming the extra to
install; then `pip install .[swift,celery]` brings both paths to life.

The venv is built once per run (pip takes what it can from the machine's caches); the tests
of the runtime-only venv come first, the extras are installed into it afterwards."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from tests.jobs import FileServer, image_key, jpeg, summary_of, write_tree
from tests.kit.environ import local_environ
from tests.kit.servers import V5_TABLE

REPO = Path(__file__).resolve().parents[2]
PIP_TIMEOUT = 900
RUN_TIMEOUT = 120
EXTRAS = {"swift": "swiftclient", "celery": "celery"}


@dataclass(frozen=True)
class Venv:
    root: Path
    work: Path
    """A scratch folder for the commands' stores and catalogs."""

    @property
    def imagehost(self) -> Path:
        return self.root / "bin" / "imagehost"

    def has(self, module: str) -> bool:
        found = subprocess.run([self.root / "bin" / "python", "-c",
                                f"import importlib.util as u; print(u.find_spec({module!r}))"],
                               capture_output=True, text=True, check=True, cwd=self.work)
        return found.stdout.strip() != "None"

    def run(self, *args: str, environ: dict[str, str] | None = None,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.imagehost, *args], env=environ or self.environ(),
                              cwd=self.work, text=True, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def environ(self, **overrides: str) -> dict[str, str]:
        """Local stores and a SQLite catalog under the scratch folder; nothing of the test
        process's Python setup (PYTHONPATH) leaks into the venv."""
        environ = local_environ(self.work, **overrides)
        environ.pop("PYTHONPATH", None)
        return environ


def pip(venv: Path, *args: str) -> None:
    result = subprocess.run([venv / "bin" / "python", "-m", "pip", "--quiet", *args],
                            capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert result.returncode == 0, f"pip {' '.join(args)}:\n{result.stderr[-3000:]}"


def source_copy(target: Path) -> Path:
    """What a source distribution holds, so that pip builds nothing inside the work tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", target / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    return target


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return source_copy(tmp_path_factory.mktemp("imagehost-source"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Venv:
    root = tmp_path_factory.mktemp("runtime") / "venv"
    subprocess.run([sys.executable, "-m", "venv", root], check=True, timeout=PIP_TIMEOUT)
    pip(root, "install", str(source))
    return Venv(root, tmp_path_factory.mktemp("runtime-work"))


@pytest.fixture(scope="module")
def with_extras(runtime: Venv, source: Path) -> Venv:
    pip(runtime.root, "install", f"{source}[{','.join(EXTRAS)}]")
    return runtime


@pytest.fixture
def runtime_only(runtime: Venv) -> Venv:
    installed = [extra for extra, module in EXTRAS.items() if runtime.has(module)]
    assert not installed, f"the runtime venv already has the {installed} extras (test order)"
    return runtime


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error line that ends stderr (log lines of the start-up may come before it)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines and "Traceback" not in result.stderr, (
        f"expected a one-line error and exit 2, got exit {result.returncode}:\n"
        f"{result.stderr[-3000:]}")
    assert lines[-1].startswith("imagehost: "), lines[-1]
    return lines[-1]


def test_every_command_has_help(runtime_only: Venv) -> None:
    """Every command and subcommand, found by walking the CLI in the venv itself."""
    listing = subprocess.run(
        [runtime_only.root / "bin" / "python", "-c", WALK_COMMANDS], cwd=runtime_only.work,
        capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert listing.returncode == 0, listing.stderr
    commands = [line.split() for line in listing.stdout.splitlines()]
    assert {"serve", "config", "expire", "migrate", "resize", "transfer", "reindex", "worker",
            "sign"} <= {path[0] for path in commands}
    assert ["jobs", "list"] in commands
    for path in [[], *commands]:
        result = runtime_only.run(*path, "--help")
        assert result.returncode == 0, f"imagehost {' '.join(path)} --help:\n{result.stderr}"
        assert "Usage: imagehost" in result.stdout, result.stdout


WALK_COMMANDS = """
import typer.main
from imagehost.cli import app

def walk(command, path):
    for name, sub in sorted(command.commands.items()):
        if hasattr(sub, "commands"):  # a group of subcommands
            walk(sub, path + [name])
        else:
            print(" ".join(path + [name]))

walk(typer.main.get_command(app), [])
"""


def test_serve_answers(runtime_only: Venv) -> None:
    port = free_port()
    log = runtime_only.work / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [runtime_only.imagehost, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=runtime_only.environ(API_SECRET_KEY="runtime-secret"), cwd=runtime_only.work,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        assert ping(f"http://127.0.0.1:{port}/ping", server), log.read_text(errors="replace")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_config_prints_a_loadable_configuration(runtime_only: Venv) -> None:
    result = runtime_only.run("config")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["storage_backend"] == "local"


def test_migrate_from_a_throwaway_v5_source_then_the_other_jobs(runtime_only: Venv,
                                                               tmp_path: Path) -> None:
    """migrate (dry run, then for real, over HTTP), resize, transfer, reindex, jobs, expire,
    sign: each runs to its end in the runtime-only venv."""
    key = image_key(1, "jpg")
    write_tree(tmp_path / "uploads", {key: jpeg(1)})
    v5 = f"sqlite:///{tmp_path / 'v5.db'}"
    engine = create_engine(v5)
    with engine.begin() as connection:
        connection.execute(text(V5_TABLE))
        connection.execute(text("INSERT INTO app_images_archives VALUES (1, 1, :f, false)"),
                           {"f": key})
    engine.dispose()
    with FileServer(tmp_path / "uploads", tmp_path / "requests.log") as server:
        environ = runtime_only.environ(V5_DATABASE_URL=v5, V5_BASE_URL=server.url)
        planned = runtime_only.run("migrate", "--dry-run", environ=environ)
        assert planned.returncode == 0, planned.stderr
        assert "would process 1, skip 0, fail 0" in planned.stdout
        migrated = runtime_only.run("migrate", environ=environ)
        assert migrated.returncode == 0, migrated.stderr
        assert server.requests() == [key]
    assert (runtime_only.work / "active" / key).read_bytes() == jpeg(1)
    assert counts(migrated) == (1, 1)

    resized = runtime_only.run("resize")
    assert resized.returncode == 0 and counts(resized) == (1, 1), resized.stderr

    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump({"storage_backend": "local",
                                      "incoming_folder": str(tmp_path / "t-incoming"),
                                      "active_folder": str(tmp_path / "t-active"),
                                      "cache_folder": str(tmp_path / "t-cache")}))
    transferred = runtime_only.run("transfer", "--to", str(target))
    assert transferred.returncode == 0, transferred.stderr
    assert (tmp_path / "t-active" / key).read_bytes() == jpeg(1)

    reindexed = runtime_only.run("reindex")
    assert reindexed.returncode == 0, reindexed.stderr

    listed = runtime_only.run("jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert {"migrate", "resize", "transfer", "reindex"} <= set(listed.stdout.split())
    shown = runtime_only.run("jobs", "show", str(summary_of(migrated).job))
    assert shown.returncode == 0 and yaml.safe_load(shown.stdout)["done"] == 1, shown.stderr

    expired = runtime_only.run("expire", "--dry-run")
    assert expired.returncode == 0, expired.stderr

    signed = runtime_only.run("sign", "/images/1/image?w=64",
                              environ=runtime_only.environ(URL_SIGNING_KEY="k" * 32))
    assert signed.returncode == 0 and "sig=" in signed.stdout, signed.stderr


def test_a_missing_extra_is_named_in_one_line(runtime_only: Venv) -> None:
    swift = runtime_only.environ(STORAGE_BACKEND="swift", INCOMING_BUCKET="incoming",
                                 ACTIVE_BUCKET="active", OS_USERNAME="test:tester",
                                 OS_AUTH_URL="http://127.0.0.1:9/auth/v1.0", OS_PASSWORD="x")
    for args in (["expire", "--dry-run"], ["serve", "--port", str(free_port())]):
        line = one_line_error(runtime_only.run(*args, environ=swift))
        assert "pip install 'imagehost[swift]'" in line, line

    for args in (["worker", "--broker", "redis://127.0.0.1:9/0"],
                 ["resize", "--broker", "redis://127.0.0.1:9/0"]):
        line = one_line_error(runtime_only.run(*args))
        assert "pip install 'imagehost[celery]'" in line, line


def test_the_extras_install_and_load(with_extras: Venv) -> None:
    assert with_extras.has("swiftclient") and with_extras.has("celery")
    # the same commands now get past the import: to the unreachable servers they name
    swift = with_extras.environ(STORAGE_BACKEND="swift", INCOMING_BUCKET="incoming",
                                ACTIVE_BUCKET="active", OS_USERNAME="test:tester",
                                OS_AUTH_URL="http://127.0.0.1:9/auth/v1.0", OS_PASSWORD="x",
                                STORE_MAX_ATTEMPTS="1")
    result = with_extras.run("expire", "--dry-run", environ=swift)
    assert result.returncode != 0 and "imagehost[swift]" not in result.stderr, result.stderr
    loaded = subprocess.run(
        [with_extras.root / "bin" / "python", "-c",
         "from imagehost.jobs.distributed import celery_app; "
         "print(celery_app('redis://127.0.0.1:9/0').main)"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=with_extras.work)
    assert loaded.returncode == 0 and loaded.stdout.strip() == "imagehost", loaded.stderr


def counts(result: subprocess.CompletedProcess[str]) -> tuple[int, int]:
    summary = summary_of(result)
    return summary.items, summary.done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ping(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read() == b"Pong!"
        except OSError:
            time.sleep(0.1)
    return False
