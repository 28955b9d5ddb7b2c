"""A member whose browser may only use a TURN relay (as behind a firewall that lets no
UDP through but to the TURN server): with the credentials from join's ack, media flows
both ways through a real coturn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from rooms import Role
from server.app import default_media
from tests.browser.conftest import Person, participant_ids, wait_for_async
from tests.browser.test_group_session import join, plays_video_of, wait_until_rises
from tests.conftest import RunningServer, start_server
from tests.coturn import Coturn, running_coturn

pytestmark = pytest.mark.browser

# Test-only, from outside the web client: every peer connection this page makes may use
# relay candidates only (what a browser on a UDP-blocking network is left with), and is
# kept so the test can read which candidate pair carries the media.
_RELAY_ONLY = """
window.__pcs = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = class extends Native {
  constructor(config, ...rest) {
    super({ ...(config || {}), iceTransportPolicy: "relay" }, ...rest);
    window.__pcs.push(this);
  }
};
"""

# The local and remote candidate types of each open connection's selected pair.
_SELECTED_PAIRS = """async () => {
  const pairs = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    let selected = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) {
        selected = stats.get(s.selectedCandidatePairId);
      }
    });
    if (!selected) { pairs.push(null); continue; }
    pairs.push({
      local: stats.get(selected.localCandidateId).candidateType,
      remote: stats.get(selected.remoteCandidateId).candidateType,
      bytesSent: selected.bytesSent,
      bytesReceived: selected.bytesReceived,
      config: pc.getConfiguration().iceTransportPolicy,
    });
  }
  return pairs;
}"""


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path) as running:
        yield running


@pytest.fixture
async def turn_media_server(
    tmp_path: Path, web_dist: Path, coturn: Coturn
) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(
        tmp_path,
        media_factory=default_media,
        web_dir=web_dist,
        turn_secret=coturn.secret,
        turn_uris=(coturn.uri,),
    )
    yield running
    await runner.cleanup()


async def _open(
    browser: Browser, server: RunningServer, role: Role, name: str, *, relay_only: bool
) -> Person:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    if relay_only:
        await context.add_init_script(_RELAY_ONLY)
    page = await context.new_page()
    person = Person(name, role, context, page)
    page.on("console", lambda m: person.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: person.console.append(f"pageerror: {e}"))
    await page.goto(f"{server.url}/#token={server.token('relay-room', role, name)}")
    return person


async def test_a_relay_only_member_publishes_and_receives_through_coturn(
    turn_media_server: RunningServer, browser: Browser, coturn: Coturn
) -> None:
    fay = await _open(browser, turn_media_server, Role.FACILITATOR, "Fay", relay_only=False)
    rita = await _open(browser, turn_media_server, Role.MEMBER, "Rita", relay_only=True)
    try:
        await join(fay)
        await join(rita)
        await fay.page.get_by_role("button", name="Admit Rita", exact=True).click()
        await expect(rita.page.get_by_role("button", name="Mute microphone")).to_be_visible()
        ids = await participant_ids(fay.page)

        # Both ways: Fay plays Rita's published video, Rita plays Fay's forwarded video.
        await plays_video_of(fay, rita, ids["Rita"])
        await plays_video_of(rita, fay, ids["Fay"])
        await wait_until_rises(fay.page, ids["Rita"], "audio", "packetsReceived", 20)

        # Rita's two connections (publish and subscribe) both run over her relay.
        await wait_for_async(
            rita.page,
            f"async () => {{ const p = await ({_SELECTED_PAIRS})();"
            " return p.length === 2 && p.every((x) => x && x.local === 'relay'); }",
        )
        pairs: Any = await rita.page.evaluate(_SELECTED_PAIRS)
        assert all(p["local"] == "relay" and p["config"] == "relay" for p in pairs), pairs
        assert all(p["bytesSent"] > 0 and p["bytesReceived"] > 0 for p in pairs), pairs
        # coturn's side of it: the allocations were made with the credentials from the ack.
        assert "ALLOCATE processed, success" in coturn.log.read_text()
    finally:
        for person in (fay, rita):
            await person.context.close()
