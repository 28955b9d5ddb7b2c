"""The operator page in a real browser against a real server: a live room appears and
updates as people join and leave, the server's load shows, an alert is raised and
cleared, and End room (with a reason) ends the session for its members. Join links are
refused, and no display name ever reaches the page.

The room's people are real Socket.IO clients (quick, and they can drop on cue); their
connection figures are scripted on the real media plane (they send no media to measure).
Every wait is on a condition (Playwright's expect / wait_for_function), never a sleep.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import socketio
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from rooms import Role
from server.app_keys import MONITOR
from server.links import mint_operator_link
from server.sfu import RtpForwardingMediaPlane
from server.sfu.connection_quality import ConnectionQuality
from server.sfu.forwarding_stats import ForwardingTotals
from tests.browser.conftest import ARTIFACTS
from tests.conftest import Client, RunningServer, start_server, wait_until

pytestmark = pytest.mark.browser

ROOM = "tuesday-grief-group"
NAMES = ("Dr Facilitator", "Ana Example", "Ben Example", "Cleo Example")

# The operator page must never ask for a camera or open a peer connection: both are
# replaced by recorders before the page's own code runs.
_NO_MEDIA = """(() => {
  window.__mediaCalls = [];
  const note = (what) => window.__mediaCalls.push(what);
  if (navigator.mediaDevices) {
    navigator.mediaDevices.getUserMedia = async () => {
      note("getUserMedia");
      throw new Error("no");
    };
  }
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    note("RTCPeerConnection");
    return new Native(...args);
  };
})();"""

# Every WebSocket the page opens, and a switch that makes new ones fail (a network down).
_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__networkDown = false;
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      super(window.__networkDown ? "ws://127.0.0.1:9/unreachable" : url, ...rest);
      window.__sockets.push(this);
    }
  };
})();"""


def room_alerts(page: Page) -> Locator:
    """Active alerts about rooms and people, not the server's own load."""
    return page.get_by_role("list", name="Active alerts").locator(
        '[data-kind="facilitator_disconnected"], [data-kind="poor_connection"], '
        '[data-kind="room_overtime"]'
    )


def operator_token(server: RunningServer, *, ttl_s: int = 600, now: float | None = None) -> str:
    when = time.time() if now is None else now
    return mint_operator_link(server.signer, server.url, ttl_s=ttl_s, now=when).token


async def socket_join(
    server: RunningServer, role: Role, name: str, token: str | None = None
) -> Client:
    sio = socketio.AsyncClient(reconnection=False)
    client = Client(sio)

    async def record(event: str, data: Any = None) -> None:
        client.events.append((event, data))

    sio.on("*", record)
    await sio.connect(server.url, transports=["websocket"], wait_timeout=5)
    reply = await client.call("join", {"token": token or server.token(ROOM, role, name)})
    assert reply["ok"], reply
    client.participant_id = reply["snapshot"]["you"]["participant_id"]
    return client


OpenOperator = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_operator(browser: Browser) -> AsyncIterator[OpenOperator]:
    """Open the operator page with a token: ``await open_operator(server, token)``."""
    contexts: list[BrowserContext] = []

    async def opener(
        server: RunningServer, token: str, *, viewport: dict[str, int] | None = None
    ) -> Page:
        context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
        contexts.append(context)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.__dict__["errors"] = errors
        await page.add_init_script(_NO_MEDIA)
        await page.add_init_script(_SOCKETS)
        await page.goto(f"{server.url}/#operator={token}")
        return page

    yield opener
    for context in contexts:
        await context.close()


async def screenshot(page: Page, label: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky header where it belongs
    await page.screenshot(path=str(ARTIFACTS / f"{label}.png"), full_page=True)


async def assert_no_names_and_no_media(page: Page) -> None:
    text = await page.inner_text("body")
    html = await page.content()
    for secret in (*NAMES, ROOM):
        assert secret not in text and secret not in html, f"{secret!r} is on the operator page"
    assert await page.evaluate("window.__mediaCalls") == []
    assert page.__dict__["errors"] == []


def fact(region: Locator, name: str) -> Locator:
    return region.locator(f'[data-fact="{name}"]')


class ScriptedFigures(RtpForwardingMediaPlane):
    """The real media plane with the measurements scripted: the test decides each
    participant's connection figures (it has no media to measure) and the forwarding
    counters, so ratings, charts and a poor-connection alert can be shown on cue."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, ConnectionQuality] = {}
        self._packets = 0

    def connection_quality(self, room_id: str, participant_id: str) -> ConnectionQuality | None:
        figures = self.figures.get(participant_id)
        if figures is None:
            return None
        wobble = 1 + 0.15 * math.sin(time.time() / 4)  # so the chart has a shape
        return replace(
            figures,
            bitrate_up_kbps=figures.bitrate_up_kbps * wobble,
            bitrate_down_kbps=figures.bitrate_down_kbps * wobble,
        )

    def forwarding_totals(self) -> ForwardingTotals:
        self._packets += 850
        return ForwardingTotals(
            packets_in=self._packets // 3,
            packets_out=self._packets,
            bytes_out=self._packets * 1100,
            packets_dropped_by_mute=0,
            consumers=6,
        )


def figures(
    rtt_ms: float, loss_pct: float, up: float, down: float, candidate: str = "host"
) -> ConnectionQuality:
    return ConnectionQuality(
        rtt_ms=rtt_ms,
        jitter_ms=4.0,
        loss_up_pct=loss_pct,
        loss_down_pct=loss_pct / 2,
        bitrate_up_kbps=up,
        bitrate_down_kbps=down,
        candidate_type=candidate,
    )


GOOD = figures(35, 0.2, 320, 640)
POOR = figures(520, 7.5, 180, 400, "relay")


@pytest.fixture
async def scripted_server(
    tmp_path: Path, web_dist: Path
) -> AsyncIterator[tuple[RunningServer, ScriptedFigures]]:
    plane = ScriptedFigures()
    runner, running = await start_server(tmp_path, media_factory=lambda _: plane, web_dir=web_dist)
    yield running, plane
    await runner.cleanup()


async def test_an_operator_watches_a_live_room_and_ends_it(
    scripted_server: tuple[RunningServer, ScriptedFigures], open_operator: OpenOperator
) -> None:
    server, plane = scripted_server
    facilitator_token = server.token(ROOM, Role.FACILITATOR, NAMES[0])
    fac = await socket_join(server, Role.FACILITATOR, NAMES[0], facilitator_token)
    await fac.call("update_settings", {"auto_admit": True})
    ana = await socket_join(server, Role.MEMBER, NAMES[1])
    clients = [fac, ana]
    # The facilitator receives simulcast cameras: one at full size, three thumbnails, a
    # paused one; her own camera's top layer is unwanted; the server estimates her link.
    plane.figures[fac.participant_id or ""] = replace(
        figures(210, 0.5, 900, 640, "srflx"),
        video_layers_received={"q": 3, "h": 0, "f": 1, "single": 0},
        videos_paused={"hidden": 0, "bandwidth": 1},
        layers_published=["q", "h"],
        downlink_estimate_kbps=1400.0,
    )
    plane.figures[ana.participant_id or ""] = GOOD
    monitor = server.app[MONITOR]
    await wait_until(lambda: len(monitor.latest.rooms) == 1, timeout=10, what="a sampled room")
    room_ref = monitor.latest.rooms[0].room_ref

    page = await open_operator(server, operator_token(server))
    status = page.locator(".op-status")
    await expect(status).to_contain_text("Live · updated")
    room = page.get_by_role("region", name=room_ref, exact=True)
    await expect(room).to_be_visible()
    await expect(fact(room, "participants")).to_have_text("2")
    await expect(fact(room, "waiting")).to_have_text("0")
    await expect(fact(room, "facilitator")).to_have_text("present")
    await expect(room.get_by_role("columnheader", name="RTT")).to_be_visible()
    # Figures as the server rates them: the facilitator's 210 ms round trip is fair.
    fac_row = room.get_by_role("row").filter(has_text="facilitator")
    await expect(fac_row).to_contain_text("210 ms")
    await expect(fac_row).to_contain_text("fair")
    await expect(fac_row).to_contain_text("srflx")
    # Simulcast, per participant, without names: layers received, paused, sent, estimate.
    for header in ("Downlink estimate", "Video layers received", "Videos paused", "Layers sent"):
        await expect(room.get_by_role("columnheader", name=header)).to_be_visible()
    await expect(fac_row).to_contain_text("full 1, quarter 3")
    await expect(fac_row).to_contain_text("1 bandwidth")
    await expect(fac_row).to_contain_text("q h")
    await expect(fac_row).to_contain_text("1.4 Mbps")
    # No alert about this room (the test process itself may trip the server's CPU alert).
    await expect(room_alerts(page)).to_have_count(0)

    # Live: the update time moves on without a reload.
    first = await status.inner_text()
    await expect(status).not_to_have_text(first, timeout=5_000)

    # The server's load.
    server_panel = page.get_by_role("region", name="Server load")
    await expect(server_panel.locator('[data-fact="cpu"]')).to_contain_text("% of a core")
    await expect(server_panel.locator('[data-fact="memory"]')).to_contain_text("MiB")
    await expect(server_panel.locator('[data-fact="lag"]')).to_contain_text("ms")
    await expect(server_panel.locator('[data-fact="forwarded"]')).to_contain_text("packets/s")
    await expect(server_panel.locator('[data-fact="consumers"]')).to_have_text("6")
    await expect(server_panel.locator('[data-fact="rooms"]')).to_have_text("1")
    # The legend states the documented thresholds.
    legend = page.get_by_role("region", name="Connection quality")
    await expect(legend.get_by_role("row", name="Round-trip time")).to_contain_text("≤ 150 ms")

    # Someone joins: the count rises; their connection turns poor.
    ben = await socket_join(server, Role.MEMBER, NAMES[2])
    clients.append(ben)
    await expect(fact(room, "participants")).to_have_text("3")
    plane.figures[ben.participant_id or ""] = POOR
    poor_row = room.locator("tbody tr.op-row-poor")
    await expect(poor_row).to_have_count(1)
    await expect(poor_row).to_contain_text("520 ms")
    await expect(poor_row).to_contain_text("relay")
    # The chart: bitrate lines and a text alternative.
    await expect(room.locator(".op-series-up")).to_have_count(1)
    await expect(room.get_by_role("img")).to_have_accessible_name(
        re.compile(r"^Last .*bitrate up [\d.]+ [kM]bps now")
    )
    # Someone in the waiting room, then gone.
    await fac.call("update_settings", {"auto_admit": False})
    cleo = await socket_join(server, Role.MEMBER, NAMES[3])
    clients.append(cleo)
    await expect(fact(room, "waiting")).to_have_text("1")
    await cleo.call("leave", {})
    await expect(fact(room, "waiting")).to_have_text("0")

    # Filters and sorting.
    await page.get_by_role("checkbox", name="Only poor connections").check()
    await expect(room.locator("tbody tr")).to_have_count(1)
    await page.get_by_role("checkbox", name="Only poor connections").uncheck()
    await expect(room.locator("tbody tr")).to_have_count(3)
    sort = page.get_by_role("button", name="Sort by Participants")
    await sort.click()
    await expect(sort).to_have_attribute("aria-pressed", "true")
    search = page.get_by_role("searchbox", name="Filter by id")
    await search.fill("no-such-id")
    await expect(page.get_by_text("No room matches the filters.")).to_be_visible()
    await search.fill(room_ref[-6:].upper())
    await expect(room).to_be_visible()
    await search.fill("")

    # Sustained poor figures raise an alert naming the peer; it clears when they recover.
    peer_alert = page.get_by_role("list", name="Active alerts").locator(
        '[data-kind="poor_connection"]'
    )
    await expect(peer_alert).to_be_visible(timeout=20_000)
    await expect(peer_alert).to_contain_text(room_ref)
    await expect(peer_alert).to_contain_text("peer_")
    await expect(peer_alert).to_contain_text("packet loss 7.5 %")
    await screenshot(page, "op-01-poor-connection")
    plane.figures[ben.participant_id or ""] = GOOD
    await expect(peer_alert).to_be_hidden(timeout=10_000)
    await expect(poor_row).to_have_count(0)

    # The facilitator drops while members remain: an alert, prominently.
    await fac.sio.disconnect()
    raised = page.get_by_role("list", name="Active alerts").locator(
        '[data-kind="facilitator_disconnected"]'
    )
    await expect(raised).to_be_visible(timeout=15_000)
    await expect(raised).to_contain_text(room_ref)
    await expect(raised).to_contain_text("since")
    await expect(raised).to_contain_text("no facilitator is connected")
    await expect(page.get_by_role("heading", name="1 active alert")).to_be_visible()
    await expect(fact(room, "facilitator")).to_have_text("absent")
    await expect(room).to_contain_text("1 alert")
    await page.get_by_role("checkbox", name="Only rooms with alerts").check()
    await expect(room).to_be_visible()
    await screenshot(page, "op-02-facilitator-alert")
    narrow = await open_operator(
        server, operator_token(server), viewport={"width": 360, "height": 780}
    )
    await expect(narrow.get_by_role("region", name=room_ref, exact=True)).to_be_visible()
    await expect(narrow.get_by_role("list", name="Active alerts")).to_be_visible()
    assert await narrow.evaluate("document.documentElement.scrollWidth") <= 360
    await screenshot(narrow, "op-03-alert-360px")
    await page.get_by_role("checkbox", name="Only rooms with alerts").uncheck()

    # The facilitator comes back (same link): the alert clears.
    fac = await socket_join(server, Role.FACILITATOR, NAMES[0], facilitator_token)
    clients.append(fac)
    await expect(raised).to_be_hidden(timeout=15_000)
    # No alert about this room (the test process itself may trip the server's CPU alert).
    await expect(room_alerts(page)).to_have_count(0)
    await expect(fact(room, "facilitator")).to_have_text("present")
    await page.get_by_text(re.compile(r"Recently cleared \(\d+\)")).click()
    await expect(page.get_by_role("list", name="Recently cleared alerts")).to_contain_text(
        "facilitator_disconnected"
    )

    # End room, with a reason: the dialog asks for one first.
    await page.get_by_role("button", name=f"End room {room_ref}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"End room {room_ref}?")
    await expect(dialog).to_be_visible()
    confirm = dialog.get_by_role("button", name="End room", exact=True)
    await expect(confirm).to_be_disabled()
    reason = "Stuck room, cleared by on-call"
    await dialog.get_by_role("textbox", name="Reason (required)").fill(reason)
    await expect(confirm).to_be_enabled()
    await screenshot(page, "op-04-end-dialog")
    await confirm.click()
    notice = await ana.wait_for("session_ended", timeout=10)
    assert notice == {"ended_by": None, "reason": "ended_by_operator"}
    await expect(dialog).to_be_hidden()
    await expect(room).to_be_hidden(timeout=10_000)
    await expect(page.get_by_text("No live rooms.")).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="You ended")).to_contain_text(room_ref)
    audit = list(server.room(ROOM).audit)[-1]
    assert (audit.action, audit.reason) == ("end_session_by_operator", reason)
    await screenshot(page, "op-05-ended")

    await assert_no_names_and_no_media(page)
    await assert_no_names_and_no_media(narrow)
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


async def test_the_page_says_when_the_feed_drops_and_recovers(
    media_server: RunningServer, open_operator: OpenOperator
) -> None:
    page = await open_operator(media_server, operator_token(media_server))
    status = page.locator(".op-status")
    await expect(status).to_contain_text("Live · updated")
    await expect(page.get_by_role("region", name="Server load")).to_contain_text("% of a core")
    await page.evaluate("window.__networkDown = true; window.__sockets.forEach((s) => s.close())")
    await expect(status).to_contain_text("Disconnected, reconnecting")
    await expect(status).to_have_attribute("data-status", "reconnecting")
    await screenshot(page, "op-06-reconnecting")
    await page.evaluate("window.__networkDown = false")
    await expect(status).to_contain_text("Live · updated", timeout=15_000)
    await assert_no_names_and_no_media(page)


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FACILITATOR])
async def test_a_join_link_does_not_open_the_operator_page(
    media_server: RunningServer, open_operator: OpenOperator, role: Role
) -> None:
    page = await open_operator(media_server, media_server.token(ROOM, role, NAMES[0]))
    await expect(
        page.get_by_role("heading", name="This link does not open the operator page")
    ).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("Join links")
    await expect(page.get_by_role("alert")).to_contain_text("groupsession operator-token")
    await expect(page.locator("[data-refusal-code]")).to_have_text("invalid_token")
    await expect(page.get_by_role("region", name="Server load")).to_have_count(0)
    await screenshot(page, f"op-07-refused-{role.value}")
    await assert_no_names_and_no_media(page)


async def test_an_expired_operator_link_says_so(
    media_server: RunningServer, open_operator: OpenOperator
) -> None:
    expired = operator_token(media_server, ttl_s=60, now=time.time() - 3600)
    page = await open_operator(media_server, expired)
    await expect(page.get_by_role("heading", name="This operator link has expired")).to_be_visible()
    await expect(page.locator("[data-refusal-code]")).to_have_text("token_expired")
    await screenshot(page, "op-08-expired")
