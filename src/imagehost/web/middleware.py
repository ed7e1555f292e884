"""Pure ASGI middleware: CORS on every response, a request body limit, request metrics, and a
last-resort JSON 500 (so even an unexpected error keeps its CORS headers)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehost.web.metrics import Metrics

log = logging.getLogger(__name__)

ALLOW_METHODS = "POST,GET,OPTIONS,PUT,PATCH,DELETE,HEAD"
ALLOW_HEADERS = "Origin, Content-Type, Accept, Authorization, If-None-Match"


class CorsMiddleware:
    """CORS on every response; OPTIONS on any path is a preflight answered here."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = set(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self._headers(_header(scope, b"origin"))
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [*headers, (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _headers(self, origin: str | None) -> list[tuple[bytes, bytes]]:
        if self.any_origin:
            allowed = "*"
        elif origin in self.origins:
            allowed = origin
        else:
            return [(b"vary", b"Origin")]
        headers = [(b"access-control-allow-origin", allowed.encode()),
                   (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                   (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                   (b"access-control-expose-headers", b"ETag, Content-Length, Retry-After"),
                   (b"access-control-max-age", b"1728000")]
        if not self.any_origin:
            headers.append((b"vary", b"Origin"))
        return headers


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413: by Content-Length up front, and by counting
    while streaming (chunked uploads); whatever the app was doing is replaced by the 413."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 by_path_suffix: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.by_path_suffix = by_path_suffix or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((size for suffix, size in self.by_path_suffix.items()
                      if scope["path"].endswith(suffix)), self.default_max_bytes)
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, "limit_exceeded", self._message(int(declared), limit))
            return
        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await send_json(send, 413, "limit_exceeded", self._message(received, limit))

    def _message(self, size: int, limit: int) -> str:
        return (f"The request body is at least {size} bytes; the limit "
                f"(max_upload_bytes, or import_max_bytes for /import, plus form overhead) "
                f"is {limit}.")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class ErrorMiddleware:
    """The last resort: an unexpected exception becomes a JSON 500 (logged with its trace)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await send_json(send, 500, "internal_error", "Internal server error.")


async def send_json(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
