"""Health of the catalog and each store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagehost.catalog.images import ImageCatalog
from imagehost.storage.base import Store


def check_health(catalog: ImageCatalog, stores: Mapping[str, Store]) -> dict[str, Any]:
    checks: dict[str, str] = {"catalog": _run(catalog.check)}
    for name, store in stores.items():
        checks[f"store.{name}"] = _run(store.check)
    healthy = all(value == "ok" for value in checks.values())
    return {"status": "ok" if healthy else "failing", "checks": checks}


def _run(check: Any) -> str:
    try:
        check()
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"
    return "ok"
