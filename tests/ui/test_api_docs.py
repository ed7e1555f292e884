"""/docs in a real browser with no internet: Debian's Chromium (the page tests' fixtures) may
reach loopback only, and Swagger UI, served by imagehost itself, must still render every
operation of the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Route, expect

from tests.kit.serve import Launch, Served, server_environ, serving
from tests.ui.conftest import keep_screenshot

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("docs-server")
    with serving(Launch(root, server_environ(root, EXPIRE_INTERVAL="0"))) as [server]:
        yield server


def test_docs_render_every_operation_with_only_loopback(browser: BrowserContext, served: Served,
                                                        tmp_path: Path) -> None:
    document = httpx.get(f"{served.url}/openapi.json").json()
    summaries = [operation["summary"] for item in document["paths"].values()
                 for operation in item.values()]
    blocked: list[str] = []
    loaded: list[str] = []

    def loopback_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK:
            loaded.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    page = browser.new_page()
    try:
        page.route("**/*", loopback_only)
        page.goto(f"{served.url}/docs")
        operations = page.locator(".opblock")
        expect(operations).to_have_count(len(summaries))
        expect(page.locator(".opblock-tag", has_text="derived images")).to_be_visible()
        for summary in ("List records", "Upload an image with data", "Image"):
            expect(page.locator(".opblock-summary-description", has_text=summary)
                   .first).to_be_visible()
        shown = page.locator(".opblock-summary-description").all_inner_texts()
        assert sorted(shown) == sorted(summaries)
        page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=False)
        keep_screenshot(tmp_path / "api-docs.png")
    finally:
        page.close()
    assert blocked == []
    assert any(url.endswith("/openapi.json") for url in loaded)
    assert any(url.endswith("swagger-ui-bundle.js") for url in loaded)
