"""Screen sharing in real browsers (getDisplayMedia with Chromium's fake capture).

A member without a facilitator's permission is refused (and shares nothing); once
allowed, her screen reaches the others as its own track (getStats on the screen
rises), shown large with her tile beside it; the browser's own "Stop sharing" ends
it; a facilitator stops a share; the facilitator shares too.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from rooms import Role
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import MEDIA_TIMEOUT_MS, OpenPage, Person, participant_ids
from tests.browser.test_group_session import join, wait_until_rises
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

STEP_MS = 15_000

# Keeps the page's screen captures, so the test can end one as the browser's own
# "Stop sharing" bar does (the track ends). The page's code is untouched.
_KEEP_CAPTURES = """() => {
  const devices = navigator.mediaDevices;
  const capture = devices.getDisplayMedia.bind(devices);
  window.__captures = [];
  devices.getDisplayMedia = async (constraints) => {
    const stream = await capture(constraints);
    window.__captures.push(...stream.getTracks());
    return stream;
  };
}"""

_BROWSER_STOPS_SHARING = """() => window.__captures.forEach((track) => {
  track.stop();
  track.dispatchEvent(new Event("ended"));
})"""


async def sees_screen_of(viewer: Person, sharer: Person, sharer_id: str) -> None:
    """The viewer shows the sharer's screen large, the sharer's tile beside it, and
    receives the screen's own track."""
    page = viewer.page
    screen = page.get_by_role("region", name=f"{sharer.name}'s screen", exact=True)
    await expect(screen).to_be_visible(timeout=STEP_MS)
    await page.wait_for_function(
        "(v) => v.videoWidth > 0",
        arg=await screen.locator("video").element_handle(),
        timeout=MEDIA_TIMEOUT_MS,
    )
    await wait_until_rises(page, sharer_id, "screen", "framesDecoded", 10)
    widths: dict[str, float] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('section.tile')]
          .map((t) => [t.getAttribute('aria-label'), t.getBoundingClientRect().width]))"""
    )
    large = widths.pop(f"{sharer.name}'s screen")
    assert all(large >= 2 * w for w in widths.values()), widths
    beside: Any = await page.evaluate(
        "() => document.querySelector('.share-stage section.tile:not(.screen-tile)')"
        "?.getAttribute('aria-label')"
    )
    assert beside == sharer.name


async def no_screen(page: Page) -> None:
    await expect(page.locator("section.screen-tile")).to_have_count(0, timeout=STEP_MS)


async def test_screen_sharing(media_server: RunningServer, open_page: OpenPage) -> None:
    room = "r-screen"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    ids = await participant_ids(fay.page)
    await anna.page.evaluate(_KEEP_CAPTURES)

    # Without a facilitator's permission Anna has no button, and the server refuses.
    await expect(anna.page.get_by_role("button", name="Share screen")).to_have_count(0)
    assert await anna.page.evaluate("window.groupsession.shareScreen()") is False
    await expect(
        anna.page.get_by_text("A facilitator has to let you share your screen.")
    ).to_be_visible()
    live: list[str] = await anna.page.evaluate(
        "() => window.__captures.filter((t) => t.readyState === 'live').map((t) => t.label)"
    )
    assert live == [], "a refused share must not keep capturing"
    await no_screen(ben.page)

    # Fay allows it; Anna shares; Ben and Fay see her screen large.
    await fay.page.get_by_role("button", name="Allow screen share for Anna", exact=True).click()
    share = anna.page.get_by_role("button", name="Share screen", exact=True)
    await share.click()
    await expect(anna.page.get_by_role("button", name="Stop sharing")).to_have_attribute(
        "aria-pressed", "true"
    )
    for viewer in (ben, fay):
        await sees_screen_of(viewer, anna, ids["Anna"])
        # Her camera and microphone go on alongside: the screen is a track of its own.
        await wait_until_rises(viewer.page, ids["Anna"], "video", "framesDecoded", 10)
        await wait_until_rises(viewer.page, ids["Anna"], "audio", "packetsReceived", 20)
    await expect(anna.page.get_by_role("region", name="Anna's screen")).to_contain_text(
        "Your screen"
    )
    await ben.screenshot("screen-01-member-sees-a-share")
    # Fay cannot share meanwhile: one share at a time.
    await expect(fay.page.get_by_role("button", name="Share screen", exact=True)).to_be_disabled()

    # Anna stops from the browser's own "Stop sharing" bar.
    await anna.page.evaluate(_BROWSER_STOPS_SHARING)
    for person in (anna, ben, fay):
        await no_screen(person.page)
    await expect(share).to_be_visible()

    # She shares again; the facilitator stops it.
    await share.click()
    await sees_screen_of(ben, anna, ids["Anna"])
    await fay.page.get_by_role("button", name="Stop Anna's screen share", exact=True).click()
    for person in (anna, ben, fay):
        await no_screen(person.page)
    await expect(
        anna.page.get_by_text("The facilitator stopped your screen share.")
    ).to_be_visible()
    live = await anna.page.evaluate(
        "() => window.__captures.filter((t) => t.readyState === 'live').map((t) => t.label)"
    )
    assert live == [], "a stopped share must stop capturing"

    # The facilitator shares; then takes Anna's permission back.
    await fay.page.get_by_role("button", name="Share screen", exact=True).click()
    await sees_screen_of(ben, fay, ids["Fay"])
    await sees_screen_of(anna, fay, ids["Fay"])
    await assert_accessible(ben.page, "the room with a shared screen")
    await assert_accessible(fay.page, "the room while sharing")
    # While Fay's screen may show her console, a request to check in shows no name.
    await anna.page.get_by_role("button", name="Ask to check in", exact=True).click()
    requests = fay.page.get_by_role("region", name="Asked to check in")
    await expect(requests).to_contain_text("Hidden while you share your screen.")
    assert "Anna" not in await requests.inner_text()
    assert "asked you to check in" not in await fay.page.locator("body").inner_text()
    await fay.page.get_by_role("button", name="Stop sharing", exact=True).click()
    await no_screen(ben.page)
    await fay.page.get_by_role("button", name="Take back screen share from Anna").click()
    await expect(share).to_have_count(0, timeout=STEP_MS)
