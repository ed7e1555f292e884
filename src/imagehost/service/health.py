"""Health of the catalog, each store and the work pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagehost.service.context import ServiceContext


def check_health(ctx: ServiceContext) -> dict[str, Any]:
    checks: dict[str, str] = {"catalog": _run(ctx.records.check)}
    for name, store in ctx.stores.named().items():
        checks[f"store.{name}"] = _run(store.check)
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks,
            "pool": {"in_flight": ctx.pool.in_flight, "capacity": ctx.pool.capacity}}


def _run(check: Callable[[], Any]) -> str:
    try:
        check()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "ok"
