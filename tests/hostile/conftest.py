"""The corpus modules' server: one `imagehost serve` per module (harness.start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile.harness import HostileServer, start


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileServer]:
    yield from start(tmp_path_factory.mktemp("hostile"))
