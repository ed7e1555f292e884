"""`imagehost serve --no-access-log` over real HTTP on loopback: uvicorn then writes no line per
request (its other info lines stay); without the flag it writes one. Both servers run at once
to keep the test short."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import SECRET
from tests.e2e.test_client_replay import clean_environ, free_port, imagehost_command

STARTUP_TIMEOUT = 10.0
ACCESS_LINE = '"GET /health'


@dataclass(frozen=True)
class Running:
    process: subprocess.Popen
    url: str
    log: Path


def write_config(root: Path) -> Path:
    path = root / "imagehost.yaml"
    path.write_text(yaml.safe_dump({
        "storage_backend": "local", "temp_folder": str(root / "temp"),
        "incoming_folder": str(root / "incoming"), "active_folder": str(root / "active"),
        "cache_folder": str(root / "cache"), "disk_cache_folder": str(root / "derived"),
        "database_url": f"sqlite:///{root / 'catalog.db'}", "api_secret_key": SECRET,
        "expire_interval": 0}, sort_keys=False))
    return path


@contextmanager
def serving(root: Path, *flags: str) -> Iterator[Running]:
    """`imagehost serve` with a config file, its output in root/server.log; stopped by PID
    (SIGTERM, uvicorn's graceful shutdown) on exit."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            imagehost_command("serve", "--config", str(write_config(root)), "--host",
                              "127.0.0.1", "--port", str(port), "--log-level", "info", *flags),
            env=clean_environ(), cwd=root, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield Running(process, f"http://127.0.0.1:{port}", log_path)
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until_up(server: Running, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"imagehost serve exited with {server.process.returncode}:\n"
                        f"{server.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.url}/ping", timeout=1).text == "Pong!":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"imagehost serve did not answer within {STARTUP_TIMEOUT} s:\n"
                f"{server.log.read_text(errors='replace')}")


def stop(server: Running) -> str:
    """Stop the server by its PID and return everything it wrote."""
    server.process.terminate()
    server.process.wait(timeout=10)
    return server.log.read_text(errors="replace")


def test_no_access_log_hides_request_lines_and_the_default_shows_them(tmp_path: Path) -> None:
    started = time.monotonic()
    with ExitStack() as stack:
        quiet = stack.enter_context(serving(tmp_path / "quiet", "--no-access-log"))
        loud = stack.enter_context(serving(tmp_path / "loud"))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in (quiet, loud):
            wait_until_up(server, deadline)
            response = httpx.get(f"{server.url}/health", timeout=5)
            assert response.status_code == 200, response.text
            assert response.json()

        quiet_log, loud_log = stop(quiet), stop(loud)

    # the quiet server did log at info level (startup, shutdown), just no request
    assert "Application startup complete" in quiet_log, quiet_log
    assert "Finished server process" in quiet_log, quiet_log
    assert ACCESS_LINE not in quiet_log, quiet_log
    assert '"GET /ping' not in quiet_log, quiet_log
    assert ACCESS_LINE in loud_log, loud_log
    [line] = [line for line in loud_log.splitlines() if ACCESS_LINE in line]
    assert "127.0.0.1" in line and " 200" in line, line
    assert time.monotonic() - started < 15
