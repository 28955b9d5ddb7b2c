"""A member's connection drops in a real browser: the room sees their tile as
reconnecting, their raised hand and their round turn stay theirs, they see their own
"reconnecting…" state, and when the network comes back they are back in place, as
themselves, without passing through the waiting room. Real server and media plane."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from rooms import Role
from server.app_keys import MEDIA
from server.sfu.plane import RtpForwardingMediaPlane
from tests.browser.conftest import OpenPage, Person, participant_ids
from tests.browser.test_facilitation import go_around
from tests.browser.test_group_session import _TRACK_SOCKETS as TRACK_SOCKETS
from tests.browser.test_group_session import join, plays_video_of, wait_until_rises
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer, wait_until

pytestmark = pytest.mark.browser

STEP_MS = 20_000


async def in_room(person: Person) -> None:
    await expect(person.page.get_by_role("button", name="Mute microphone")).to_be_visible(
        timeout=STEP_MS
    )


async def test_a_dropped_member_keeps_hand_and_turn_and_comes_back_in_place(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "dropped"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay Facilitator")
    await join(fay)
    await in_room(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await anna.page.add_init_script(TRACK_SOCKETS)
    await anna.page.reload()
    ben = await open_page(media_server, room, Role.MEMBER, "Ben")
    await admitted(fay, anna, ben)
    for member in (anna, ben):
        await in_room(member)
    anna_id = (await anna.page.evaluate("window.groupsession.state()"))["me"]["participant_id"]

    await anna.page.get_by_role("button", name="Raise hand", exact=True).click()
    await ben.page.get_by_role("button", name="Raise hand", exact=True).click()
    anna_on_fay = fay.page.get_by_role("region", name="Anna", exact=True)
    await expect(anna_on_fay.get_by_text("Hand raised (1st)")).to_be_visible(timeout=STEP_MS)
    console = fay.page.get_by_role("region", name="Who speaks")
    await console.get_by_label("Order").select_option("join")
    await console.get_by_role("button", name="Start round", exact=True).click()
    banner = go_around(fay.page).locator(".whose-turn")
    await expect(banner).to_have_text("Anna's turn", timeout=STEP_MS)

    # The network goes: the page cannot reach the server, and its socket is closed.
    await anna.context.set_offline(True)
    await anna.page.evaluate("window.__sockets.forEach((s) => s.close())")
    await expect(anna_on_fay.get_by_text("Reconnecting…")).to_be_visible(timeout=STEP_MS)
    await expect(ben.page.get_by_role("region", name="Anna", exact=True)).to_contain_text(
        "Reconnecting…", timeout=STEP_MS
    )
    # Anna sees her own state, with the attempts counted.
    own = anna.page.locator(".callout.reconnecting")
    await expect(own).to_contain_text("Reconnecting…", timeout=STEP_MS)
    await expect(own).to_contain_text("attempt", timeout=STEP_MS)
    # Her hand and her turn are kept meanwhile.
    await expect(anna_on_fay.get_by_text("Hand raised (1st)")).to_be_visible()
    await expect(banner).to_have_text("Anna's turn")
    await fay.screenshot("reconnecting-01-facilitator-sees-anna-reconnecting")
    await anna.screenshot("reconnecting-02-anna-reconnecting")

    # The network comes back: Anna is back in place, as herself, not in the waiting room.
    await anna.context.set_offline(False)
    await expect(own).to_have_count(0, timeout=STEP_MS)
    await expect(anna_on_fay.get_by_text("Reconnecting…")).to_have_count(0, timeout=STEP_MS)
    await in_room(anna)
    state = await anna.page.evaluate("window.groupsession.state()")
    assert state["me"]["participant_id"] == anna_id
    assert state["phase"] == "in_room"
    await expect(anna_on_fay.get_by_text("Hand raised (1st)")).to_be_visible()
    await expect(go_around(anna.page).locator(".whose-turn")).to_have_text("Your turn")
    await go_around(anna.page).get_by_role("button", name="Done", exact=True).click()
    await expect(banner).to_have_text("Ben's turn", timeout=STEP_MS)
    assert media_server.room(room).participant(anna_id).reconnecting is False
    # Her media was negotiated again over the new connection: Fay sees her video.
    video = await anna_on_fay.locator("video").element_handle()
    await fay.page.wait_for_function("(v) => v.videoWidth > 0", arg=video, timeout=STEP_MS)
    assert not [e for e in fay.console if "participant_left" in e]


async def test_media_that_dies_under_a_live_socket_is_negotiated_again(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    """Only the media path breaks: the server's ICE transport of Anna's publish
    connection is closed from here while her socket stays up. The server drops her
    connections and says so; her page negotiates new ones over the same socket, without
    leaving the room, and Fay sees her video again."""
    room = "media-dies"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    await join(fay)
    await in_room(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    await anna.page.add_init_script(TRACK_SOCKETS)
    await anna.page.reload()
    await admitted(fay, anna)
    ids = await participant_ids(fay.page)
    await plays_video_of(fay, anna, ids["Anna"])

    plane = media_server.app[MEDIA]
    assert isinstance(plane, RtpForwardingMediaPlane)
    publish_pc = plane._rooms[room][ids["Anna"]].publish_pc
    assert publish_pc is not None
    [ice] = {t.receiver.transport.transport for t in publish_pc.getTransceivers()}
    await ice.stop()

    def fresh_publish() -> bool:
        media = plane._rooms.get(room, {}).get(ids["Anna"])
        pc = None if media is None else media.publish_pc
        return pc is not None and pc is not publish_pc and pc.connectionState == "connected"

    # Her page negotiates a new publish connection over the same socket...
    await wait_until(fresh_publish, timeout=30, what="Anna's new publish connection")
    assert plane.media_failures >= 1
    # ...and Fay sees her video again, frames decoded from it.
    await wait_until_rises(fay.page, ids["Anna"], "video", "framesDecoded", 10)
    # The socket never dropped: one WebSocket, and no drop in the room's record.
    assert await anna.page.evaluate("window.__sockets.length") == 1
    actions = {(r.target_id, r.action) for r in media_server.room(room).audit}
    assert (ids["Anna"], "connection_lost") not in actions
    # The room saw her reconnecting meanwhile, and sees her present again now.
    assert (ids["Anna"], "media_lost") in actions and (ids["Anna"], "media_restored") in actions
    assert media_server.room(room).participant(ids["Anna"]).reconnecting is False
    anna_on_fay = fay.page.get_by_role("region", name="Anna", exact=True)
    await expect(anna_on_fay.get_by_text("Reconnecting…")).to_have_count(0, timeout=STEP_MS)
