"""Browser fixtures: one headless Chromium for the session, and a fresh ComfyUI tab per test.

Chromium comes from Debian (`make test` installs it as root). Where it cannot be installed (no root, no apt) the
browser tests skip and say why; in CI (CI=true) a missing browser is a failure, so the web code is never silently
untested there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from harness.browser import ComfyPage, chromium_missing_reason, launch_chromium
from harness.comfy_server import ComfyServer


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def comfy_page(browser: Browser, comfy_server: ComfyServer) -> Iterator[ComfyPage]:
    """Requests the browser first, so a skip for a missing Chromium comes before the server starts."""
    page = ComfyPage.open(browser, comfy_server.url)
    yield page
    page.close()
