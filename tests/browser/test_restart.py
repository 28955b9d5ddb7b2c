"""A server restart in real browsers: `groupsession serve --redis-url` is killed
mid-session and started again; the web client reconnects and rejoins on its own,
nobody goes back to the waiting room, a raised hand is still up, and video flows
again. Real processes, a real Redis, headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from rooms import Role
from tests.browser.conftest import OpenPage, participant_ids
from tests.browser.test_group_session import join, wait_until_rises
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess

pytestmark = pytest.mark.browser

ROOM = "restart-browser"
BACK_TIMEOUT_MS = 60_000  # a reconnect backs off up to 4 s; the rest is a loaded machine


async def test_the_web_client_comes_back_after_a_restart(
    tmp_path: Path, redis_server: RedisServer, web_dist: Path, open_page: OpenPage
) -> None:
    server = ServerProcess(
        tmp_path / "node",
        redis_url=redis_server.url,
        extra_env={"GROUPSESSION_WEB_DIR": str(web_dist)},
    )
    await server.start()
    try:
        fay = await open_page(server, ROOM, Role.FACILITATOR, "Fay")  # type: ignore[arg-type]
        await join(fay)
        anna = await open_page(server, ROOM, Role.MEMBER, "Anna")  # type: ignore[arg-type]
        await join(anna)
        await fay.page.get_by_role("button", name="Admit Anna", exact=True).click()
        await anna.page.get_by_role("button", name="Raise hand", exact=True).click()
        await expect(anna.page.get_by_role("button", name="Lower hand", exact=True)).to_be_visible()
        ids = await participant_ids(fay.page)
        await wait_until_rises(fay.page, ids["Anna"], "video", "framesDecoded", 10)

        server.kill()
        await server.start()

        for person in (fay, anna):
            await person.page.wait_for_function(
                "() => { const s = window.groupsession.state();"
                " return s.connection === 'connected' && s.phase === 'in_room'; }",
                timeout=BACK_TIMEOUT_MS,
                polling=250,
            )
        # Anna was admitted: she is back in the room, not in the waiting room, her hand up.
        await expect(anna.page.get_by_role("button", name="Lower hand", exact=True)).to_be_visible()
        await expect(fay.page.get_by_role("list", name="Raised hands")).to_contain_text("Anna")
        # Media was negotiated again: Fay's page decodes Anna's video afresh.
        await wait_until_rises(fay.page, ids["Anna"], "video", "framesDecoded", 10)
    finally:
        server.kill()
