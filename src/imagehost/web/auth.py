"""Bearer keys with scopes for the records API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imagehost.errors import Forbidden, Unauthorized
from imagehost.web.state import Services, services

bearer = HTTPBearer(auto_error=False, description="An API key: API_SECRET_KEY or one of "
                                                  "API_KEYS, with scopes read, write, admin.")


@dataclass(frozen=True)
class Caller:
    scopes: frozenset[str]

    @property
    def anonymous(self) -> bool:
        return not self.scopes

    def can(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if self.anonymous:
            raise Unauthorized(f"This needs an API key with the {scope!r} scope "
                               "(Authorization: Bearer <key>).")
        if not self.can(scope):
            raise Forbidden(f"This API key lacks the {scope!r} scope.")


async def caller(request: Request, svc: Annotated[Services, Depends(services)],
                 credentials: Annotated[HTTPAuthorizationCredentials | None,
                                        Depends(bearer)] = None) -> Caller:
    if credentials is None:
        if request.headers.get("authorization"):
            raise Unauthorized("Use Authorization: Bearer <key>.")
        return Caller(frozenset())
    scopes = svc.settings.scopes_of(credentials.credentials)
    if not scopes:
        raise Unauthorized("Unknown API key.")
    return Caller(scopes)


CallerDep = Annotated[Caller, Depends(caller)]


def writer(caller: CallerDep) -> Caller:
    caller.require("write")
    return caller


def reader(caller: CallerDep) -> Caller:
    caller.require("read")
    return caller
