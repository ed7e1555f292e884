"""Pure ASGI middleware: CORS on every response, security headers, upload rate limits, a
request body limit, request metrics, and a last-resort JSON 500 (so even an unexpected error
keeps its CORS headers)."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from imagehost.logs import REQUEST_ID
from imagehost.service.context import ServiceContext
from imagehost.web.auth import rate_client
from imagehost.web.metrics import Metrics

log = logging.getLogger(__name__)
access = logging.getLogger("imagehost.access")

ALLOW_METHODS = "POST,GET,OPTIONS,PUT,PATCH,DELETE,HEAD"
ALLOW_HEADERS = "Origin, Content-Type, Accept, Authorization, If-None-Match"
CONNECTION_CLOSE = (b"connection", b"close")
CLOSE_DELAY_SECONDS = 1.0
"""How long a 413 waits, with the body unread, before its connection closes."""


class ForwardedMiddleware(ProxyHeadersMiddleware):
    """Behind a proxy in FORWARDED_ALLOW_IPS: X-Forwarded-For is the client, X-Forwarded-Proto
    the scheme (uvicorn's own handling), and X-Forwarded-Host the host the client asked for, so
    that URLs built from the request (temporary /files URLs) are the ones the client can use.
    Applied in the app, so every way of running it behaves the same."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client and client[0] in self.trusted_hosts:
            forwarded = _header(scope, b"x-forwarded-host")
            if forwarded:
                host = forwarded.split(",")[0].strip().encode("latin-1")
                scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + \
                    [(b"host", host)]
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]


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
                   (b"access-control-expose-headers",
                    b"ETag, Content-Length, Retry-After, X-Request-ID"),
                   (b"access-control-max-age", b"1728000")]
        if not self.any_origin:
            headers.append((b"vary", b"Origin"))
        return headers


NOSNIFF = (b"x-content-type-options", b"nosniff")
SVG_POLICY = (b"content-security-policy",
              b"default-src 'none'; style-src 'unsafe-inline'; sandbox")
SVG_TYPE = b"image/svg+xml"


class SecurityHeadersMiddleware:
    """`X-Content-Type-Options: nosniff` on every answer, so browsers take each body for the
    type it declares; every SVG answer also gets a Content-Security-Policy that loads nothing
    and runs no script, so an SVG opened from this origin cannot act for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                for name, value in headers:
                    if name == b"content-type":
                        if value.startswith(SVG_TYPE):
                            message["headers"] = [*headers, NOSNIFF, SVG_POLICY]
                            await send(message)
                            return
                        break
                message["headers"] = [*headers, NOSNIFF]
            await send(message)

        await self.app(scope, receive, secured_send)


class UploadRateLimitMiddleware:
    """RATE_LIMIT_UPLOADS: every upload (POST /upload, POST /images and /images/<path>, PUT
    of an image on /images/<ref>, POST /import) takes one from its client's bucket; over the
    rate, 429 with Retry-After, before the body is read."""

    def __init__(self, app: ASGIApp, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx
        prefix = ctx.settings.prefix
        self.post_paths = {f"{prefix}/upload", f"{prefix}/images", f"{prefix}/import"}
        self.records_path = f"{prefix}/images/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_upload(scope):
            limit = self.ctx.rate_limits.uploads
            wait = limit.wait(rate_client(self.ctx.settings, _header(scope, b"authorization"),
                                          scope.get("client")))
            if wait:
                refusal = limit.refusal(wait)
                await send_json(send, refusal.status, refusal.code, refusal.message,
                                [(b"retry-after", str(refusal.retry_after).encode())])
                return
        await self.app(scope, receive, send)

    def _is_upload(self, scope: Scope) -> bool:
        method, path = scope["method"], scope["path"]
        if method == "POST":
            return path in self.post_paths or path.startswith(self.records_path)
        if method == "PUT" and path.startswith(self.records_path):
            content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
            return not (content_type == "application/json" or content_type.endswith("+json"))
        return False


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413: by Content-Length up front, and by counting
    while streaming (chunked uploads); whatever the app was doing is replaced by the 413.

    It also sees that an answer given before the body has all arrived reaches the client.
    uvicorn drops a body left unread once the answer is complete, but when it does not keep
    the connection (the client asked `Connection: close`, HTTP/1.0, shutdown) it closes the
    socket right after the answer: with body bytes still unread the kernel sends a reset,
    which can destroy the answer before the client reads it. So:
    - an answer started while the body (within the limit) is still arriving waits until the
      rest has been read and dropped; the connection stays usable;
    - a body over the limit, declared or counted (also while dropping the rest), gets a 413
      with `Connection: close`; nothing more is read, and the socket is closed `close_delay`
      seconds after the answer, by which time a client that stops writing on an answer (as
      curl and browsers do) has read it;
    - a client that sent `Expect: 100-continue` and was not asked for its body yet has not
      sent it: the answer goes out at once, with `Connection: close`.
    Requests without a body (no Content-Length, no Transfer-Encoding) pass straight through.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 by_path_suffix: dict[str, int] | None = None,
                 close_delay: float = CLOSE_DELAY_SECONDS) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.by_path_suffix = by_path_suffix or {}
        self.close_delay = close_delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        chunked = expect = False
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                chunked = True
            elif key == b"expect":
                expect = value.lower() == b"100-continue"
        # HTTP/1 sends a body only under Content-Length or Transfer-Encoding; HTTP/2 may send
        # one under neither, though not with a GET or a HEAD
        bodyless = length == b"0" if length is not None else not chunked and (
            scope.get("http_version") != "2" or scope["method"] in ("GET", "HEAD"))
        if bodyless:
            await self.app(scope, receive, send)
            return
        await self._guard(scope, receive, send, length, expect)

    async def _guard(self, scope: Scope, receive: Receive, send: Send, length: bytes | None,
                     expect: bool) -> None:
        limit = next((size for suffix, size in self.by_path_suffix.items()
                      if scope["path"].endswith(suffix)), self.default_max_bytes)
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send, int(length), limit, unread=not expect)
            return
        received = 0
        more = True  # body still to come
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, more, exceeded, expect
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            expect = False  # asked for: uvicorn has sent 100 Continue
            if message["type"] != "http.request":
                more = False
                return message
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
            if received > limit:
                exceeded = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return
            if more and not started:  # an answer before the whole body
                if expect:
                    message["headers"] = [*message.get("headers", ()), CONNECTION_CLOSE]
                else:
                    while more and not exceeded:
                        await counting_receive()
                    if exceeded:
                        return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not (exceeded or started or expect):
                # drop the rest of the body, so the 500 that follows reaches the client
                while more and not exceeded:
                    await counting_receive()
                if exceeded:
                    log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send, received, limit, unread=more)

    async def _refuse(self, send: Send, size: int, limit: int, *, unread: bool) -> None:
        """413 with Connection: close; with body bytes still unread, the socket closes (the
        answer completes) only after `close_delay`, so the client has read the answer when
        the kernel resets the connection for the unread bytes."""
        body = json.dumps({"error": "limit_exceeded",
                           "message": self._message(size, limit)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                CONNECTION_CLOSE]})
        await send({"type": "http.response.body", "body": body, "more_body": unread})
        if unread:
            await asyncio.sleep(self.close_delay)
            await send({"type": "http.response.body", "body": b""})

    def _message(self, size: int, limit: int) -> str:
        return (f"The request body is at least {size} bytes; the limit "
                f"(max_upload_bytes, or import_max_bytes for /import, plus form overhead) "
                f"is {limit}.")


class MetricsMiddleware:
    """Per request: an id (the client's X-Request-ID when it sends a sane one), echoed in the
    answer and in every log line meanwhile; the metrics; one access log line. The duration
    ends with the answer's last byte, not with work the app does after it (cache writes)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        finished = 0.0
        status = 500
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        id_header = (b"x-request-id", request_id.encode())

        async def recording_send(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            elif not message.get("more_body", False):
                finished = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            seconds = (finished or time.perf_counter()) - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(seconds)
            if self.access_log:
                _log_access(scope, method, status, seconds, request_id)
            REQUEST_ID.reset(token)


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    if given and len(given) <= 128 and given.isprintable() and " " not in given:
        return given
    return secrets.token_hex(8)


def _log_access(scope: Scope, method: str, status: int, seconds: float,
                request_id: str) -> None:
    client = scope.get("client")
    path = scope["path"]
    record_id = scope.get("path_params", {}).get("record_id")
    if isinstance(record_id, str):
        record_id = int(record_id) if record_id.isdigit() else None
    access.info('%s "%s %s" %d %.1fms', f"{client[0]}:{client[1]}" if client else "-", method,
                path, status, seconds * 1000,
                extra={"method": method, "path": path, "status": status,
                       "duration_ms": round(seconds * 1000, 2), "request_id": request_id,
                       "record_id": record_id})


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


async def send_json(send: Send, status: int, code: str, message: str,
                    headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
