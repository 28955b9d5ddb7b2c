"""A whole group session in real browsers: a facilitator and two members join, wait,
are admitted, see and hear each other; muting, hands, removal and the end.

Every wait is on a condition with a deadline (Playwright's expect and
wait_for_function); the media checks read the receiving browser's own getStats.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from rooms import Role
from tests.browser.conftest import (
    MEDIA_TIMEOUT_MS,
    OpenPage,
    Person,
    participant_ids,
    wait_for_async,
)
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

# Inbound counters from one publisher (by participant id) as the receiving page sees them.
_INBOUND = """async ([pid, kind, field]) => {
  const stats = await window.groupsession.inboundStats();
  const entry = stats[pid] && stats[pid][kind];
  return entry ? entry[field] : 0;
}"""

# True once the counter has risen by `rise` from its first reading.
_RISES = """async ([pid, kind, field, rise]) => {
  const read = async () => {
    const stats = await window.groupsession.inboundStats();
    const entry = stats[pid] && stats[pid][kind];
    return entry ? entry[field] : 0;
  };
  const key = `rise:${pid}:${kind}:${field}`;
  const now = await read();
  if (window[key] === undefined) window[key] = now;
  return now > 0 && now - window[key] >= rise;
}"""

# True once the counter has not moved for `quiet_ms` (it stopped rising).
_STOPS = """async ([pid, kind, field, quiet_ms]) => {
  const stats = await window.groupsession.inboundStats();
  const entry = stats[pid] && stats[pid][kind];
  const value = entry ? entry[field] : 0;
  const key = `stop:${pid}:${kind}:${field}`;
  const seen = window[key];
  if (seen === undefined || seen.value !== value) {
    window[key] = { value, since: Date.now() };
    return false;
  }
  return Date.now() - seen.since >= quiet_ms;
}"""


async def join(person: Person, screenshot: str | None = None) -> None:
    """The device check (name from the link, camera preview), then Join."""
    page = person.page
    await expect(page.get_by_role("heading", name="Before you join")).to_be_visible()
    await expect(page.locator(".join-name")).to_have_text(person.name)
    join_button = page.get_by_role("button", name="Join", exact=True)
    await expect(join_button).to_be_enabled(timeout=10_000)
    await page.wait_for_function(
        "() => document.querySelector('.preview video')?.videoWidth > 0",
        timeout=10_000,
    )
    if screenshot is not None:
        await person.screenshot(screenshot)
    await join_button.click()


async def wait_until_rises(page: Page, pid: str, kind: str, field: str, rise: int) -> None:
    await wait_for_async(page, _RISES, [pid, kind, field, rise])
    # Reset so that a later call measures a fresh rise.
    await page.evaluate(
        "([pid, kind, field]) => delete window[`rise:${pid}:${kind}:${field}`]", [pid, kind, field]
    )


async def plays_video_of(viewer: Person, other: Person, other_id: str) -> None:
    tile = viewer.page.get_by_role("region", name=other.name, exact=True)
    await expect(tile).to_be_visible()
    video = tile.locator("video")
    await expect(video).to_have_count(1)
    await viewer.page.wait_for_function(
        "(v) => v.videoWidth > 0", arg=await video.element_handle(), timeout=MEDIA_TIMEOUT_MS
    )
    await wait_until_rises(viewer.page, other_id, "video", "framesDecoded", 10)


async def test_a_group_session_from_join_to_end(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "tuesday-group"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay Facilitator")
    await join(fay, screenshot="01-device-check")
    await expect(fay.page.get_by_role("heading", name="Facilitator")).to_be_visible()
    await expect(fay.page.get_by_role("region", name="Fay Facilitator", exact=True)).to_be_visible()

    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    for member in (anna, ben):
        await join(member)
        await expect(
            member.page.get_by_text("The facilitator will let you in shortly")
        ).to_be_visible()
    await anna.screenshot("02-waiting-room")

    # The facilitator sees both waiting, in arrival order, and lets them in.
    waiting = fay.page.get_by_role("region", name="Waiting room")
    await expect(waiting.get_by_role("button", name="Admit Anna", exact=True)).to_be_visible()
    await expect(waiting.get_by_role("button", name="Admit Ben", exact=True)).to_be_visible()
    await expect(fay.page.get_by_role("button", name="Deny Ben", exact=True)).to_be_visible()
    await fay.screenshot("03-console-waiting")
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click()
    await expect(anna.page.get_by_role("button", name="Mute microphone")).to_be_visible()
    await fay.page.get_by_role("button", name="Admit all", exact=True).click()
    await expect(ben.page.get_by_role("button", name="Mute microphone")).to_be_visible()

    everyone = [fay, anna, ben]
    for viewer in everyone:
        for other in everyone:
            if other is not viewer:
                await expect(
                    viewer.page.get_by_role("region", name=other.name, exact=True)
                ).to_be_visible()
    ids = await participant_ids(fay.page)

    # Each browser plays every other participant's video: frames decoded keep rising.
    for viewer in everyone:
        for other in everyone:
            if other is not viewer:
                await plays_video_of(viewer, other, ids[other.name])
    await fay.screenshot("04-room-facilitator")
    await anna.screenshot("05-room-member")

    # Ben hears Anna: her audio packets arrive, and then stop once the facilitator mutes her.
    await wait_until_rises(ben.page, ids["Anna"], "audio", "packetsReceived", 20)
    await fay.page.get_by_role("button", name="Mute Anna", exact=True).click()
    await expect(anna.page.get_by_text("The facilitator muted you")).to_be_visible()
    unmute = anna.page.get_by_role("button", name="Unmute microphone", exact=True)
    await expect(unmute).to_be_disabled()
    await wait_for_async(ben.page, _STOPS, [ids["Anna"], "audio", "packetsReceived", 1500])
    before: Any = await ben.page.evaluate(_INBOUND, [ids["Anna"], "audio", "packetsReceived"])
    # Meanwhile Ben still hears the facilitator (the forwarding of others is untouched).
    await wait_until_rises(ben.page, ids["Fay Facilitator"], "audio", "packetsReceived", 20)
    after: Any = await ben.page.evaluate(_INBOUND, [ids["Anna"], "audio", "packetsReceived"])
    assert after == before, "Anna's audio still reached Ben after she was muted"
    anna_tile_at_ben = ben.page.get_by_role("region", name="Anna", exact=True)
    await expect(anna_tile_at_ben.get_by_text("Microphone off")).to_be_attached()
    await anna.screenshot("06-muted-by-facilitator")

    # The facilitator asks; Anna accepts and can be heard again.
    await fay.page.get_by_role("button", name="Ask Anna to unmute", exact=True).click()
    await expect(anna.page.get_by_role("alertdialog")).to_be_visible()
    await anna.screenshot("07-asked-to-unmute")
    await anna.page.get_by_role("button", name="Unmute now").click()
    await expect(
        anna.page.get_by_role("button", name="Mute microphone", exact=True)
    ).to_be_visible()
    await expect(anna.page.get_by_text("Everyone can hear you")).to_be_visible()
    await wait_until_rises(ben.page, ids["Anna"], "audio", "packetsReceived", 20)

    # Hands: Ben first, then Anna; the facilitator's queue keeps that order.
    await ben.page.get_by_role("button", name="Raise hand", exact=True).click()
    await expect(ben.page.get_by_role("button", name="Lower hand", exact=True)).to_be_visible()
    queue = fay.page.get_by_role("list", name="Raised hands")
    await expect(queue.get_by_role("listitem")).to_have_count(1)
    await anna.page.get_by_role("button", name="Raise hand", exact=True).click()
    await expect(queue.get_by_role("listitem")).to_have_count(2)
    await expect(queue.locator(".person-name")).to_have_text(["Ben", "Anna"])
    await expect(
        fay.page.get_by_role("region", name="Ben", exact=True).get_by_text("Hand raised (1st)")
    ).to_be_visible()
    await fay.screenshot("08-console-hands")

    # Removing Ben asks first, then he is out and told so.
    await fay.page.get_by_role("button", name="Remove Ben", exact=True).click()
    dialog = fay.page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Yes, remove").click()
    await expect(
        ben.page.get_by_role("heading", name="You have been removed from the session")
    ).to_be_visible()
    await expect(fay.page.get_by_role("region", name="Ben", exact=True)).to_have_count(0)
    await expect(anna.page.get_by_role("region", name="Ben", exact=True)).to_have_count(0)
    await expect(queue.get_by_role("listitem")).to_have_count(1)
    await ben.screenshot("09-removed")

    # Ending asks first; a cancel changes nothing.
    await fay.page.get_by_role("button", name="End session", exact=True).click()
    await expect(fay.page.get_by_role("dialog")).to_be_visible()
    await fay.screenshot("10-end-session-confirm")
    await fay.page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    await expect(fay.page.get_by_role("dialog")).to_have_count(0)
    await expect(anna.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
    await fay.page.get_by_role("button", name="End session", exact=True).click()
    await fay.page.get_by_role("dialog").get_by_role("button", name="Yes, end the session").click()
    for person in (fay, anna):
        await expect(
            person.page.get_by_role("heading", name="The session has ended")
        ).to_be_visible()
    await anna.screenshot("11-session-ended")
    for person in everyone:
        errors = [line for line in person.console if line.startswith("pageerror")]
        assert not errors, f"{person.name}'s page raised: {errors}"


# Keeps every WebSocket the page opens, so a test can drop the connection as a network would.
_TRACK_SOCKETS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();"""


async def drop_and_reconnect(
    server: RunningServer, open_page: OpenPage, room: str
) -> tuple[Person, Person, dict[str, str]]:
    """Fay and Anna in a room, Anna muted by Fay; then Anna's socket drops and comes back."""
    fay = await open_page(server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(server, room, Role.MEMBER, "Anna")
    await anna.page.add_init_script(_TRACK_SOCKETS)
    await anna.page.reload()
    await join(anna)
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click()
    await expect(fay.page.get_by_role("region", name="Anna", exact=True)).to_be_visible()
    ids = await participant_ids(fay.page)
    await plays_video_of(fay, anna, ids["Anna"])
    await fay.page.get_by_role("button", name="Mute Anna", exact=True).click()
    await expect(anna.page.get_by_text("The facilitator muted you")).to_be_visible()

    # The network drops Anna's socket (not a server close): Socket.IO reconnects.
    count = await anna.page.evaluate("window.__sockets.length")
    assert count >= 1, "the page opened no WebSocket that the test could see"
    await anna.page.evaluate("window.__sockets.forEach((s) => s.close())")
    await anna.page.wait_for_function(
        "() => window.__sockets.length >= 2 && window.__sockets.at(-1).readyState === 1",
        timeout=MEDIA_TIMEOUT_MS,
    )
    return fay, anna, ids


async def test_a_dropped_connection_rejoins_and_keeps_the_place(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    fay, anna, _ = await drop_and_reconnect(media_server, open_page, "r-reconnect")
    # Back in the room without the waiting room, the facilitator's mute still held.
    await expect(anna.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
    await expect(anna.page.get_by_text("The facilitator muted you")).to_be_visible()
    await expect(
        anna.page.get_by_role("button", name="Unmute microphone", exact=True)
    ).to_be_disabled()
    await expect(fay.page.get_by_role("region", name="Anna", exact=True)).to_be_visible()
    await expect(anna.page.get_by_role("region", name="Fay", exact=True)).to_be_visible()


async def test_media_flows_again_after_a_reconnect(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    fay, anna, ids = await drop_and_reconnect(media_server, open_page, "r-reconnect-media")
    await expect(anna.page.get_by_role("region", name="Fay", exact=True)).to_be_visible()
    await plays_video_of(fay, anna, ids["Anna"])
    await plays_video_of(anna, fay, ids["Fay"])
