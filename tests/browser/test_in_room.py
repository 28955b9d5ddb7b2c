"""In the room, in real browsers: the discreet check-in request and the spotlight.

A facilitator and two members. Anna asks, privately, to be checked in with: the
facilitator's console shows it with the time, Ben's page shows nothing of it, and
Anna is told when the facilitator has seen it. The spotlight makes one person's tile
large on every page, measured; with the room's setting it follows the floor.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from rooms import Role
from tests.browser.conftest import OpenPage, Person
from tests.browser.test_group_session import join
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

STEP_MS = 15_000

# Every tile's name (without " (you)") and rendered width, on one page.
_TILE_WIDTHS = """() => [...document.querySelectorAll('section.tile')].map((tile) => ({
  name: tile.getAttribute('aria-label'),
  width: tile.getBoundingClientRect().width,
  spotlighted: tile.classList.contains('spotlighted'),
}))"""


async def tile_widths(page: Page) -> dict[str, Any]:
    tiles: list[dict[str, Any]] = await page.evaluate(_TILE_WIDTHS)
    return {tile["name"]: tile for tile in tiles}


async def is_large_everywhere(people: tuple[Person, ...], name: str) -> None:
    """On every page, ``name``'s tile is spotlighted and at least twice as wide as any other."""
    for person in people:
        page = person.page
        await expect(page.locator("section.tile.spotlighted")).to_have_attribute(
            "aria-label", name, timeout=STEP_MS
        )
        widths = await tile_widths(page)
        large = widths[name]["width"]
        others = [t["width"] for n, t in widths.items() if n != name]
        assert others and all(large >= 2 * w for w in others), (person.name, widths)


async def nobody_is_large(people: tuple[Person, ...]) -> None:
    for person in people:
        await expect(person.page.locator("section.tile.spotlighted")).to_have_count(
            0, timeout=STEP_MS
        )
        widths = await tile_widths(person.page)
        assert max(t["width"] for t in widths.values()) < 1.5 * min(
            t["width"] for t in widths.values()
        ), (person.name, widths)


async def test_a_check_in_request_reaches_only_the_facilitator(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-check-in"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    # Facilitators have no such button: they are the ones who check in.
    await expect(fay.page.get_by_role("button", name="Ask to check in")).to_have_count(0)

    ask = anna.page.get_by_role("button", name="Ask to check in", exact=True)
    await expect(ask).to_have_accessible_description(
        "Privately asks the facilitators to check in with you. Only they will see it."
    )
    await ask.click()
    cancel = anna.page.get_by_role("button", name="Cancel check-in request", exact=True)
    await expect(cancel).to_have_attribute("aria-pressed", "true")

    requests = fay.page.get_by_role("region", name="Asked to check in")
    await expect(requests).to_contain_text("Anna", timeout=STEP_MS)
    await expect(requests.locator("time")).to_have_text(re.compile(r"^since \d\d:\d\d$"))
    await expect(
        fay.page.get_by_role("status").filter(has_text="asked you to check in")
    ).to_be_visible()
    await fay.screenshot("in-room-01-check-in-facilitator")

    # Ben's page knows nothing of it: no notice, no console, nothing in his state.
    state: Any = await ben.page.evaluate("window.groupsession.state()")
    assert state["checkIns"] == []
    body = await ben.page.locator("body").inner_text()
    assert "asked you to check in" not in body and "Asked to check in" not in body
    await expect(ben.page.get_by_role("button", name="Ask to check in")).to_be_visible()

    # The facilitator has seen it: the request closes and Anna is told.
    await requests.get_by_role("button", name="I'll check in with Anna").click()
    await expect(requests).to_have_count(0)
    await expect(
        anna.page.get_by_text("Fay saw your request and will check in with you.")
    ).to_be_visible(timeout=STEP_MS)
    await expect(ask).to_have_attribute("aria-pressed", "false")
    await anna.screenshot("in-room-02-check-in-seen")

    # Anna asks again, then changes her mind: it closes on the facilitator's console too.
    await ask.click()
    await expect(requests).to_contain_text("Anna", timeout=STEP_MS)
    await cancel.click()
    await expect(requests).to_have_count(0, timeout=STEP_MS)


async def test_the_spotlight_is_large_on_every_screen(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-spotlight"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    everyone = (fay, anna, ben)
    await nobody_is_large(everyone)

    await fay.page.get_by_role("button", name="Spotlight Ben", exact=True).click()
    await is_large_everywhere(everyone, "Ben")
    await expect(ben.page.get_by_text("Spotlight", exact=True)).to_be_visible()
    await anna.screenshot("in-room-03-spotlight-member")

    await fay.page.get_by_role("button", name="Remove spotlight from Ben", exact=True).click()
    await nobody_is_large(everyone)

    # The room's setting: whoever holds the floor is spotlighted.
    follow = fay.page.get_by_role("button", name="Spotlight whoever has the floor", exact=True)
    await follow.click()
    await expect(follow).to_have_attribute("aria-pressed", "true")
    await fay.page.get_by_role("button", name="Give floor to Anna", exact=True).click()
    await is_large_everywhere(everyone, "Anna")
    await fay.screenshot("in-room-04-spotlight-follows-floor")
    await fay.page.get_by_role("button", name="Take back floor", exact=True).first.click()
    await nobody_is_large(everyone)
