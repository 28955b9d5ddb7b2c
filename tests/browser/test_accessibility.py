"""Accessibility in real browsers: axe-core on every screen (zero serious or critical
findings), live announcements, keyboard-only use, reduced motion, and 200 % zoom in a
360 px window.

Every screen is reached the way people reach it, against the real server: the device
check, the waiting room (with ground rules), the room as member and as facilitator,
the console with a check-in request, the chat, each dialog, the refusal and goodbye
pages, and the operator page.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from rooms import Role
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import OpenPage, Person
from tests.browser.test_group_session import join
from tests.browser.test_operator_page import operator_token
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

STEP_MS = 15_000


async def announced(person: Person, text: str) -> None:
    """The live region said ``text`` (it keeps the latest announcement)."""
    await expect(person.page.locator("#announcements")).to_have_text(text, timeout=STEP_MS)


async def test_every_screen_has_no_serious_accessibility_problem(
    media_server: RunningServer, open_page: OpenPage, browser: Browser
) -> None:
    room = "r-a11y"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await expect(fay.page.get_by_role("heading", name="Before you join")).to_be_visible()
    await fay.page.wait_for_function(
        "() => document.querySelector('.preview video')?.videoWidth > 0", timeout=STEP_MS
    )
    await assert_accessible(fay.page, "device check")
    await join(fay)
    await expect(fay.page.get_by_role("heading", name="Facilitator")).to_be_visible()
    await assert_accessible(fay.page, "the room as facilitator, alone")

    # Ground rules first: the waiting room then asks to accept them.
    await fay.page.get_by_label("Ground rules", exact=True).fill("What is said here stays here.")
    await fay.page.get_by_role("button", name="Save ground rules", exact=True).click()
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await join(anna)
    accept = anna.page.get_by_role("button", name="I accept the ground rules")
    await expect(accept).to_be_visible(timeout=STEP_MS)
    await assert_accessible(anna.page, "waiting room with ground rules")
    await accept.click()
    await expect(anna.page.get_by_text("The facilitator will let you in shortly")).to_be_visible()
    await assert_accessible(anna.page, "waiting room")
    await expect(fay.page.get_by_role("button", name="Admit Anna", exact=True)).to_be_enabled()
    await assert_accessible(fay.page, "console with someone waiting")
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click()
    await expect(anna.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
    ben_token = media_server.token(room, Role.MEMBER, "Ben")
    ben = await open_page(media_server, room, Role.MEMBER, "Ben", token=ben_token)
    await join(ben)
    await ben.page.get_by_role("button", name="I accept the ground rules").click()
    await fay.page.get_by_role("button", name="Admit Ben", exact=True).click()
    await expect(ben.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
    await assert_accessible(anna.page, "the room as member")
    await assert_accessible(fay.page, "the room as facilitator")

    # Dialogs.
    await anna.page.get_by_role("button", name="Ground rules", exact=True).click()
    await expect(anna.page.get_by_role("dialog", name="Our ground rules")).to_be_visible()
    await assert_accessible(anna.page, "ground rules dialog")
    await anna.page.keyboard.press("Escape")
    await anna.page.get_by_role("button", name="Devices", exact=True).click()
    await expect(anna.page.get_by_role("dialog", name="Your devices")).to_be_visible()
    await assert_accessible(anna.page, "devices dialog")
    await anna.page.keyboard.press("Escape")
    await expect(anna.page.get_by_role("dialog")).to_have_count(0)
    await fay.page.get_by_role("button", name="Remove Ben", exact=True).click()
    await expect(fay.page.get_by_role("dialog", name="Remove Ben?")).to_be_visible()
    await assert_accessible(fay.page, "confirm dialog")
    await fay.page.get_by_role("button", name="Cancel", exact=True).click()

    # The check-in request on the console; the spotlight; the ask to unmute.
    await anna.page.get_by_role("button", name="Ask to check in", exact=True).click()
    await expect(fay.page.get_by_role("region", name="Asked to check in")).to_be_visible()
    await assert_accessible(fay.page, "console with a check-in request")
    await assert_accessible(anna.page, "the room with a check-in request open")
    await fay.page.get_by_role("button", name="Spotlight Ben", exact=True).click()
    await expect(anna.page.locator("section.tile.spotlighted")).to_have_count(1)
    await assert_accessible(anna.page, "the room with a spotlight")

    await fay.page.get_by_role("button", name="Mute Anna", exact=True).click()
    # The hearing line, a live region, says it (the announcer does not say it twice).
    await expect(
        anna.page.get_by_role("status").filter(has_text="The facilitator muted you.")
    ).to_be_visible(timeout=STEP_MS)
    assert await anna.page.locator(".hearing").get_attribute("aria-live") == "polite"
    await fay.page.get_by_role("button", name="Ask Anna to unmute", exact=True).click()
    await announced(anna, "Fay asked you to unmute.")
    await expect(anna.page.get_by_role("alertdialog")).to_be_visible()
    await assert_accessible(anna.page, "ask-to-unmute prompt")
    await anna.page.get_by_role("button", name="Stay muted", exact=True).click()

    # A go-around: "Your turn" and "You're next" are said aloud.
    await (
        fay.page.get_by_role("region", name="Who speaks")
        .get_by_role("button", name="Start round", exact=True)
        .click()
    )
    await announced(anna, "Your turn.")
    await announced(ben, "You're next.")
    await assert_accessible(ben.page, "the room during a go-around")
    await fay.page.get_by_role("button", name="End round", exact=True).click()

    # Chat, and messages read out.
    await fay.page.get_by_role("button", name="Chat", exact=True).click()
    await assert_accessible(fay.page, "chat")
    await ben.page.get_by_label("Message to everyone").fill("Hello everyone")
    await ben.page.get_by_role("button", name="Send", exact=True).click()
    await announced(anna, "Ben: Hello everyone")
    await announced(fay, "Ben: Hello everyone")
    await fay.page.get_by_role("button", name="People", exact=True).click()

    # Refusals and goodbyes.
    await fay.page.get_by_role("button", name="Lock room", exact=True).click()
    cleo = await open_page(media_server, room, Role.MEMBER, "Cleo")
    await join(cleo)
    await expect(cleo.page.get_by_role("heading", name="This session is locked")).to_be_visible()
    await assert_accessible(cleo.page, "room locked")
    await fay.page.get_by_role("button", name="Remove Ben", exact=True).click()
    await fay.page.get_by_role("button", name="Yes, remove", exact=True).click()
    await expect(ben.page.get_by_role("heading")).to_contain_text("removed", timeout=STEP_MS)
    await assert_accessible(ben.page, "removed")
    ben_again = await open_page(media_server, room, Role.MEMBER, "Ben", token=ben_token)
    await join(ben_again)
    await expect(
        ben_again.page.get_by_role("heading", name="You cannot rejoin this session")
    ).to_be_visible()
    await assert_accessible(ben_again.page, "barred")
    await fay.page.get_by_role("button", name="End session", exact=True).click()
    await expect(fay.page.get_by_role("dialog")).to_be_visible()
    await assert_accessible(fay.page, "end session dialog")
    await fay.page.get_by_role("button", name="Yes, end the session", exact=True).click()
    await expect(anna.page.get_by_role("heading")).to_contain_text("ended", timeout=STEP_MS)
    await assert_accessible(anna.page, "session ended")

    for label, token in (
        ("no link", ""),
        ("expired link", media_server.token(room, Role.MEMBER, "Dan", ttl_s=-60)),
        ("forged link", media_server.token(room, Role.MEMBER, "Dan")[:-4] + "AAAA"),
    ):
        page = (await open_page(media_server, room, Role.MEMBER, "Dan", token=token)).page
        if token:
            await join(Person("Dan", Role.MEMBER, page.context, page))
        await expect(page.get_by_role("heading")).not_to_have_text("Joining…", timeout=STEP_MS)
        await expect(page.get_by_role("heading", name="Before you join")).to_have_count(0)
        await assert_accessible(page, label)

    # The operator page.
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        operator = await context.new_page()
        await operator.goto(f"{media_server.url}/#operator={operator_token(media_server)}")
        await expect(operator.get_by_role("region", name="Server load")).to_contain_text(
            "% of a core", timeout=STEP_MS
        )
        await assert_accessible(operator, "operator page")
    finally:
        await context.close()


# Every control a mouse user can use, by accessible name: the keyboard must reach each.
_CONTROLS = """() => [...document.querySelectorAll('button, select, textarea, input, a[href]')]
  .filter((el) => !el.disabled && el.offsetParent !== null && !el.closest('[inert]'))
  .map((el) => el.getAttribute('aria-label') || el.textContent.trim() || el.id || el.name
    || el.outerHTML.slice(0, 80))"""

_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    name: el.getAttribute('aria-label') || el.textContent.trim() || el.id || el.name
      || el.outerHTML.slice(0, 80),
    visible: style.outlineStyle !== 'none' || style.boxShadow !== 'none',
  };
}"""


async def tab_through(page: Page, limit: int = 120) -> list[dict[str, Any]]:
    await page.locator("body").focus()
    seen: list[dict[str, Any]] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUSED)
        if focused is None:
            continue
        if seen and focused == seen[0]:
            break
        seen.append(focused)
    return seen


async def test_keyboard_only_reaches_and_works_every_control(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-keys"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await admitted(fay, anna)
    for person in (anna, fay):
        controls = set(await person.page.evaluate(_CONTROLS))
        reached = await tab_through(person.page)
        names = {f["name"] for f in reached}
        assert controls <= names, f"{person.name}: not reachable by Tab: {controls - names}"
        unmarked = [f["name"] for f in reached if not f["visible"]]
        assert unmarked == [], f"{person.name}: no visible focus on {unmarked}"

    # Anna, keyboard only: ask to check in, open and close her devices, raise her hand.
    page = anna.page
    await page.get_by_role("button", name="Ask to check in", exact=True).focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Cancel check-in request")).to_have_attribute(
        "aria-pressed", "true"
    )
    await page.get_by_role("button", name="Devices", exact=True).focus()
    await page.keyboard.press("Space")
    dialog = page.get_by_role("dialog", name="Your devices")
    await expect(dialog).to_be_visible()
    focused_inside = await page.evaluate("() => document.activeElement?.closest('dialog') !== null")
    assert focused_inside, "focus did not move into the dialog"
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await page.get_by_role("button", name="Raise hand", exact=True).focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Lower hand", exact=True)).to_be_visible()
    await expect(fay.page.get_by_role("region", name="Asked to check in")).to_contain_text("Anna")


async def test_reduced_motion_is_respected(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    anna = await open_page(media_server, "r-motion", Role.MEMBER, "Anna")
    await anna.page.emulate_media(reduced_motion="reduce")
    await join(anna)
    await expect(anna.page.get_by_text("The facilitator will let you in shortly")).to_be_visible()
    moving: list[str] = await anna.page.evaluate(
        """() => [...document.querySelectorAll('*')].filter((el) => {
          const style = getComputedStyle(el);
          const animated = style.animationName !== 'none';
          const transition = style.transitionDuration.split(',').some((d) => parseFloat(d) > 0);
          return animated || transition;
        }).map((el) => el.className || el.tagName)"""
    )
    assert moving == [], f"moving with prefers-reduced-motion: {moving}"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.FACILITATOR])
async def test_readable_at_200_percent_zoom_in_a_360_px_window(
    media_server: RunningServer, open_page: OpenPage, role: Role
) -> None:
    """A 360 px window at 200 % zoom lays out 180 CSS pixels: nothing may need a
    sideways scroll, and every control stays on screen."""
    room = f"r-zoom-{role.value}"
    zoomed = {"width": 180, "height": 370}
    if role is Role.FACILITATOR:
        person = await open_page(media_server, room, role, "Fay", viewport=zoomed)
        await assert_fits(person.page, "device check")
        await join(person)
        await expect(person.page.get_by_role("heading", name="Facilitator")).to_be_visible()
    else:
        fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
        await join(fay)
        person = await open_page(media_server, room, role, "Anna", viewport=zoomed)
        await join(person)
        await expect(
            person.page.get_by_text("The facilitator will let you in shortly")
        ).to_be_visible()
        await assert_fits(person.page, "waiting room")
        await fay.page.get_by_role("button", name="Admit all", exact=True).click()
        await expect(person.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
    await person.screenshot(f"a11y-zoom-200-{role.value}")
    await assert_fits(person.page, "the room")


async def assert_fits(page: Page, screen: str) -> None:
    overflow: dict[str, Any] = await page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const wide = [...document.querySelectorAll('button, select, textarea, input, h1, h2, p')]
            .filter((el) => el.offsetParent !== null && !el.closest('.sr-only'))
            .filter((el) => {
              const r = el.getBoundingClientRect();
              return r.left < -1 || r.right > width + 1;
            })
            .map((el) => (el.textContent || el.tagName).trim().slice(0, 40));
          return { scroll: document.documentElement.scrollWidth, width, wide };
        }"""
    )
    assert overflow["scroll"] <= overflow["width"] + 1 and overflow["wide"] == [], (
        screen,
        overflow,
    )
