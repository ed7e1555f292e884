"""`imagehost serve --no-access-log` over real HTTP on loopback: uvicorn then writes no line per
request (its other info lines stay); without the flag it writes one. Both servers run at once
to keep the test short."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from tests.conftest import SECRET
from tests.kit.serve import Launch, clean_environ, serving

ACCESS_LINE = '"GET /health'


def write_config(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "imagehost.yaml"
    path.write_text(yaml.safe_dump({
        "storage_backend": "local", "temp_folder": str(root / "temp"),
        "incoming_folder": str(root / "incoming"), "active_folder": str(root / "active"),
        "cache_folder": str(root / "cache"), "disk_cache_folder": str(root / "derived"),
        "database_url": f"sqlite:///{root / 'catalog.db'}", "api_secret_key": SECRET,
        "expire_interval": 0}, sort_keys=False))
    return path


def launch(root: Path, *flags: str) -> Launch:
    return Launch(root, clean_environ(),
                  ("--config", str(write_config(root)), "--log-level", "info", *flags))


def test_no_access_log_hides_request_lines_and_the_default_shows_them(tmp_path: Path) -> None:
    with serving(launch(tmp_path / "quiet", "--no-access-log"),
                 launch(tmp_path / "loud")) as servers:
        for server in servers:
            response = httpx.get(f"{server.url}/health", timeout=5)
            assert response.status_code == 200, response.text
            assert response.json()
    quiet_log, loud_log = (server.log.read_text(errors="replace") for server in servers)

    # the quiet server did log at info level (startup, shutdown), just no request
    assert "Application startup complete" in quiet_log, quiet_log
    assert "Finished server process" in quiet_log, quiet_log
    assert ACCESS_LINE not in quiet_log, quiet_log
    assert '"GET /ping' not in quiet_log, quiet_log
    assert ACCESS_LINE in loud_log, loud_log
    [line] = [line for line in loud_log.splitlines() if ACCESS_LINE in line]
    assert "127.0.0.1" in line and " 200" in line, line
