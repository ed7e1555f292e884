"""One real `imagehost serve` per corpus module, and what each hostile case asserts: the 4xx
status and JSON error code, a message naming the limit or the problem, an answer within
ANSWER_SECONDS (a hang guard, not a performance assertion), nothing written (every file under
the server's folders and every catalog row unchanged), and, once the module is done, the
server's peak resident memory (VmHWM) under PEAK_RSS_MB."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import imagegen
from tests.kit.environ import SECRET
from tests.kit.serve import Launch, Served, server_environ, serving

KEY = "hostile-key-0001"
AUTH = {"Authorization": f"Bearer {KEY}"}
ANSWER_SECONDS = 10.0
PEAK_RSS_MB = 600
SEED_PATH = "seed/photo.jpg"
_NOT_STATE = {"catalog.db", "catalog.db-wal", "catalog.db-shm", "server.log"}


@dataclass(frozen=True)
class Case:
    """One hostile request and the refusal it must get."""

    id: str
    method: str
    path: str
    status: int
    code: str
    message: str
    """A regular expression searched in the answer's message."""
    params: list[tuple[str, str]] | None = None
    content: bytes | None = None
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: bool = True

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class State:
    files: dict[str, tuple[int, int]]
    """path -> (size, mtime_ns) of every file the server keeps, temporary ones included."""
    rows: list[tuple[Any, ...]]


@dataclass
class HostileServer:
    served: Served
    client: httpx.Client
    seed_id: int = 0

    def state(self) -> State:
        files = {p.relative_to(self.served.root).as_posix(): (p.stat().st_size,
                                                              p.stat().st_mtime_ns)
                 for p in sorted(self.served.root.rglob("*"))
                 if p.is_file() and p.name not in _NOT_STATE}
        uri = f"file:{self.served.root / 'catalog.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as catalog:
            rows = catalog.execute("SELECT * FROM images ORDER BY id").fetchall()
        return State(files, rows)

    def send(self, case: Case) -> tuple[httpx.Response, float]:
        path = case.path.replace("{seed}", str(self.seed_id))
        headers = {**(AUTH if case.auth else {}), **case.headers}
        started = time.monotonic()
        response = self.client.request(case.method, path, params=case.params,
                                       content=case.content, files=case.files,
                                       data=case.data, headers=headers)
        return response, time.monotonic() - started

    def refuses(self, case: Case) -> None:
        """Send `case` and assert everything the corpus promises of a refusal."""
        before = self.state()
        response, seconds = self.send(case)
        assert seconds < ANSWER_SECONDS, f"{case.id}: answered in {seconds:.1f} s"
        assert response.headers.get("content-type", "").startswith("application/json"), \
            f"{case.id}: {response.status_code} {response.text[:300]}"
        body = response.json()
        assert (response.status_code, body.get("error")) == (case.status, case.code), body
        assert re.search(case.message, body["message"]), body["message"]
        after = self.state()
        assert after.files == before.files, f"{case.id} wrote files"
        assert after.rows == before.rows, f"{case.id} changed the catalog"

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.served.process.pid}/status").read_text()
        kilobytes = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))
        return kilobytes / 1024


def start(root: Path) -> Iterator[HostileServer]:
    """The server of a corpus module, on local stores and SQLite under `root`, with one
    published seed image (the target of edits and derivations)."""
    environ = server_environ(root, API_KEYS=f"{KEY}:read,write")
    with serving(Launch(root, environ)) as (served,), \
            httpx.Client(base_url=served.url, timeout=ANSWER_SECONDS + 20) as client:
        server = HostileServer(served, client)
        response = client.post("/images", headers=AUTH, data={"path": SEED_PATH},
                               files={"image": ("photo.jpg", imagegen.photo_jpeg(64, 48))})
        assert response.status_code == 201, response.text
        server.seed_id = response.json()["id"]
        yield server


def check_peak_memory(server: HostileServer) -> None:
    peak = server.peak_rss_mb()
    assert peak < PEAK_RSS_MB, f"the server's peak RSS was {peak:.0f} MB"


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"
           ) -> dict[str, Any]:
    return {"file": (name, data, content_type)}


def cases(*groups: list[Case]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Parametrize a test over the cases of `groups`, each named by its id."""
    every = [case for group in groups for case in group]
    return pytest.mark.parametrize("case", every, ids=[case.id for case in every])


__all__ = ["SECRET"]
