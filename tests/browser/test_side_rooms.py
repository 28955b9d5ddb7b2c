"""A side room in real browsers: the facilitator takes a member aside while the group
goes on. Measured on the receiving side (getStats): the main room stops receiving the
two, the two keep hearing and seeing each other, and all return."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from rooms import Role
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import OpenPage, participant_ids, wait_for_async
from tests.browser.test_group_session import _STOPS, join, wait_until_rises
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

STEP_MS = 15_000


async def stops_receiving(page: Page, pid: str, kind: str, field: str) -> None:
    await wait_for_async(page, _STOPS, [pid, kind, field, 2000])


async def test_a_member_taken_aside(media_server: RunningServer, open_page: OpenPage) -> None:
    room = "r-aside"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    ids = await participant_ids(fay.page)
    for pid in (ids["Anna"], ids["Fay"]):
        await wait_until_rises(ben.page, pid, "video", "framesDecoded", 10)
        await wait_until_rises(ben.page, pid, "audio", "packetsReceived", 20)

    await fay.page.get_by_role("button", name="Take Anna aside", exact=True).click()

    # Ben (the main room) sees who is aside, not their tiles, and receives nothing of them.
    await expect(ben.page.get_by_role("region", name="Side rooms")).to_have_text(
        "Fay is with Anna in a side room.", timeout=STEP_MS
    )
    await expect(ben.page.locator("section.tile")).to_have_count(1)
    await expect(ben.page.get_by_text("Everyone else is in a side room for now.")).to_be_visible()
    for pid in (ids["Anna"], ids["Fay"]):
        for kind, field in (("video", "framesDecoded"), ("audio", "packetsReceived")):
            await stops_receiving(ben.page, pid, kind, field)
    # The two in the side room keep seeing and hearing each other.
    await expect(anna.page.get_by_role("region", name="Side room")).to_contain_text(
        "You are in a side room with Fay."
    )
    await expect(anna.page.locator("section.tile")).to_have_count(2)
    for viewer, other in ((anna, "Fay"), (fay, "Anna")):
        await wait_until_rises(viewer.page, ids[other], "video", "framesDecoded", 10)
        await wait_until_rises(viewer.page, ids[other], "audio", "packetsReceived", 20)
    await expect(anna.page.locator("#announcements")).to_have_text(
        "You are now in a side room with Fay."
    )
    await assert_accessible(anna.page, "the room, in a side room")
    await assert_accessible(ben.page, "the main room while others are aside")
    await assert_accessible(fay.page, "console with a side room")
    await anna.screenshot("side-room-01-aside")
    await ben.screenshot("side-room-02-main-room")

    # Everyone back: Ben receives both again; no one had to rejoin.
    await fay.page.get_by_role("button", name="Bring everyone back", exact=True).click()
    await expect(ben.page.get_by_role("region", name="Side rooms")).to_have_count(0)
    for pid in (ids["Anna"], ids["Fay"]):
        await wait_until_rises(ben.page, pid, "video", "framesDecoded", 10)
        await wait_until_rises(ben.page, pid, "audio", "packetsReceived", 20)
    await expect(anna.page.locator("#announcements")).to_have_text("You are back with the group.")
    await expect(anna.page.locator("section.tile")).to_have_count(3)
