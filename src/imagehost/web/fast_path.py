"""Anonymous derived images of `GET /images/{id}/image`, answered before FastAPI's routing
and dependencies: on a hot key those cost several times the lookup itself, and on a miss
over a third of what the render from a step of the ladder costs.

The route and this layer call the same `serve_derived`, for the caller without a key. A
derivation is answered here, hit or miss; the original, variants, `meta` and `url` only from
memory (`memory_only`: a 304). Everything else goes on to the route, which gives the same
answer the slow way: a request with an Authorization header, an error (the route answers it
through the app's error handlers), and every render while RATE_LIMIT_RENDERS is on (the route
knows the client).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from imagehost.catalog.models import MAX_ID
from imagehost.errors import ImagehostError
from imagehost.service.access import identify
from imagehost.service.context import ServiceContext
from imagehost.service.derived import (
    IMAGE_PATH,
    ImageRequest,
    asks_for_derivation,
    serve_derived,
)
from imagehost.web.derived import image_response
from imagehost.web.metrics import Metrics

_SAFE = {"GET", "HEAD"}


class DerivedFastPath:
    def __init__(self, app: ASGIApp, ctx: ServiceContext, metrics: Metrics) -> None:
        self.app = app
        self.ctx = ctx
        self.metrics = metrics
        prefix = re.escape(ctx.settings.prefix)
        self.pattern = re.compile(rf"{prefix}/images/([1-9][0-9]{{0,18}})/image")
        self.route = SimpleNamespace(path=IMAGE_PATH)  # the label FastAPI gives it
        self.caller = identify(ctx.settings, None)
        self.renders = not ctx.rate_limits.renders.enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._request(scope) if scope["type"] == "http" else None
        answer = None
        if request is not None:
            render = self.renders and asks_for_derivation(request.params)
            try:
                answer = await serve_derived(self.ctx, request, memory_only=not render,
                                             write_behind=True)
            except ImagehostError:
                answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["path_params"] = {"record_id": request.record_id}
        await image_response(answer, self.metrics)(scope, receive, send)

    def _request(self, scope: Scope) -> ImageRequest | None:
        if scope["method"] not in _SAFE or not scope["query_string"]:
            return None
        match = self.pattern.fullmatch(scope["path"])
        if match is None or int(match[1]) > MAX_ID:
            return None
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            return None
        return ImageRequest(
            int(match[1]),
            parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True),
            headers.get(b"accept", b"").decode("latin-1"),
            headers.get(b"if-none-match", b"").decode("latin-1"), self.caller)
