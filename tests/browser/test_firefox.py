"""A member in Firefox (Debian's firefox-esr over WebDriver BiDi) and a facilitator in
Chromium: they see and hear each other, and the facilitator's mute holds for Firefox.

Firefox hides its host addresses behind mDNS names (….local) and signals
end-of-candidates. Here, on one machine, Firefox's own mDNS responder could answer
for them; a server on another network never can, so the server ignores them and
pairs with the peer-reflexive candidates her connectivity checks reveal
(docs/media-plane.md, "ICE"): the test checks her SDP named only mDNS hosts and the
server's selected pairs are peer-reflexive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import expect

from rooms import Role
from server.app_keys import MEDIA
from server.sfu import RtpForwardingMediaPlane
from server.sfu import aiortc_internals as internals
from tests.browser.conftest import (
    _CSP_WATCH,
    MEDIA_TIMEOUT_MS,
    OpenPage,
    participant_ids,
    wait_for_async,
)
from tests.browser.firefox import Firefox, FirefoxPage, launch_firefox, prepare_driver
from tests.browser.test_group_session import _INBOUND, _STOPS, join, wait_until_rises
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def firefox_node() -> str:
    return prepare_driver()


@pytest.fixture
async def firefox(firefox_node: str) -> AsyncIterator[Firefox]:
    async with launch_firefox(firefox_node) as running:
        yield running


# Keeps the page's peer connections, so the test can read the candidates Firefox sent.
_KEEP_PEER_CONNECTIONS = """
window.__pcs = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Native {
  constructor(...args) {
    super(...args);
    window.__pcs.push(this);
  }
};
"""

# The host candidates of every kept connection's local description, and end-of-candidates.
_SENT_CANDIDATES = """
window.__pcs.map((pc) => (pc.localDescription?.sdp ?? "").split("\\r\\n")
  .filter((l) => l.startsWith("a=candidate:") || l === "a=end-of-candidates"))
"""


def _rises(pid: str, kind: str, field: str, rise: int) -> str:
    """A function for wait_for: true once the counter has risen by ``rise`` from its
    first reading (as test_group_session's _RISES, for a page without Playwright)."""
    key = json.dumps(f"rise:{pid}:{kind}:{field}")
    return f"""async () => {{
      const stats = await window.groupsession.inboundStats();
      const entry = stats[{json.dumps(pid)}] && stats[{json.dumps(pid)}][{json.dumps(kind)}];
      const now = entry ? entry[{json.dumps(field)}] : 0;
      if (window[{key}] === undefined) window[{key}] = now;
      return now > 0 && now - window[{key}] >= {rise};
    }}"""


async def _join_in_firefox(page: FirefoxPage) -> None:
    # The device check: the fake camera plays in the preview before Join is offered.
    await page.wait_for(
        "() => document.querySelector('.preview video')?.videoWidth > 0", timeout_ms=20_000
    )
    await page.click_button("Join", timeout_ms=20_000)


async def test_a_firefox_member_and_a_chromium_facilitator_see_and_hear_each_other(
    media_server: RunningServer, open_page: OpenPage, firefox: Firefox
) -> None:
    room = "firefox-room"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    token = media_server.token(room, Role.MEMBER, "Fiona")
    scripts = (_CSP_WATCH, _KEEP_PEER_CONNECTIONS)
    fiona = await firefox.open(f"{media_server.url}/#token={token}", init_scripts=scripts)
    await _join_in_firefox(fiona)
    await fay.page.get_by_role("button", name="Admit Fiona", exact=True).click()
    await fiona.click_button("Mute microphone", timeout_ms=20_000)  # proves she is in…
    await fiona.click_button("Unmute microphone", timeout_ms=20_000)  # …and can act
    ids = await participant_ids(fay.page)

    # Chromium receives Firefox's video and audio, decoded and rising.
    tile = fay.page.get_by_role("region", name="Fiona", exact=True)
    await expect(tile.locator("video")).to_have_count(1)
    await wait_until_rises(fay.page, ids["Fiona"], "video", "framesDecoded", 10)
    await wait_until_rises(fay.page, ids["Fiona"], "audio", "packetsReceived", 20)
    # Firefox receives Chromium's.
    await fiona.wait_for(_rises(ids["Fay"], "video", "framesDecoded", 10), MEDIA_TIMEOUT_MS)
    await fiona.wait_for(_rises(ids["Fay"], "audio", "packetsReceived", 20), MEDIA_TIMEOUT_MS)
    await fiona.wait_for(
        "() => [...document.querySelectorAll('video')].some((v) => v.videoWidth > 0"
        " && !v.closest('.preview'))",
        MEDIA_TIMEOUT_MS,
    )

    # The facilitator mutes Fiona: Firefox is told, and the server stops her audio.
    await fay.page.get_by_role("button", name="Mute Fiona", exact=True).click()
    await fiona.has_text("The facilitator muted you")
    await wait_for_async(fay.page, _STOPS, [ids["Fiona"], "audio", "packetsReceived", 1500])
    before: Any = await fay.page.evaluate(_INBOUND, [ids["Fiona"], "audio", "packetsReceived"])
    # Her video still arrives meanwhile: only what the room holds is stopped.
    await wait_until_rises(fay.page, ids["Fiona"], "video", "framesDecoded", 10)
    after: Any = await fay.page.evaluate(_INBOUND, [ids["Fiona"], "audio", "packetsReceived"])
    assert after == before, "Fiona's audio still reached Fay after she was muted"
    # Firefox cannot unmute herself while held.
    held: Any = await fiona.evaluate(
        "[...document.querySelectorAll('button')].find((b) =>"
        " (b.getAttribute('aria-label') ?? b.textContent.trim()) === 'Unmute microphone')"
        "?.disabled ?? null"
    )
    assert held is True, held

    # Firefox takes the camera's simulcast encodings too (rid simulcast): three layers
    # offered, the lower ones encoded, and the server forwards Fay one of them.
    layers: Any = await fiona.evaluate("window.groupsession.outboundLayers()")
    assert sorted(layer["rid"] for layer in layers) == ["f", "h", "q"], layers
    assert any(layer["framesEncoded"] > 0 for layer in layers if layer["rid"] == "q"), layers
    forwarded: Any = await fay.page.evaluate(
        "(pid) => window.groupsession.state().videoForwarding[pid]", ids["Fiona"]
    )
    assert forwarded is not None and forwarded["layer"] in ("q", "h", "f"), forwarded
    violations: Any = await fiona.evaluate("window.__cspViolations")
    assert violations == [], violations

    # Her SDPs named no address, only mDNS names, and ended their candidates...
    sent: Any = await fiona.evaluate(_SENT_CANDIDATES)
    assert len(sent) == 2, sent
    for lines in sent:
        hosts = [line.split()[4] for line in lines if line.startswith("a=candidate:")]
        assert hosts and all(host.endswith(".local") for host in hosts), lines
        assert "a=end-of-candidates" in lines, lines
    # ...so the server answered her from her checks alone.
    plane = media_server.app[MEDIA]
    assert isinstance(plane, RtpForwardingMediaPlane)
    member = plane._existing_participant(room, ids["Fiona"])
    assert member is not None and member.publish_pc and member.subscription
    for pc in (member.publish_pc, member.subscription.pc):
        assert internals.selected_candidate_types(pc) == ("host", "prflx")
