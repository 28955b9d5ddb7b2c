"""The CSP watcher that every browser test runs under catches what the policy blocks:
without this, a quiet watcher could mean a broken watcher rather than a clean page."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.browser.conftest import launch_chromium
from tests.conftest import RunningServer, wait_until

pytestmark = pytest.mark.browser


async def test_the_watcher_reports_a_blocked_inline_script(
    media_server: RunningServer, chromium_path: str
) -> None:
    async with async_playwright() as playwright:
        browser, violations = await launch_chromium(playwright, chromium_path)
        try:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(media_server.url + "/")
            assert violations == []
            await page.evaluate(
                """() => {
                  const script = document.createElement("script");
                  script.textContent = "window.injected = true";
                  document.head.appendChild(script);
                }"""
            )
            await wait_until(lambda: bool(violations), what="a reported violation")
            assert "script-src-elem blocked inline" in violations[0]
            assert await page.evaluate("window.injected") is None
            recorded = await page.evaluate("window.__cspViolations")
            assert recorded and "script-src" in recorded[0]
        finally:
            await browser.close()
