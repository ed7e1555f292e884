"""A refused upload reaches a client that streams its body (issue 11): raw sockets against
`imagehost serve`, so that a reset is seen as one.

The client writes a 2 MB body in small pieces, chunked (16 KB chunks) or under a
Content-Length (8 KB writes), and asks `Connection: close` (Node without a keep-alive agent,
urllib, HTTP/1.0 tools): uvicorn closes the socket right after the answer, and if body bytes
are still unread the kernel resets the connection, which can destroy the answer before the
client reads it. Each case runs TRIES times and must read every answer, complete, with its
status and a JSON error: a reset, a broken pipe or an early end of stream fails it."""

from __future__ import annotations

import json
import select
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagehost.web.app import FORM_OVERHEAD_BYTES
from tests.conftest import SECRET
from tests.kit.serve import Launch, server_environ, serving

TRIES = 50
MAX_UPLOAD = 4_000_000
LIMIT = MAX_UPLOAD + FORM_OVERHEAD_BYTES  # the body limit of /upload, /images, /publish
BODY = 2 * 1024 * 1024
OVER = LIMIT + 1_000_000
READ_KEY = "read-only-key-0001"
BOUNDARY = "streamedrefusalboundary"
TIMEOUT = 10.0


def multipart(size: int) -> bytes:
    """A form of `size` bytes with one file field (big.jpg)."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head + b"\xff" * (size - len(head) - len(tail)) + tail


def urlencoded(size: int, fields: int = 1) -> bytes:
    """An urlencoded form of `size` bytes with a wrong secret, padded by `fields` fields; a
    field of more than 1 MB is refused by the form parser."""
    head = b"secret=wrong&filename=big.jpg"
    each = (size - len(head)) // fields
    padding = b"".join(b"&p%d=" % i + b"x" * (each - 4) for i in range(fields))
    return head + padding + b"x" * (size - len(head) - len(padding))


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    status: int
    error: str
    headers: dict[str, str]
    body: Callable[[int], bytes] = multipart


REFUSALS = {
    # refused by the auth dependency, before anything reads the body
    "401-no-key": Refusal("POST", "/images", 401, "unauthorized", MULTIPART),
    "403-read-only-key": Refusal("POST", "/images", 403, "forbidden",
                                 MULTIPART | {"Authorization": f"Bearer {READ_KEY}"}),
    # refused by the route before it reads the image
    "400-image-to-an-id": Refusal("PUT", "/images/123", 400, "bad_request",
                                  {"Content-Type": "image/jpeg",
                                   "Authorization": f"Bearer {SECRET}"}),
    # the form parser gives up partway, at its field size limit
    "400-form-field-too-large": Refusal("POST", "/publish", 400, "bad_request",
                                        URLENCODED, urlencoded),
    # no route: nothing reads the body
    "404-no-route": Refusal("POST", "/nowhere/upload", 404, "not_found", MULTIPART),
    # the whole form is read, then its secret is refused
    "403-wrong-secret": Refusal("POST", "/publish", 403, "forbidden", URLENCODED,
                                lambda size: urlencoded(size, fields=3)),
}

OVER_LIMIT = {
    # declared too large: answered before a byte of the body is read
    "declared": ("/upload", False),
    # counted while /upload reads its form
    "read-by-the-route": ("/upload", True),
    # counted while the rest of a refused body (401) is read
    "after-a-refusal": ("/images", True),
}


class Reset(Exception):
    """The connection broke before a complete answer was read."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root: Path = tmp_path_factory.mktemp("streamed-refusals")
    environ = server_environ(root, MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
                             API_KEYS=f"{READ_KEY}:read")
    with serving(Launch(root, environ)) as [server]:
        yield int(server.url.rsplit(":", 1)[1])


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def framing(size: int, chunked: bool) -> dict[str, str]:
    return {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}


def pieces(body: bytes, chunked: bool) -> Iterator[bytes]:
    """The body as written: 16 KB chunks, or 8 KB writes under a Content-Length."""
    size = 16384 if chunked else 8192
    for start in range(0, len(body), size):
        piece = body[start:start + size]
        yield b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def _recv(sock: socket.socket) -> bytes:
    try:
        data = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError) as exc:
        raise Reset(type(exc).__name__) from exc
    if not data:
        raise Reset("end of stream")
    return data


def read_answer(sock: socket.socket) -> Answer:
    """The next answer, complete (its Content-Length read)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        rest += _recv(sock)
    return Answer(int(status_line.split()[1]), headers, rest[:length])


def exchange(port: int, head: bytes, body: Iterator[bytes], *,
             stop_on_answer: bool = False) -> Answer:
    """One request on a fresh connection: the head, the body piece by piece, the answer.
    With `stop_on_answer` the client looks for an answer before each write and stops sending
    once one has come, as curl and browsers do; otherwise it writes the whole body first."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(head)
            for piece in body:
                if stop_on_answer and select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(piece)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise Reset(type(exc).__name__) from exc
        return read_answer(sock)


def tally(attempt: Callable[[], Answer]) -> Counter[str]:
    """TRIES attempts, each summed up as its status and error code, or how it broke."""
    outcomes: Counter[str] = Counter()
    for _ in range(TRIES):
        try:
            answer = attempt()
        except Reset as reset:
            outcomes[f"reset ({reset})"] += 1
            continue
        except TimeoutError:
            outcomes["timeout"] += 1
            continue
        try:
            error = json.loads(answer.body)["error"]
        except (ValueError, KeyError, TypeError):
            error = f"no JSON error: {answer.body[:60]!r}"
        closes = " close" if answer.headers.get("connection") == "close" else ""
        outcomes[f"{answer.status} {error}{closes}"] += 1
    return outcomes


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "length"])
@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_refusal_reaches_a_client_still_writing_its_body(
        port: int, name: str, chunked: bool) -> None:
    """A 2 MB body within the limit, written whole before the answer is read: the server
    reads the rest of it before answering, so the answer arrives every time."""
    refusal = REFUSALS[name]
    body = refusal.body(BODY)
    head = request_head(refusal.method, refusal.path,
                        refusal.headers | framing(len(body), chunked) | {"Connection": "close"})

    outcomes = tally(lambda: exchange(port, head, pieces(body, chunked)))

    assert outcomes == {f"{refusal.status} {refusal.error} close": TRIES}


@pytest.mark.parametrize("case", list(OVER_LIMIT))
def test_a_body_over_the_limit_gets_413_and_the_connection_closes(port: int, case: str) -> None:
    """Over the limit the server reads no further: it answers 413 with Connection: close, and
    a client that stops writing once the answer has come reads it every time."""
    path, chunked = OVER_LIMIT[case]
    body = multipart(OVER)
    head = request_head("POST", path, MULTIPART | framing(len(body), chunked))

    outcomes = tally(lambda: exchange(port, head, pieces(body, chunked), stop_on_answer=True))

    assert outcomes == {"413 limit_exceeded close": TRIES}


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "length"])
def test_after_a_refusal_the_connection_serves_the_next_request(
        port: int, chunked: bool) -> None:
    """Without Connection: close, the connection answers the next request after a refusal:
    the rest of the refused body was read to its end, not taken for a request."""
    body = multipart(BODY)
    head = request_head("POST", "/images", MULTIPART | framing(len(body), chunked))
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(head)
            for piece in pieces(body, chunked):
                sock.sendall(piece)
            refused = read_answer(sock)
            sock.sendall(request_head("GET", "/ping", {}))
            pong = read_answer(sock)
        assert refused.status == 401, refused
        assert refused.headers.get("connection") != "close", refused
        assert (pong.status, pong.body) == (200, b"Pong!")


def test_a_client_waiting_for_100_continue_is_refused_without_sending_its_body(
        port: int) -> None:
    """With Expect: 100-continue, a request refused before its body is read gets its answer
    at once, with no 100 Continue before it, and the server then closes the connection: the
    body is never asked for."""
    head = request_head("POST", "/images", MULTIPART | {"Content-Length": str(BODY),
                                                        "Expect": "100-continue"})
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(head)
            answer = read_answer(sock)
            assert answer.status == 401, answer
            assert answer.headers.get("connection") == "close", answer
            assert json.loads(answer.body)["error"]
            assert sock.recv(1) == b""  # closed by the server
