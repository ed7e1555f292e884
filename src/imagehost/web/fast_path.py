"""Memory-tier hits of `GET /images/{id}/image`, answered before FastAPI's routing and
dependencies: on a hot key those cost several times the lookup itself.

A request takes this path only when everything it needs is already in process: the record in
the record cache and the bytes in the memory tier (or an If-None-Match that matches). Anything
else (no record cached, a miss, an error, meta, url, variant, an Authorization header) goes on
to the route, which gives the same answer the slow way. Requests that may write clear the
record cache once they are done, and a record read before such a clear is not kept, so this
process never serves a record it changed once the write has answered.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from imagehost.catalog.filters import MAX_ID
from imagehost.errors import ImagehostError
from imagehost.web.derived import served_from_memory
from imagehost.web.state import Services

_SAFE = {"GET", "HEAD", "OPTIONS"}
ROUTE = "/images/{record_id}/image"


class DerivedHitMiddleware:
    def __init__(self, app: ASGIApp, svc: Services) -> None:
        self.app = app
        self.svc = svc
        prefix = re.escape(svc.settings.prefix)
        self.pattern = re.compile(rf"{prefix}/images/([1-9][0-9]{{0,18}})/image")
        self.route = SimpleNamespace(path=ROUTE)  # the label FastAPI gives it, prefix or not

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in _SAFE:
            try:
                await self.app(scope, receive, send)
            finally:
                self.svc.record_cache.clear()
            return
        response = self._hit(scope)
        if response is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        await response(scope, receive, send)

    def _hit(self, scope: Scope) -> Response | None:
        if scope["method"] == "OPTIONS" or not scope["query_string"]:
            return None
        match = self.pattern.fullmatch(scope["path"])
        if match is None or int(match[1]) > MAX_ID:
            return None
        record = self.svc.record_cache.get(int(match[1]))
        if record is None:
            return None
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            return None
        params = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        try:
            return served_from_memory(
                self.svc, record, params, headers.get(b"accept", b"").decode("latin-1"),
                headers.get(b"if-none-match", b"").decode("latin-1"))
        except ImagehostError:
            return None
