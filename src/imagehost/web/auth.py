"""Bearer keys: the caller's scopes, from API_KEYS and API_SECRET_KEY."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagehost.config import Settings
from imagehost.errors import Unauthorized
from imagehost.service.access import Caller, identify
from imagehost.service.rate_limits import client_of
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


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def rate_client(settings: Settings, authorization: str | None,
                client: tuple[str, int] | list[str] | None) -> str:
    """Who a rate limit counts this request against: its API key, else its address (the
    one a trusted proxy forwards; uvicorn puts it in the ASGI scope)."""
    return client_of(settings, bearer_key(authorization), client[0] if client else None)
