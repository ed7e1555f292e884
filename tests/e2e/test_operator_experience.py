"""What an operator meets, with real processes: `imagehost serve --workers 2` (metrics of the
whole server, signed URLs any worker verifies), one-line errors with a non-zero exit status
for what an operator can fix, --debug for the traceback, jobs on Celery when BROKER_URL is
set, JSON logs with request ids, and the version."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests import imagegen
from tests.conftest import SECRET
from tests.kit.cli import describe, run_cli, start_cli, wait_for
from tests.kit.environ import local_environ
from tests.kit.serve import Launch, server_environ, serving

ADMIN = {"Authorization": f"Bearer {SECRET}"}


def fresh(url: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a new connection, so that the kernel spreads them over the workers."""
    with httpx.Client(timeout=30, headers={"Connection": "close"}) as client:
        return client.get(f"{url}{path}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("two-workers")
    with serving(Launch(root, server_environ(root), args=("--workers", "2"))) as [served]:
        yield served.url


def test_metrics_count_the_requests_of_every_worker(two_workers: str) -> None:
    def pings() -> float:
        text = fresh(two_workers, "/metrics").text
        found = re.findall(r'^imagehost_requests_total\{method="GET",route="/ping",'
                           r'status="200"\} (\S+)$', text, re.M)
        return sum(float(value) for value in found)

    before = pings()
    for _ in range(10):
        answer = fresh(two_workers, "/ping")
        assert answer.text == "Pong!"
    after = pings()

    assert after - before == 10
    served_by = {fresh(two_workers, "/version").headers["x-request-id"] for _ in range(4)}
    assert len(served_by) == 4                       # every answer has its own id


def test_a_signed_url_made_by_one_worker_is_verified_by_every_worker(two_workers: str) -> None:
    created = httpx.post(f"{two_workers}/images", headers=ADMIN, timeout=30,
                         files={"image": ("a.jpg", imagegen.photo_jpeg(200, 150))})
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    signed = fresh(two_workers, f"/images/{record_id}/image",
                   params={"w": "64", "url": "true"}).json()["url"]
    assert signed.startswith(f"{two_workers}/files/cache/")   # this server's own port
    path = signed.split("://", 1)[1].split("/", 1)[1]

    statuses = [fresh(two_workers, f"/{path}").status_code for _ in range(20)]

    assert statuses == [200] * 20


@pytest.mark.parametrize(("args", "environ", "names"), [
    (["serve", "--port", "99999"], {}, "--port 99999"),
    (["serve", "--log-level", "loud"], {}, "--log-level 'loud'"),
    (["config"], {"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND='ftp'"),
    (["serve"], {"DATABASE_URL": "not a url"}, "DATABASE_URL='not a url'"),
    (["serve"], {"DATABASE_URL": "postgresql://user:hunter2@127.0.0.1:1/db"},
     "DATABASE_URL=postgresql://user:***@127.0.0.1:1/db"),
    (["expire"], {"INCOMING_FOLDER": "{root}/a-file/incoming"}, "INCOMING_FOLDER="),
    (["migrate"], {"V5_BASE_URL": "http://127.0.0.1:1"}, "V5_DATABASE_URL is not set"),
    (["migrate"], {"V5_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/v5",
                   "V5_BASE_URL": "http://127.0.0.1:1"}, "V5_DATABASE_URL=postgresql://u:***@"),
    (["resize", "--since", "last tuesday"], {}, "--since 'last tuesday'"),
])
def test_an_operator_error_is_one_line_naming_the_setting(
        tmp_path: Path, args: list[str], environ: dict[str, str], names: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    env = local_environ(tmp_path, **{k: v.format(root=tmp_path) for k, v in environ.items()})

    result = run_cli(args, env, tmp_path, timeout=60)

    assert result.returncode == 2, describe(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, describe(result)
    assert lines[0].startswith(f"imagehost: {names}"), describe(result)
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_a_database_that_refuses_the_login_is_one_line(tmp_path: Path,
                                                       postgres_server_url: str) -> None:
    refused = make_url(postgres_server_url).set(username="nobody-here", password="hunter2")
    env = local_environ(tmp_path, DATABASE_URL=refused.render_as_string(hide_password=False))

    result = run_cli(["serve"], env, tmp_path, timeout=60)

    assert result.returncode == 2, describe(result)
    line = result.stderr.strip()
    assert "\n" not in line and "hunter2" not in line and "Traceback" not in line
    assert line.startswith("imagehost: DATABASE_URL=postgresql+psycopg://nobody-here:***@")
    assert 'role "nobody-here" does not exist' in line or "authentication failed" in line


@pytest.mark.parametrize("how", ["--debug", "LOG_LEVEL=debug"])
def test_debug_shows_the_traceback_too(tmp_path: Path, how: str) -> None:
    env = local_environ(tmp_path, DATABASE_URL="postgresql://u@127.0.0.1:1/db")
    args = ["serve"]
    if how == "--debug":
        args = ["--debug", "serve"]
    else:
        env["LOG_LEVEL"] = "debug"

    result = run_cli(args, env, tmp_path, timeout=60)

    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("imagehost: DATABASE_URL=")


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["serve", "--port", str(port)], local_environ(tmp_path), tmp_path)

    assert result.returncode == 2, describe(result)
    assert result.stderr.strip() == (
        f"imagehost: --host 127.0.0.1 --port {port}: cannot listen there (Address already in "
        "use); stop what uses the port, or choose another --port")


def test_a_job_refused_before_its_first_item_leaves_no_job_row(tmp_path: Path) -> None:
    env = local_environ(tmp_path, V5_BASE_URL="http://127.0.0.1:1",
                        V5_DATABASE_URL="postgresql://u@127.0.0.1:1/v5")

    refused = run_cli(["migrate"], env, tmp_path)
    listed = run_cli(["jobs", "list"], env, tmp_path)

    assert refused.returncode == 2, describe(refused)
    assert listed.returncode == 0 and listed.stdout == "", describe(listed)


def test_jobs_run_on_celery_when_broker_url_is_set(tmp_path: Path, redis_url: str) -> None:
    env = local_environ(tmp_path, BROKER_URL=redis_url)
    seeded = run_cli(["reindex"], env, tmp_path)         # an empty catalog: nothing to queue
    assert seeded.returncode == 0, describe(seeded)
    (tmp_path / "active").mkdir(exist_ok=True)
    (tmp_path / "active" / "1400000000_0000000001.jpg").write_bytes(imagegen.photo_jpeg(90, 60))
    worker_log = tmp_path / "worker.log"
    worker = start_cli(["worker", "-j", "1"], env, tmp_path, worker_log)
    try:
        wait_for(lambda: " ready." in worker_log.read_text(errors="replace"), 60,
                 "the worker to be ready")
        on_celery = run_cli(["reindex"], env, tmp_path, timeout=120)
        local = run_cli(["reindex", "--local"], env, tmp_path, timeout=120)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert on_celery.returncode == 0, describe(on_celery)
    assert f"queued on {redis_url}" in on_celery.stderr, describe(on_celery)
    assert "'processed': 1" in worker_log.read_text(errors="replace")
    assert local.returncode == 0, describe(local)
    assert "queued on" not in local.stderr, describe(local)


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    launch = Launch(tmp_path, server_environ(tmp_path, LOG_FORMAT="json"))
    with serving(launch) as [served]:
        given = fresh(served.url, "/ping", headers={"X-Request-ID": "req-42"})
        made = fresh(served.url, "/images/99/image")
        log_text = served.log.read_text()

    assert given.headers["x-request-id"] == "req-42"
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line.get("path")}
    assert access["req-42"]["method"] == "GET" and access["req-42"]["status"] == 200
    assert access[made.headers["x-request-id"]]["status"] == 404
    assert access[made.headers["x-request-id"]]["record_id"] == 99
    assert all({"time", "level", "message"} <= set(line) for line in lines)


def test_the_version_is_on_the_command_line_and_on_http(tmp_path: Path) -> None:
    printed = run_cli(["--version"], local_environ(tmp_path), tmp_path)
    with serving(Launch(tmp_path, server_environ(tmp_path))) as [served]:
        answer = fresh(served.url, "/version").json()

    assert printed.stdout.strip() == f"imagehost {answer['version']}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", answer["libvips"])
    assert {"jpeg", "png", "gif", "webp", "svg"} <= set(answer["formats"]["upload"])
    assert "avif" in answer["formats"]["output"]
