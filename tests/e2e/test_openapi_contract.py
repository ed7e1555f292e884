"""The live OpenAPI document is a contract: schemathesis generates requests for every operation
of a real `imagehost serve` (loopback, free port, temporary folders; on SQLite, then on
PostgreSQL, whose JSONB refuses some JSON that SQLite takes) and checks every answer against
the document: no 5xx, only documented status codes, documented content types, bodies matching
their response schemas, documented response headers, schema-violating requests refused.

Requests carry an admin key (Authorization: Bearer); the server holds a few records first so
that generated ids and paths sometimes exist.

schemathesis runs through its CLI (`schemathesis run`): its pytest integration cannot get the
schema from a fixture here (`schemathesis.pytest.from_fixture` fails with "'Function' object
has no attribute '_nodeid'" under pytest 9), and loading it at import time would need the
server before collection. The CLI also runs its coverage phase (boundary and negative values
for every parameter), which the pytest integration does not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import imagegen
from tests.kit.serve import Launch, server_environ, serving

ADMIN_KEY = "contract-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance",
          "negative_data_rejection")
"""Left out on purpose (each found only what the API means to do):
positive_data_acceptance: a schema-valid body is not always a valid request, e.g. random bytes
    in the `image` or `archive` field (400 by design), or a bulk PATCH/DELETE without a filter.
ignored_auth, missing_required_header: published images are public (and, with
    PUBLIC_LISTING, their records), though the document lists the bearer scheme as their
    security requirement (FastAPI does so for HTTPBearer(auto_error=False)); an optional scheme
    would be `security: [{}, {...}]`.
unsupported_method: /ping also answers POST and HEAD, undocumented on purpose (c2corg clients),
    and PATCH /images/{record_id} shares its URL shape with PUT /images/{ref}.
The stateful checks (use_after_free, ensure_resource_availability) need links, which the
document has none of."""
MAX_EXAMPLES = 25
SEED = int(os.environ.get("IMAGEHOST_CONTRACT_SEED", "20240501"))
"""Fixed, so that `make test` is repeatable; set IMAGEHOST_CONTRACT_SEED to explore further."""
SCHEMATHESIS_TIMEOUT = 600


@pytest.fixture(params=["sqlite", "postgresql"])
def contract_server(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The server on SQLite, then on PostgreSQL (a fresh database from tests.kit.servers)."""
    root = tmp_path_factory.mktemp(f"contract-{request.param}")
    database = {"DATABASE_URL": request.getfixturevalue("postgres_url")} \
        if request.param == "postgresql" else {}
    environ = server_environ(root, API_KEYS=f"{ADMIN_KEY}:admin;contract-reader:read",
                             EXPIRE_INTERVAL="0", **database)
    with serving(Launch(root, environ)) as [served]:
        seed(served.url)
        yield served.url, served.log


def seed(url: str) -> None:
    """Records 1..3 (active) and 4 (incoming, from /upload)."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        images = [("jpg", imagegen.photo_jpeg(64, 48)), ("png", imagegen.photo_png(32, 32)),
                  ("gif", imagegen.animated_gif(16, 16))]
        for i, (extension, image) in enumerate(images):
            response = client.post("/images", files={"image": ("x", image)}, data={
                "data": json.dumps({"n": i, "s": "x"}), "path": f"seed/{i}.{extension}"})
            assert response.status_code == 201, response.text
        response = client.post("/upload", files={"file": ("x.jpg", imagegen.photo_jpeg(32, 32))})
        assert response.status_code == 200, response.text


def test_every_operation_answers_as_its_openapi_document_says(
        contract_server: tuple[str, Path], tmp_path: Path) -> None:
    url, log_path = contract_server
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--no-color", "run",
        f"{url}/openapi.json", "--checks", ",".join(CHECKS),
        "--header", f"Authorization: Bearer {ADMIN_KEY}",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        "--request-timeout", "30", "--generation-database", "none",
        "--phases", "examples,coverage,fuzzing",
        "--suppress-health-check", "all",
    ]

    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            timeout=SCHEMATHESIS_TIMEOUT)

    if result.returncode != 0:
        pytest.fail(f"schemathesis found problems (exit {result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}\n"
                    f"--- server errors ---\n{server_errors(log_path)}", pytrace=False)


def server_errors(log_path: Path, limit: int = 200) -> str:
    """The server's logged tracebacks (access-log lines left out), for diagnosing 5xx."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines()
             if not line.startswith("INFO:") and "re2.cc" not in line]
    return "\n".join(lines[-limit:])
