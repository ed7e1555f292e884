"""Environments for imagehost on a test's own folders: nothing ever lands in ./var."""

from __future__ import annotations

import os
from pathlib import Path

from imagehost.config import CONFIG_FILE_VARIABLE, Settings

SECRET = "good_secret"


def clean_environ(**overrides: str) -> dict[str, str]:
    """The process environment without any imagehost setting (BROKER_URL included, so a job
    never goes to Celery by accident), plus `overrides`."""
    ours = {name.upper() for name in Settings.model_fields} | {CONFIG_FILE_VARIABLE}
    base = {k: v for k, v in os.environ.items() if k not in ours}
    return base | {"EXPIRE_INTERVAL": "0", "PYTHONUNBUFFERED": "1"} | overrides


def local_settings(root: Path) -> dict[str, str]:
    """Every folder imagehost writes to, under `root`, and a SQLite catalog there: the
    settings of a test (environment names and values)."""
    return {
        "STORAGE_BACKEND": "local",
        "TEMP_FOLDER": str(root / "temp"),
        "INCOMING_FOLDER": str(root / "incoming"),
        "ACTIVE_FOLDER": str(root / "active"),
        "CACHE_FOLDER": str(root / "cache"),
        "DISK_CACHE_FOLDER": str(root / "derived"),
        "DATABASE_URL": f"sqlite:///{root / 'catalog.db'}",
        "EXPIRE_INTERVAL": "0",
    }


def local_environ(root: Path, **overrides: str) -> dict[str, str]:
    """A subprocess environment: clean, local stores and catalog under `root`."""
    return clean_environ(**(local_settings(root) | overrides))
