"""A go-around in real browsers: a facilitator and three members, one timed round.

The facilitator starts a round with a minute per turn; every page shows whose turn it
is, who is next and a countdown that ticks down; the speaker says Done or Pass, the
facilitator extends a turn, and when the last turn ends everyone sees the round is
over. Then the facilitator downloads the audit trail. Real server, real media plane;
every wait is on a condition.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Locator, Page, expect

from rooms import Role
from tests.browser.conftest import OpenPage, Person
from tests.browser.test_group_session import join
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

# Four browsers share two cores here: be patient, but only on conditions.
STEP_MS = 15_000
HEARD = "Your microphone is on. Everyone can hear you."


def go_around(page: Page) -> Locator:
    return page.get_by_role("region", name="Go-around", exact=True)


def countdown(page: Page) -> Locator:
    return go_around(page).get_by_role("timer")


def seconds_of(text: str) -> int:
    match = re.search(r"(\d+):(\d\d) left", text)
    assert match is not None, f"no countdown in {text!r}"
    return int(match[1]) * 60 + int(match[2])


async def shows_turn(person: Person, whose: str, next_: str | None) -> None:
    """This person's banner: whose turn (a name, or "Your turn") and who is next."""
    banner = go_around(person.page)
    await expect(banner.locator(".whose-turn")).to_have_text(whose, timeout=STEP_MS)
    if next_ is None:
        await expect(banner.locator(".round-next")).to_have_count(0)
    else:
        await expect(banner.locator(".round-next")).to_have_text(f"Next: {next_}")


async def test_a_timed_go_around_with_three_members(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "go-around"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay Facilitator")
    await join(fay)
    await expect(fay.page.get_by_role("heading", name="Facilitator")).to_be_visible()

    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    # One member on a phone-sized window: the round must be usable at 360 px.
    cleo = await open_page(
        media_server, room, Role.MEMBER, "Cleo", viewport={"width": 360, "height": 740}
    )
    members = (anna, ben, cleo)
    for member in members:
        await join(member)
        await expect(
            member.page.get_by_text("The facilitator will let you in shortly")
        ).to_be_visible()
        # Admit one at a time: the round's "join" order is the order of admission.
        admit = fay.page.get_by_role("button", name=f"Admit {member.name}", exact=True)
        await admit.click()
        await expect(member.page.get_by_role("button", name="Mute microphone")).to_be_visible(
            timeout=STEP_MS
        )

    # The facilitator starts a round: the order people joined, one minute a turn.
    console = fay.page.get_by_role("region", name="Who speaks")
    await console.get_by_label("Order").select_option("join")
    await console.get_by_label("Time for each turn").select_option(label="1 minute")
    await fay.screenshot("facilitation-01-console-before-round")
    await console.get_by_role("button", name="Start round", exact=True).click()

    # Everyone sees Anna's turn, and who is next.
    await shows_turn(anna, "Your turn", "Ben")
    await shows_turn(ben, "Anna's turn", "you")
    await shows_turn(cleo, "Anna's turn", "Ben")
    await shows_turn(fay, "Anna's turn", "Ben")
    await expect(go_around(ben.page).get_by_text("You're next.")).to_be_visible()
    await expect(go_around(cleo.page).get_by_text("You're next.")).to_have_count(0)
    # Ben's microphone is on, but the server drops his audio during Anna's turn: he is told.
    await expect(ben.page.get_by_text("no one can hear you right now")).to_be_visible()
    await expect(anna.page.get_by_text(HEARD)).to_be_visible()

    # The countdown is visible and goes down, on the speaker's page and on the others'.
    for person in (anna, cleo):
        timer = countdown(person.page)
        await expect(timer).to_have_text(re.compile(r"^\d+:\d\d left$"))
        first = seconds_of(await timer.inner_text())
        assert 0 < first <= 60
        await expect(timer).not_to_have_text(await timer.inner_text(), timeout=STEP_MS)
        assert seconds_of(await timer.inner_text()) < first
    await anna.screenshot("facilitation-02-your-turn")
    await ben.screenshot("facilitation-03-you-are-next")
    await cleo.screenshot("facilitation-04-phone-someone-elses-turn")
    await fay.screenshot("facilitation-05-console-during-round")

    # Anna is done: Ben's turn, Cleo next.
    await go_around(anna.page).get_by_role("button", name="Done", exact=True).click()
    await shows_turn(ben, "Your turn", "Cleo")
    await shows_turn(anna, "Ben's turn", "Cleo")
    await shows_turn(cleo, "Ben's turn", "you")
    await shows_turn(fay, "Ben's turn", "Cleo")
    anna_done = go_around(anna.page).get_by_role("button", name="Done", exact=True)
    await expect(anna_done).to_have_count(0)
    await expect(anna.page.get_by_text("no one can hear you right now")).to_be_visible()

    # Ben passes: Cleo's turn, the last one; everyone sees Anna done and Ben passed.
    await go_around(ben.page).get_by_role("button", name="Pass", exact=True).click()
    await shows_turn(cleo, "Your turn", None)
    for person in (fay, anna, ben, cleo):
        order = go_around(person.page).get_by_role("list", name="Speaking order")
        await expect(order.get_by_role("listitem")).to_have_count(3)
        await expect(order.get_by_role("listitem").nth(0)).to_contain_text("done")
        await expect(order.get_by_role("listitem").nth(1)).to_contain_text("passed")
        await expect(order.get_by_role("listitem").nth(2)).to_contain_text("speaking now")
    await cleo.screenshot("facilitation-06-phone-your-turn")

    # The facilitator gives Cleo another minute: her countdown goes above a minute.
    timer = countdown(cleo.page)
    await expect(timer).to_have_text(re.compile(r"^0:\d\d left$"))
    await fay.page.get_by_role("button", name="Extend turn", exact=True).click()
    await expect(timer).to_have_text(re.compile(r"^1:\d\d left$"), timeout=STEP_MS)

    # Cleo is done: the round is over, and everyone sees it.
    await go_around(cleo.page).get_by_role("button", name="Done", exact=True).click()
    for person in (fay, *members):
        await expect(go_around(person.page)).to_have_count(0, timeout=STEP_MS)
        await expect(person.page.get_by_text("The go-around has finished.")).to_be_visible()
    # Nobody is held silent any more.
    await expect(ben.page.get_by_text(HEARD)).to_be_visible()
    await ben.screenshot("facilitation-07-round-finished")
    await expect(
        fay.page.get_by_role("region", name="Who speaks").get_by_role("button", name="Start round")
    ).to_be_visible()

    # The whole console after the round (a tall window, so nothing is scrolled away).
    await fay.page.set_viewport_size({"width": 1280, "height": 2200})
    await fay.screenshot("facilitation-08-console-after-round")

    # The audit trail records the round, saved as a JSON file.
    async with fay.page.expect_download() as download_info:
        await fay.page.get_by_role("button", name="Download audit trail", exact=True).click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".json")
    path = await download.path()
    audit = json.loads(path.read_text())
    assert audit["room_id"] == room
    actions = [record["action"] for record in audit["records"]]
    assert {"start_round_join", "turn_done", "turn_passed", "extend_turn"} <= set(actions)

    for person in (fay, *members):
        assert not [line for line in person.console if line.startswith("pageerror")], person.console


async def test_floor_mode_tells_a_member_they_cannot_be_heard(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "floor-mode"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay Facilitator")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await join(anna)
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click()
    await expect(anna.page.get_by_text(HEARD)).to_be_visible(timeout=STEP_MS)

    # Floor mode on: Anna's microphone stays on, but she is told she can't be heard.
    floor_mode = fay.page.get_by_role("button", name="Floor mode", exact=True)
    await expect(floor_mode).to_have_attribute("aria-pressed", "false")
    await floor_mode.click()
    await expect(floor_mode).to_have_attribute("aria-pressed", "true")
    banner = anna.page.get_by_role("region", name="The floor", exact=True)
    await expect(banner).to_contain_text("You can't be heard right now")
    await expect(anna.page.get_by_text("no one can hear you right now")).to_be_visible()

    # Her hand is up: she is next; the facilitator gives the floor to the next hand.
    await anna.page.get_by_role("button", name="Raise hand", exact=True).click()
    await expect(banner).to_contain_text("You're next.")
    await anna.screenshot("facilitation-09-floor-mode-next")
    await fay.page.get_by_role("button", name="Give floor to next", exact=True).click()
    await expect(banner).to_contain_text("You have the floor")
    await expect(anna.page.get_by_text(HEARD)).to_be_visible()
    who_speaks = fay.page.get_by_role("region", name="Who speaks")
    await expect(who_speaks.get_by_text("Anna has the floor")).to_be_visible()
    await fay.screenshot("facilitation-10-console-floor-given")

    # She hands it back; the facilitator gives it to her by name and takes it back.
    await banner.get_by_role("button", name="Hand back the floor", exact=True).click()
    await expect(banner).to_contain_text("You can't be heard right now")
    await fay.page.get_by_role("button", name="Give floor to Anna", exact=True).click()
    await expect(banner).to_contain_text("You have the floor")
    await fay.page.get_by_role("button", name="Take back floor", exact=True).click()
    await expect(banner).to_contain_text("You can't be heard right now")

    # Floor mode off: the banner goes, and she can be heard again.
    await floor_mode.click()
    await expect(banner).to_have_count(0)
    await expect(anna.page.get_by_text(HEARD)).to_be_visible()


async def test_a_round_in_an_order_the_facilitator_chooses(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "chosen-order"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay Facilitator")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)

    console = fay.page.get_by_role("region", name="Who speaks")
    await console.get_by_label("Order").select_option("chosen")
    start = console.get_by_role("button", name="Start round", exact=True)
    await expect(start).to_be_disabled()  # nobody picked yet
    # Ben first, then Anna: the order of the ticks, shown as numbers.
    await console.get_by_role("checkbox", name="Ben").check()
    await console.get_by_role("checkbox", name="Anna").check()
    await expect(console.get_by_text("1. Ben")).to_be_visible()
    await expect(console.get_by_text("2. Anna")).to_be_visible()
    await fay.screenshot("facilitation-11-chosen-order")
    await start.click()

    await shows_turn(ben, "Your turn", "Anna")
    await shows_turn(anna, "Ben's turn", "you")
    await ben.page.get_by_role("button", name="Done", exact=True).click()
    await shows_turn(anna, "Your turn", None)
