"""A catalog database that goes down for a while and comes back: requests that need it answer
503 with Retry-After (never a 500), and the server recovers by itself once it is back. Run on
a PostgreSQL of this test's own (the scripts' PG_PORT and state folder), so that the servers
the other tests use are not touched."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import imagegen
from tests.conftest import SECRET
from tests.kit.serve import Launch, free_port, server_environ, serving

POSTGRES = Path(__file__).resolve().parents[2] / "scripts" / "services" / "postgres.sh"
ADMIN = {"Authorization": f"Bearer {SECRET}"}


class OwnPostgres:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PG_PORT": str(self.port),
                    "IMAGEHOST_SERVICES_DIR": str(root / "services")}
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/imagehost"

    def run(self, command: str) -> None:
        done = subprocess.run([str(POSTGRES), command], env=self.env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[OwnPostgres]:
    if os.environ.get("IMAGEHOST_REQUIRE_SERVICES") != "1" and \
            not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        pytest.skip("PostgreSQL is not installed (make test installs it)")
    server = OwnPostgres(tmp_path)
    server.run("start")
    try:
        yield server
    finally:
        server.run("stop")


def test_a_catalog_outage_is_a_503_and_the_server_recovers(tmp_path: Path,
                                                          postgres: OwnPostgres) -> None:
    root = tmp_path / "server"
    with serving(Launch(root, server_environ(root, DATABASE_URL=postgres.url))) as [served]:
        created = httpx.post(f"{served.url}/images", headers=ADMIN, timeout=30,
                             files={"image": ("a.jpg", imagegen.photo_jpeg(80, 60))})
        assert created.status_code == 201, created.text
        record = f"{served.url}/images/{created.json()['id']}"

        postgres.run("stop")
        down = httpx.get(record, headers=ADMIN, timeout=30)
        upload = httpx.post(f"{served.url}/images", headers=ADMIN, timeout=30,
                            files={"image": ("b.jpg", imagegen.photo_jpeg(80, 60))})
        postgres.run("start")
        back = httpx.get(record, headers=ADMIN, timeout=30)

    assert down.status_code == 503, down.text
    assert down.json()["error"] == "catalog_unavailable"
    assert down.headers["retry-after"] == "5"
    assert upload.status_code == 503, upload.text
    assert back.status_code == 200, back.text
    assert "Traceback" not in (root / "server.log").read_text()
