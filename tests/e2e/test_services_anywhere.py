"""`make test` works from a clone wherever it lies: PostgreSQL, which runs as its own user,
starts and stops from a clone in a folder other users cannot enter (like /root, or a
`mktemp -d` folder)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.kit.serve import free_port

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"


@pytest.mark.skipif(os.geteuid() != 0, reason="as root, PostgreSQL runs as user postgres")
def test_postgres_starts_from_a_clone_other_users_cannot_enter(tmp_path: Path) -> None:
    clone = tmp_path / "private-clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copytree(SERVICES, clone / "scripts" / "services")
    tmp_path.chmod(0o700)
    port = str(free_port())
    env = {**os.environ, "PG_PORT": port}
    script = str(clone / "scripts" / "services" / "postgres.sh")
    assert subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(clone)]
                          ).returncode != 0     # postgres cannot enter the clone

    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True,
                             timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/imagehost") as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
    finally:
        stopped = subprocess.run([script, "stop"], env=env, capture_output=True, text=True,
                                 timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    status = subprocess.run([script, "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 3 and "stopped" in status.stdout
    state = hashlib.sha1(str(clone / "var" / "services").encode()).hexdigest()[:12]
    shutil.rmtree(f"/var/tmp/imagehost-postgres-{state}")
