"""Health of the catalog, each store and the work pool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import imagehost
from imagehost.imaging.formats import OUTPUT_FORMATS, UPLOAD_FORMATS
from imagehost.imaging.render import libvips_version
from imagehost.service.context import ServiceContext


def check_health(ctx: ServiceContext) -> dict[str, Any]:
    checks: dict[str, str] = {"catalog": _run(ctx.records.check)}
    for name, store in ctx.stores.named().items():
        checks[f"store.{name}"] = _run(store.check)
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks,
            "pool": {"in_flight": ctx.pool.in_flight, "capacity": ctx.pool.capacity}}


def version_info() -> dict[str, Any]:
    return {"version": imagehost.__version__, "libvips": libvips_version(),
            "formats": {"upload": [f.value for f in UPLOAD_FORMATS],
                        "output": [f.value for f in OUTPUT_FORMATS]}}


def _run(check: Callable[[], Any]) -> str:
    try:
        check()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "ok"
