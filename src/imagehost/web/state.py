"""What the routers take from the app: the service context (built once by imagehost.runtime)
and the metrics, as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from imagehost.service.context import ServiceContext
from imagehost.web.metrics import Metrics


def install(app: FastAPI, ctx: ServiceContext, metrics: Metrics) -> None:
    app.state.ctx = ctx
    app.state.metrics = metrics


# Async, so that FastAPI calls them on the loop instead of handing them to a thread.
async def context(request: Request) -> ServiceContext:
    return request.app.state.ctx


async def metrics(request: Request) -> Metrics:
    return request.app.state.metrics


ContextDep = Annotated[ServiceContext, Depends(context)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
