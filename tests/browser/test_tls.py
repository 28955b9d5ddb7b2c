"""The web client over HTTPS: a self-signed certificate trusted for this test only
(Chromium's --ignore-certificate-errors-spki-list names its key; nothing else about
certificates is relaxed), the security headers on, Socket.IO over wss, media flowing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, WebSocket, async_playwright, expect

from rooms import Role
from server.app import default_media
from tests.browser.conftest import (
    OpenPage,
    fail_on_csp_violations,
    launch_chromium,
    participant_ids,
)
from tests.browser.test_group_session import join, plays_video_of
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer, start_server
from tests.self_signed import Certificate, make_certificate

pytestmark = pytest.mark.browser


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path / "tls")


@pytest.fixture
async def browser(chromium_path: str, certificate: Certificate) -> AsyncIterator[Browser]:
    trust = f"--ignore-certificate-errors-spki-list={certificate.spki_sha256}"
    async with async_playwright() as playwright:
        launched, violations = await launch_chromium(playwright, chromium_path, [trust])
        yield launched
        await launched.close()
        fail_on_csp_violations(violations)


@pytest.fixture
async def media_server(
    tmp_path: Path, web_dist: Path, certificate: Certificate
) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(
        tmp_path,
        media_factory=default_media,
        web_dir=web_dist,
        tls_cert=certificate.cert,
        tls_key=certificate.key,
    )
    yield running
    await runner.cleanup()


async def test_a_session_over_https(media_server: RunningServer, open_page: OpenPage) -> None:
    assert media_server.url.startswith("https://")
    room = "secure-room"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    sockets: list[WebSocket] = []
    fay.page.on("websocket", lambda socket: sockets.append(socket))
    response = await fay.page.reload()
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await admitted(fay, anna)
    assert sockets and all(s.url.startswith("wss://127.0.0.1:") for s in sockets), [
        s.url for s in sockets
    ]
    await expect(fay.page.get_by_role("region", name="Anna", exact=True)).to_be_visible()
    ids = await participant_ids(fay.page)
    await plays_video_of(anna, fay, ids["Fay"])
