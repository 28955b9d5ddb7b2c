"""The screens around the room: bad links, ground rules, chat, a phone-sized window."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from rooms import Role
from tests.browser.conftest import OpenPage, Person
from tests.browser.test_group_session import join
from tests.conftest import ADMIN_KEY, RunningServer

pytestmark = pytest.mark.browser


async def admitted(fay: Person, *members: Person) -> None:
    """Members join and wait; the facilitator admits them all."""
    for member in members:
        await join(member)
        await expect(
            member.page.get_by_text("The facilitator will let you in shortly")
        ).to_be_visible()
    for member in members:
        await expect(
            fay.page.get_by_role("button", name=f"Admit {member.name}", exact=True)
        ).to_be_visible()
    await fay.page.get_by_role("button", name="Admit all", exact=True).click()
    for member in members:
        await expect(member.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()


async def test_an_expired_link_says_so(media_server: RunningServer, open_page: OpenPage) -> None:
    expired = media_server.token("r-expired", Role.MEMBER, "Anna", ttl_s=-60)
    anna = await open_page(media_server, "r-expired", Role.MEMBER, "Anna", token=expired)
    await expect(anna.page.get_by_text("This link looks out of date")).to_be_visible()
    await join(anna)
    await expect(anna.page.get_by_role("heading", name="This link has expired")).to_be_visible()
    await anna.screenshot("20-link-expired")


async def test_a_forged_link_does_not_work(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    real = media_server.token("r-forged", Role.MEMBER, "Anna")
    header, claims, _ = real.split(".")
    anna = await open_page(
        media_server,
        "r-forged",
        Role.MEMBER,
        "Anna",
        token=f"{header}.{claims}.bm90LXRoZS1zaWduYXR1cmU",
    )
    await join(anna)
    await expect(anna.page.get_by_role("heading", name="This link does not work")).to_be_visible()


async def test_without_a_link_the_page_explains(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    anna = await open_page(media_server, "r", Role.MEMBER, "Anna", token="")
    await expect(anna.page.get_by_role("heading", name="You need a join link")).to_be_visible()


async def test_a_locked_room_turns_newcomers_away(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    fay = await open_page(media_server, "r-locked", Role.FACILITATOR, "Fay")
    await join(fay)
    await fay.page.get_by_role("button", name="Lock room", exact=True).click()
    await expect(fay.page.get_by_role("button", name="Unlock room", exact=True)).to_be_visible()
    anna = await open_page(media_server, "r-locked", Role.MEMBER, "Anna")
    await join(anna)
    await expect(anna.page.get_by_role("heading", name="This session is locked")).to_be_visible()


async def test_ground_rules_are_accepted_before_admission(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{media_server.url}/api/rooms",
            json={
                "room_id": "r-rules",
                "ground_rules": "What is said here stays here.\nOne voice at a time.",
            },
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert response.status == 201, await response.text()
    fay = await open_page(media_server, "r-rules", Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, "r-rules", Role.MEMBER, "Anna")
    await join(anna)
    await expect(anna.page.get_by_text("What is said here stays here.")).to_be_visible()
    admit = fay.page.get_by_role("button", name="Admit Anna", exact=True)
    await expect(admit).to_be_disabled()
    await expect(fay.page.get_by_text("Reading the ground rules")).to_be_visible()
    await anna.screenshot("21-ground-rules")
    await anna.page.get_by_role("button", name="I accept the ground rules").click()
    await expect(anna.page.get_by_text("The facilitator will let you in shortly")).to_be_visible()
    await expect(admit).to_be_enabled()
    await admit.click()
    await expect(anna.page.get_by_role("region", name="Fay", exact=True)).to_be_visible()
    # In the room the rules stay one click away.
    await anna.page.get_by_role("button", name="Ground rules", exact=True).click()
    rules = anna.page.get_by_role("dialog", name="Our ground rules")
    await expect(rules).to_be_visible()
    await expect(rules.get_by_text("One voice at a time.")).to_be_visible()
    await anna.screenshot("22-ground-rules-in-the-room")
    await rules.get_by_role("button", name="Close", exact=True).click()
    await expect(rules).to_be_hidden()


async def test_chat_to_the_room_and_privately_to_the_facilitators(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-chat"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    await fay.page.get_by_role("button", name="Chat", exact=True).click()

    await anna.page.get_by_label("Message to everyone").fill("Hello everyone")
    await anna.page.get_by_role("button", name="Send", exact=True).click()
    for person in (fay, ben):
        await expect(person.page.get_by_role("list", name="Messages")).to_contain_text(
            "Hello everyone"
        )

    await anna.page.get_by_label("Only to the facilitators").check()
    await anna.page.get_by_label("Message to the facilitators").fill("A private word")
    await anna.page.get_by_role("button", name="Send", exact=True).click()
    await expect(fay.page.get_by_role("list", name="Messages")).to_contain_text("A private word")
    await expect(anna.page.get_by_role("list", name="Messages")).to_contain_text("A private word")
    await fay.screenshot("22-chat-facilitator")

    # The facilitator turns member chat off: members can still write privately.
    await fay.page.get_by_role("button", name="People", exact=True).click()
    chat_toggle = fay.page.get_by_role("button", name="Members may chat", exact=True)
    await expect(chat_toggle).to_have_attribute("aria-pressed", "true")
    await chat_toggle.click()
    await expect(chat_toggle).to_have_attribute("aria-pressed", "false")
    await expect(ben.page.get_by_text("The facilitator has turned group chat off")).to_be_visible()
    await expect(ben.page.get_by_label("Message to the facilitators")).to_be_visible()
    # Ben never saw the private message.
    await expect(ben.page.get_by_role("list", name="Messages")).not_to_contain_text(
        "A private word"
    )
    await ben.screenshot("23-chat-off-member")


async def test_a_phone_sized_window_and_the_keyboard(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-phone"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    phone = {"width": 360, "height": 740}
    anna = await open_page(media_server, room, Role.MEMBER, "Anna Maria Lindqvist", viewport=phone)
    page = anna.page
    join_button = page.get_by_role("button", name="Join", exact=True)
    await expect(join_button).to_be_enabled(timeout=10_000)
    await anna.screenshot("30-phone-device-check")
    # Keyboard only: tab to Join and press Enter.
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await join_button.evaluate("(b) => b === document.activeElement"):
            break
    await expect(join_button).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("The facilitator will let you in shortly")).to_be_visible()
    await anna.screenshot("31-phone-waiting")
    await fay.page.get_by_role("button", name="Admit Anna Maria Lindqvist", exact=True).click()
    mute = page.get_by_role("button", name="Mute microphone", exact=True)
    await expect(mute).to_be_visible()
    await expect(page.get_by_role("region", name="Fay", exact=True)).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    for name in ("Mute microphone", "Turn camera off", "Raise hand", "Leave"):
        await expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    await mute.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Unmute microphone", exact=True)).to_be_visible()
    await expect(page.get_by_text("You are muted. No one can hear you.")).to_be_visible()
    await anna.screenshot("32-phone-room")
    await page.get_by_role("button", name="Leave", exact=True).click()
    await expect(page.get_by_role("heading", name="You have left the session")).to_be_visible()
    await expect(
        fay.page.get_by_role("region", name="Anna Maria Lindqvist", exact=True)
    ).to_have_count(0)
