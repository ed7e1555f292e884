"""OpenTelemetry tracing end to end: `imagehost serve` with OTEL_EXPORTER_OTLP_ENDPOINT sends its
spans to a small OTLP/HTTP receiver on loopback (http.server decoding the protobuf with
opentelemetry-proto): requests, decode, render, store and catalog calls, children of the
request's span, which continues the caller's traceparent. Without the endpoint no exporter is
made; with it but without the otel extra, start-up ends with one line naming the extra.

The server is stopped before the spans are read: its exit flushes the batch of spans, so the
test waits on nothing but the process."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests import imagegen
from tests.kit.cli import imagehost_command
from tests.kit.serve import Launch, free_port, server_environ, serving

ADMIN_KEY = "tracing-admin-key"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]
    service: str


@dataclass
class Receiver:
    url: str
    spans: list[Span] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    def by_id(self) -> dict[str, Span]:
        return {span.span_id: span for span in self.spans}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An OTLP/HTTP trace receiver on a free loopback port."""
    found = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.posts.append(self.path)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = next((a.value.string_value for a in resource.resource.attributes
                                if a.key == "service.name"), "")
                for scope in resource.scope_spans:
                    found.spans += [Span(
                        span.name, span.trace_id.hex(), span.span_id.hex(),
                        span.parent_span_id.hex(),
                        {a.key: a.value.string_value or str(a.value.int_value)
                         for a in span.attributes}, service) for span in scope.spans]
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def upload_and_derive(url: str) -> tuple[str, int]:
    """A c2corg upload, a records upload and a derived image (with the caller's traceparent);
    the upload's key and the record's id."""
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        response = client.post("/upload", files={"file": ("a.jpg", imagegen.photo_jpeg(96, 64))})
        assert response.status_code == 200, response.text
        key = response.json()["filename"]
        response = client.post("/images", files={"image": ("b.png", imagegen.photo_png(80, 60))},
                               data={"data": json.dumps({"site": 4})})
        assert response.status_code == 201, response.text
        record_id = response.json()["id"]
        response = client.get(f"/images/{record_id}/image", params={"w": 40, "format": "webp"},
                              headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/webp"
    return key, record_id


def descendants(receiver: Receiver, root: Span) -> list[Span]:
    """Every span whose chain of parents reaches `root`."""
    spans = receiver.by_id()
    below = []
    for span in receiver.spans:
        parent = spans.get(span.parent_id)
        while parent is not None and parent is not root:
            parent = spans.get(parent.parent_id)
        if parent is root:
            below.append(span)
    return below


def test_spans_of_requests_decode_render_store_and_catalog(receiver: Receiver,
                                                           tmp_path: Path) -> None:
    environ = server_environ(tmp_path, API_KEYS=f"{ADMIN_KEY}:admin",
                             OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
                             OTEL_BSP_SCHEDULE_DELAY="100")
    with serving(Launch(tmp_path, environ)) as [served]:
        key, record_id = upload_and_derive(served.url)
    # stopped: the server's exit flushed its last spans

    assert set(receiver.posts) == {"/v1/traces"}
    assert {span.service for span in receiver.spans} == {"imagehost"}
    [upload] = receiver.named("POST /upload")
    assert upload.parent_id == "" and upload.attributes["http.response.status_code"] == "200"
    under_upload = descendants(receiver, upload)
    names = {span.name for span in under_upload}
    assert {"image.decode", "image.render", "store.put", "catalog.records.save",
            "catalog.pending_writes.begin"} <= names, names
    assert all(span.trace_id == upload.trace_id for span in under_upload)
    # the route's code (FastAPI's span) calls the work pool, whose thread does the rest
    [endpoint] = [span for span in under_upload if span.name == "fastapi.endpoint"]
    assert endpoint.parent_id == upload.span_id
    for name in ("image.decode", "image.render", "catalog.records.save"):
        [span] = [s for s in under_upload if s.name == name]
        assert span.parent_id == endpoint.span_id, name
    puts = [span for span in under_upload if span.name == "store.put"]
    assert {span.attributes["imagehost.store"] for span in puts} == {"incoming"}
    assert key in {span.attributes["imagehost.key"] for span in puts}
    assert len(puts) >= 2  # the variants, then the original

    [derive] = receiver.named("GET /images/{record_id}/image")
    assert (derive.trace_id, derive.parent_id) == (TRACE_ID, CALLER_SPAN_ID)
    under_derive = descendants(receiver, derive)
    names = {span.name for span in under_derive}
    assert {"catalog.records.get", "store.get", "image.decode", "image.render"} <= names, names
    # the cache store missed, the source came from active
    gets = [(span.attributes["imagehost.store"], span.attributes["imagehost.key"])
            for span in under_derive if span.name == "store.get"]
    [derived_key] = [key for store, key in gets if store == "cache"]
    assert derived_key.startswith(f"derived/{record_id}/")
    assert "active" in {store for store, _ in gets}


def test_no_endpoint_no_exporter(receiver: Receiver, tmp_path: Path) -> None:
    """The exporter would send to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT were it made."""
    environ = server_environ(tmp_path, API_KEYS=f"{ADMIN_KEY}:admin",
                             OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{receiver.url}/v1/traces",
                             OTEL_BSP_SCHEDULE_DELAY="100")
    with serving(Launch(tmp_path, environ)) as [served]:
        upload_and_derive(served.url)
    assert receiver.posts == []


BLOCK_OTEL_SDK = '''
import importlib.abc, sys
class NoSdk(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoSdk())
'''


def test_an_endpoint_without_the_extra_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCK_OTEL_SDK)
    environ = server_environ(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                             PYTHONPATH=str(tmp_path / "blocker"))
    result = subprocess.run(imagehost_command("serve", "--port", str(free_port())), env=environ,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith("imagehost: this needs the otel extra"), lines[-1]
    assert "pip install 'imagehost[otel]'" in lines[-1]
