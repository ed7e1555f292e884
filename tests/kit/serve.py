"""`imagehost serve` as real subprocesses on loopback, for the end-to-end tests: started with an
explicit environment, ready once /ping answers, stopped by PID."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.kit.cli import imagehost_command
from tests.kit.environ import SECRET, clean_environ, local_environ

__all__ = ["clean_environ", "imagehost_command"]
STARTUP_TIMEOUT = 30.0


def server_environ(root: Path, **overrides: str) -> dict[str, str]:
    """A server on local stores and SQLite under `root`, with the test secret."""
    return local_environ(root, **({"API_SECRET_KEY": SECRET, "AUTO_ORIENT_ORIGINAL": "1"}
                                  | overrides))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Launch:
    root: Path
    environ: dict[str, str]
    args: Sequence[str] = field(default=())
    """More `imagehost serve` arguments (--host and --port are set here)."""


@dataclass(frozen=True)
class Served:
    url: str
    root: Path
    log: Path
    """Everything the server wrote (stdout and stderr)."""
    process: subprocess.Popen


@contextmanager
def serving(*launches: Launch) -> Iterator[list[Served]]:
    """One `imagehost serve` per launch, all started at once; yields once each answers /ping,
    and stops them by PID (SIGTERM, SIGKILL after 10 s) on exit."""
    started: list[Served] = []
    try:
        for launch in launches:
            launch.root.mkdir(parents=True, exist_ok=True)
            port = free_port()
            log = launch.root / "server.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    imagehost_command("serve", "--host", "127.0.0.1", "--port", str(port),
                                      *launch.args),
                    env=launch.environ, cwd=launch.root, stdout=out, stderr=subprocess.STDOUT)
            started.append(Served(f"http://127.0.0.1:{port}", launch.root, log, process))
        for served in started:
            wait_for_ping(served)
        yield started
    finally:
        stop(*started)


def wait_for_ping(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"imagehost serve exited with {served.process.returncode}:\n"
                        f"{served.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{served.url}/ping", timeout=1).text == "Pong!":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"imagehost serve did not answer /ping within {STARTUP_TIMEOUT} s:\n"
                f"{served.log.read_text(errors='replace')}")


def stop(*served: Served) -> None:
    for one in served:
        if one.process.poll() is None:
            one.process.terminate()
    for one in served:
        try:
            one.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            one.process.kill()
            one.process.wait(timeout=10)
