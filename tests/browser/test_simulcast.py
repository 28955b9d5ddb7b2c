"""Simulcast in real browsers (issue 17): Chromium publishes its camera as three layers;
each subscriber gets the layer that fits how large it shows that person, none for a
tile it does not show, and switches without a break; a layer nobody receives is paused
at the publisher's encoder.

Pat publishes. Big shows her on a wide, high-density screen; Small on a phone-sized
one. What each receives is read from its own getStats (``frameWidth`` of the decoded
frames) and from the server's ``video_forwarding`` (kept in the page's state); what Pat
sends, from her getStats per rid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from rooms import Role
from server.app_keys import SIGNALING
from signaling.media import ReceivedVideo, VideoPause
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import (
    MEDIA_TIMEOUT_MS,
    OpenPage,
    Person,
    participant_ids,
    wait_for_async,
)
from tests.browser.test_group_session import join, wait_until_rises
from tests.conftest import RunningServer, start_server

pytestmark = pytest.mark.browser

_VIDEO = """(pid) => window.groupsession.inboundStats()
  .then((s) => (s[pid] && s[pid].video) || null)"""
_OUTBOUND = """() => window.groupsession.outboundLayers()"""

# True once the publisher-side video of `pid` has been received at a frame width within
# [low, high] and the server says it forwards `layers` (one of them) to this page.
_RECEIVES = """async ([pid, low, high, layers]) => {
  const stats = await window.groupsession.inboundStats();
  const video = stats[pid] && stats[pid].video;
  const forwarded = window.groupsession.state().videoForwarding[pid];
  return video !== null && video !== undefined
    && video.frameWidth >= low && video.frameWidth <= high
    && forwarded !== undefined && layers.includes(forwarded.layer);
}"""

# True once this page's camera sends (or stops sending) the layer `rid`: encoded frames
# rise while it is active, and stand still once the encoder paused it.
_LAYER_RUNS = """async ([rid, running]) => {
  const layers = await window.groupsession.outboundLayers();
  const layer = layers.find((l) => l.rid === rid);
  if (layer === undefined) return false;
  const key = `layer:${rid}`;
  const seen = window[key];
  window[key] = { frames: layer.framesEncoded, at: Date.now() };
  if (seen === undefined) return false;
  const moved = layer.framesEncoded > seen.frames;
  return layer.active === running && moved === running;
}"""


_SHOW_PAT = """(display) => {
  document.querySelector('section.tile[aria-label="Pat"]').style.display = display;
}"""


async def diagnose(page: Page, pid: str) -> dict[str, Any]:
    """What a page receives of ``pid`` and why: for failure messages."""
    found: dict[str, Any] = await page.evaluate(
        """async (pid) => ({
          video: ((await window.groupsession.inboundStats())[pid] || {}).video,
          forwarding: window.groupsession.state().videoForwarding[pid],
          view: window.groupsession.view().find((t) => t.participant_id === pid),
        })""",
        pid,
    )
    return found


async def video_of(page: Page, pid: str) -> dict[str, Any]:
    video: dict[str, Any] | None = await page.evaluate(_VIDEO, pid)
    assert video is not None, "no video stats"
    return video


async def receives(page: Page, pid: str, low: int, high: int, layers: list[str]) -> None:
    await wait_for_async(page, _RECEIVES, [pid, low, high, layers])


async def layer_runs(page: Page, rid: str, running: bool) -> None:
    await wait_for_async(page, _LAYER_RUNS, [rid, running], polling_ms=1000)


async def join_camera_off(person: Person) -> None:
    """Join with the camera off: the subscribers only watch (and the machine has two cores)."""
    page = person.page
    join_button = page.get_by_role("button", name="Join", exact=True)
    await expect(join_button).to_be_enabled(timeout=10_000)
    await page.get_by_label("Camera on when I join").uncheck()
    await join_button.click()


async def admitted_all(fac: Person, *members: Person) -> None:
    for member in members:
        await expect(
            fac.page.get_by_role("button", name=f"Admit {member.name}", exact=True)
        ).to_be_visible()
    await fac.page.get_by_role("button", name="Admit all", exact=True).click()
    for member in members:
        await expect(member.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()


async def test_each_subscriber_gets_the_layer_its_tile_needs(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-simulcast"
    pat = await open_page(media_server, room, Role.FACILITATOR, "Pat")
    await join(pat)
    big = await open_page(
        media_server,
        room,
        Role.MEMBER,
        "Big",
        viewport={"width": 1600, "height": 1000},
        device_scale_factor=2,
    )
    small = await open_page(
        media_server, room, Role.MEMBER, "Small", viewport={"width": 360, "height": 740}
    )
    for member in (big, small):
        await join_camera_off(member)
    await admitted_all(pat, big, small)
    ids = await participant_ids(pat.page)
    pid = ids["Pat"]

    # Pat's camera goes out as three layers.
    await wait_for_async(
        pat.page, "() => window.groupsession.outboundLayers().then((l) => l.length === 3)"
    )
    sent: list[dict[str, Any]] = await pat.page.evaluate(_OUTBOUND)
    assert sorted(layer["rid"] for layer in sent) == ["f", "h", "q"], sent

    # Each page reports Pat's tile at its size; the wide one gets a high layer, the
    # small one the lowest, both decoding.
    try:
        await receives(big.page, pid, 480, 4096, ["h", "f"])
    except AssertionError as failure:
        raise AssertionError(
            (await diagnose(big.page, pid), await pat.page.evaluate(_OUTBOUND))
        ) from failure
    await receives(small.page, pid, 1, 320, ["q"])
    await wait_until_rises(big.page, pid, "video", "framesDecoded", 20)
    await wait_until_rises(small.page, pid, "video", "framesDecoded", 20)
    wide = await video_of(big.page, pid)
    narrow = await video_of(small.page, pid)
    assert wide["frameWidth"] >= 2 * narrow["frameWidth"], (
        await diagnose(big.page, pid),
        await diagnose(small.page, pid),
    )
    # What each page reported of Pat's tile (device pixels).
    big_row, small_row = (
        (await diagnose(big.page, pid))["view"],
        (await diagnose(small.page, pid))["view"],
    )
    assert big_row["visible"] and small_row["visible"], (big_row, small_row)
    assert big_row["height"] > 270 >= small_row["height"] > 0, (big_row, small_row)
    await big.screenshot("simulcast-01-big")
    await small.screenshot("simulcast-02-small")

    # Big's window shrinks: down to the lowest layer; nobody wants the full one any more,
    # so Pat's encoder pauses it; the window grows again: back up, and Pat sends it again.
    # Through both switches the video never stops: frames keep being decoded, hardly a
    # freeze.
    before = await video_of(big.page, pid)
    await big.page.set_viewport_size({"width": 360, "height": 740})
    await receives(big.page, pid, 1, 320, ["q"])
    await layer_runs(pat.page, "f", running=False)
    await big.page.set_viewport_size({"width": 1600, "height": 1000})
    try:
        await receives(big.page, pid, 480, 4096, ["h", "f"])
    except AssertionError as failure:
        raise AssertionError(
            (await diagnose(big.page, pid), await pat.page.evaluate(_OUTBOUND))
        ) from failure
    await layer_runs(pat.page, "f", running=True)
    await wait_until_rises(big.page, pid, "video", "framesDecoded", 20)
    after = await video_of(big.page, pid)
    assert after["framesDecoded"] - before["framesDecoded"] > 40, (before, after)
    assert after["freezeCount"] - before["freezeCount"] <= 2, (before, after)
    assert after["framesReceived"] - after["framesDecoded"] < 30, after  # none left undecodable

    # Small no longer shows Pat's tile: no video of her at all (bytes stand still), and
    # the server says why; shown again, it comes back.
    # (Through the CSSOM: the page's CSP refuses inline style sheets.)
    await small.page.evaluate(_SHOW_PAT, "none")
    await small.page.wait_for_function(
        """(pid) => window.groupsession.state().videoForwarding[pid]?.paused === "hidden" """,
        arg=pid,
        timeout=MEDIA_TIMEOUT_MS,
    )
    await wait_for_async(
        small.page,
        """async ([pid, quiet]) => {
          const video = (await window.groupsession.inboundStats())[pid].video;
          const seen = window.__quiet;
          if (seen === undefined || seen.bytes !== video.bytesReceived) {
            window.__quiet = { bytes: video.bytesReceived, since: Date.now() };
            return false;
          }
          return Date.now() - seen.since >= quiet;
        }""",
        [pid, 2000],
    )
    # A hidden tile needs no message: nobody sees it.
    await expect(small.page.get_by_text("Video paused to keep audio clear")).to_have_count(0)
    await small.page.evaluate(_SHOW_PAT, "")
    await receives(small.page, pid, 1, 320, ["q"])
    await wait_until_rises(small.page, pid, "video", "framesDecoded", 10)
    # Audio was never touched.
    await wait_until_rises(small.page, pid, "audio", "packetsReceived", 20)


@pytest.fixture
async def signaling_server(tmp_path: Path, web_dist: Path) -> AsyncIterator[RunningServer]:
    """No media plane: what a tile says of a paused video comes from signaling alone,
    and nothing else changes it meanwhile."""
    runner, running = await start_server(tmp_path, web_dir=web_dist)
    yield running
    await runner.cleanup()


async def test_a_video_paused_for_bandwidth_says_so_in_words(
    signaling_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-paused"
    pat = await open_page(signaling_server, room, Role.FACILITATOR, "Pat")
    await join(pat)
    ana = await open_page(signaling_server, room, Role.MEMBER, "Ana")
    await join(ana)
    await admitted_all(pat, ana)
    ids = await participant_ids(ana.page)
    tile = ana.page.get_by_role("region", name="Pat", exact=True)
    await expect(tile).to_be_visible()
    signaling = signaling_server.app[SIGNALING]

    # As the media plane tells it when Ana's downlink cannot carry Pat's video.
    signaling.video_forwarding_changed(
        room, ids["Ana"], [ReceivedVideo(ids["Pat"], None, VideoPause.BANDWIDTH)]
    )
    await expect(tile).to_contain_text("Video paused to keep audio clear")
    # Her initials instead of the last frame.
    await expect(tile.locator(".tile-placeholder")).to_be_visible()
    await ana.screenshot("simulcast-03-paused-for-bandwidth")
    await assert_accessible(ana.page, "the room with a video paused for bandwidth")
    # Only Ana was told.
    await expect(pat.page.get_by_text("Video paused to keep audio clear")).to_have_count(0)

    # Back: the words go.
    signaling.video_forwarding_changed(room, ids["Ana"], [ReceivedVideo(ids["Pat"], "q", None)])
    await expect(tile).not_to_contain_text("Video paused to keep audio clear")
