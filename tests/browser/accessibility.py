"""axe-core in a page, for the accessibility tests.

The page's Content-Security-Policy forbids inline scripts, so axe is not added as a
<script> element: its source runs through the DevTools protocol (Runtime.evaluate),
as Playwright's own evaluate does, which a page's CSP does not govern. The CSP watch
of tests/browser/conftest.py would report any violation this caused.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from tests.browser.conftest import WEB_CLIENT

AXE_SOURCE = WEB_CLIENT / "node_modules" / "axe-core" / "axe.min.js"

# The impacts that fail a screen.
BLOCKING = ("serious", "critical")

_RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}"""


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    has_axe = await page.evaluate("() => typeof window.axe !== 'undefined'")
    if not has_axe:
        session = await page.context.new_cdp_session(page)
        try:
            await session.send(
                "Runtime.evaluate", {"expression": AXE_SOURCE.read_text(), "returnByValue": True}
            )
        finally:
            await session.detach()
    found: list[dict[str, Any]] = await page.evaluate(_RUN_AXE)
    return [v for v in found if v["impact"] in BLOCKING]


async def assert_accessible(page: Page, screen: str) -> None:
    violations = await axe_violations(page)
    assert violations == [], (
        f"{screen}: axe-core found serious or critical problems:\n"
        + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
            for v in violations
        )
    )
