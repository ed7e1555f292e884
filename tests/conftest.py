"""Shared fixtures: settings on the test's own folders, the service context, in-process
clients. The real servers are in kit/servers.py, subprocess helpers in kit/serve.py and
kit/cli.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imagehost.config import Settings, load_settings
from imagehost.runtime import open_context
from imagehost.service.context import ServiceContext
from imagehost.web.app import create_app
from tests.kit.environ import SECRET, local_settings

pytest_plugins = ["tests.kit.servers"]

__all__ = ["SECRET", "app_context", "files_under"]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on folders under tmp_path; keyword overrides use environment names/values."""

    def make(**environ: str) -> Settings:
        return load_settings(local_settings(tmp_path) | {"API_SECRET_KEY": SECRET} | environ)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    """The service context the runtime builds for `settings`."""
    with open_context(settings) as context:
        yield context


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


def app_context(client: TestClient) -> ServiceContext:
    app: Any = client.app
    return app.state.ctx
