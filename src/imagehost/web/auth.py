"""Bearer keys: the caller's scopes, from API_KEYS and API_SECRET_KEY."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagehost.errors import Unauthorized
from imagehost.service.access import Caller, identify
from imagehost.web.state import ContextDep

bearer = HTTPBearer(auto_error=False, description="An API key: API_SECRET_KEY or one of "
                                                  "API_KEYS, with scopes read, write, admin.")


async def caller(request: Request, ctx: ContextDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(bearer)] = None) -> Caller:
    if credentials is None and request.headers.get("authorization"):
        raise Unauthorized("Use Authorization: Bearer <key>.")
    return identify(ctx.settings, credentials.credentials if credentials else None)


CallerDep = Annotated[Caller, Depends(caller)]


def writer(caller: CallerDep) -> Caller:
    caller.require("write")
    return caller


WriterDep = Annotated[Caller, Depends(writer)]
