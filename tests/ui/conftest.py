"""The browser of the page tests: Debian's Chromium driven by Playwright for Python.

Playwright's own browser download cannot work here, so Chromium comes from the Debian package
(scripts/services/chromium.sh installs it when missing, as the service scripts install theirs)
and is launched by path, headless, with a fresh profile per module."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "services" / "chromium.sh"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
UPDATE_SCREENSHOTS = "IMAGEHOST_UPDATE_SCREENSHOTS"
"""Set to 1 to copy the screenshots the tests take to docs/screenshots (make screenshots)."""


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        result = subprocess.run([str(INSTALLER), "install"], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=900)
        if result.returncode != 0 or not CHROMIUM.exists():
            message = f"Chromium is missing and could not be installed:\n{result.stderr[-2000:]}"
            if os.environ.get("IMAGEHOST_REQUIRE_SERVICES"):
                pytest.fail(message)
            pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """A browser context (one fresh profile) for the module; each test opens its own pages,
    so each has its own sessionStorage."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(chromium_path), args=CHROMIUM_ARGS,
            headless=True, viewport={"width": 1280, "height": 900}, locale="en-GB",
            timezone_id="UTC")
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


def keep_screenshot(path: Path) -> None:
    """Copies a screenshot to docs/screenshots when IMAGEHOST_UPDATE_SCREENSHOTS is set."""
    if os.environ.get(UPDATE_SCREENSHOTS):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)
