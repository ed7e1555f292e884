"""A stalled object store (a TCP server on loopback that accepts and never answers) costs a
request at most STORE_REQUEST_BUDGET: /publish answers 503 within the budget on S3 and on
Swift, where the default timeouts and retries used to wait minutes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SECRET

BUDGET = 2.0
SLACK = 3.0
"""Generous for a loaded machine; without the budget the same call waits 3 x 30 s."""


@pytest.fixture
def stalled_endpoint() -> Iterator[str]:
    """http://127.0.0.1:<port> of a server that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    done = threading.Event()

    def hold() -> None:
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    holder.join(timeout=5)
    for connection in held:
        connection.close()
    listener.close()


def s3_on(endpoint: str) -> dict[str, str]:
    return {"STORAGE_BACKEND": "s3", "INCOMING_BUCKET": "incoming", "ACTIVE_BUCKET": "active",
            "INCOMING_PREFIX": "STALLED", "ACTIVE_PREFIX": "STALLED",
            "STALLED_ENDPOINT": endpoint, "STALLED_ACCESS_KEY_ID": "key",
            "STALLED_SECRET_KEY": "secret", "STALLED_DEFAULT_REGION": "us-east-1"}


def swift_on(endpoint: str) -> dict[str, str]:
    return {"STORAGE_BACKEND": "swift", "INCOMING_BUCKET": "incoming",
            "ACTIVE_BUCKET": "active", "OS_AUTH_URL": f"{endpoint}/auth/v1.0",
            "OS_USERNAME": "test:tester", "OS_PASSWORD": "testing"}


@pytest.mark.parametrize("backend", [s3_on, swift_on], ids=["s3", "swift"])
def test_a_publish_against_a_stalled_store_answers_503_within_the_budget(
        make_client: Callable[..., TestClient], stalled_endpoint: str,
        backend: Callable[[str], dict[str, str]]) -> None:
    client = make_client(**backend(stalled_endpoint), STORE_REQUEST_BUDGET=f"{BUDGET}s",
                         STORE_CONNECT_TIMEOUT="3", STORE_READ_TIMEOUT="30",
                         STORE_MAX_ATTEMPTS="3")
    started = time.monotonic()
    answer = client.post("/publish", data={"secret": SECRET,
                                           "filename": "1700000000_1234567890.jpg"})
    elapsed = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "store_unavailable"
    assert elapsed < BUDGET + SLACK, elapsed
