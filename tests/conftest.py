"""Shared fixtures: settings on temporary folders, built services, an in-process client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imagehost.config import Settings, load_settings
from imagehost.web.app import build_services, create_app
from imagehost.web.state import Services

pytest_plugins = ["tests.services"]

SECRET = "good_secret"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on folders under tmp_path; keyword overrides use environment names/values."""

    def make(**environ: str) -> Settings:
        base = {
            "TEMP_FOLDER": str(tmp_path / "temp"),
            "INCOMING_FOLDER": str(tmp_path / "incoming"),
            "ACTIVE_FOLDER": str(tmp_path / "active"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'catalog.db'}",
            "API_SECRET_KEY": SECRET,
            "EXPIRE_INTERVAL": "0",
        }
        return load_settings(base | environ)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    yield svc
    svc.pool.shutdown()
    svc.catalog.engine.dispose()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """An in-process HTTP client for an app built with the given environment overrides."""
    clients: list[TestClient] = []

    def make(**environ: str) -> TestClient:
        client = TestClient(create_app(make_settings(**environ)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def files_under(root: Path) -> list[str]:
    """Every stored object under a local store root (its .tmp work area excluded)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and ".tmp" not in p.relative_to(root).parts)


def app_services(client: TestClient) -> Services:
    app: Any = client.app
    return app.state.services
