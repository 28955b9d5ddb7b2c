"""Switching microphone, camera and speaker in the room, in real browsers.

Chromium's fake devices (``device-count=3``: three cameras, three microphones, three
speakers). ``fake_device_1`` is a depth camera: its 16-bit greyscale (Y16) frames play
in a <video> but Chromium's WebRTC sender drops them before the encoder, so the client
finds that its picture never reaches the encoder and goes back to the camera before.
``fake_device_0`` and ``fake_device_2`` are colour cameras. Anna switches camera and
microphone mid-session: her encoder keeps encoding and the facilitator keeps decoding
her (getStats), nothing is renegotiated (no second ``publish``, no new
``subscriber_offer``) and nobody sees her leave. A microphone the facilitator muted
stays muted on the new device. A camera that disappears is replaced by the default
with a notice. The facilitator chooses another speaker (setSinkId).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from playwright.async_api import Page, WebSocket, expect

from rooms import Role
from tests.browser.conftest import (
    MEDIA_TIMEOUT_MS,
    OpenPage,
    Person,
    participant_ids,
    wait_for_async,
)
from tests.browser.test_group_session import join, plays_video_of, wait_until_rises
from tests.browser.test_pages import admitted
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

STEP_MS = 15_000
_EVENT_NAME = re.compile(r'^4\d*\["([a-z_]+)"')


def count_socket_events(page: Page) -> Counter[str]:
    """Socket.IO event names this page sends and receives, counted from its WebSocket frames."""
    counts: Counter[str] = Counter()

    def on_frame(payload: str | bytes) -> None:
        match = _EVENT_NAME.match(payload if isinstance(payload, str) else "")
        if match is not None:
            counts[match[1]] += 1

    def on_socket(socket: WebSocket) -> None:
        socket.on("framesent", on_frame)
        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return counts


async def local_track(person: Person, kind: str) -> dict[str, Any]:
    tracks: list[dict[str, Any]] = await person.page.evaluate("window.groupsession.localTracks()")
    [track] = [t for t in tracks if t["kind"] == kind]
    return track


async def uses(person: Person, kind: str, label: str) -> None:
    """Wait until this person's page sends a ``kind`` track from the device ``label``."""
    await person.page.wait_for_function(
        """([kind, label]) => window.groupsession.localTracks()
            .some((t) => t.kind === kind && t.label === label && t.readyState === "live")""",
        arg=[kind, label],
        timeout=STEP_MS,
    )


# True once this page's camera has encoded ``rise`` more frames (all layers together)
# than at the first call: its encoder takes the new camera's picture.
_ENCODES = """async (rise) => {
  const layers = await window.groupsession.outboundLayers();
  const frames = layers.reduce((sum, layer) => sum + layer.framesEncoded, 0);
  if (window.__encodedFrom === undefined) window.__encodedFrom = frames;
  return frames - window.__encodedFrom >= rise;
}"""


async def encodes(person: Person, rise: int) -> None:
    """Wait until ``person``'s camera encoder has encoded ``rise`` more frames."""
    await wait_for_async(person.page, _ENCODES, rise)
    await person.page.evaluate("() => delete window.__encodedFrom")


async def test_switching_devices_in_the_room(
    media_server: RunningServer, open_page: OpenPage
) -> None:
    room = "r-devices"
    fay = await open_page(media_server, room, Role.FACILITATOR, "Fay")
    fay_events = count_socket_events(fay.page)
    await join(fay)
    anna = await open_page(media_server, room, Role.MEMBER, "Anna")
    anna_events = count_socket_events(anna.page)
    await admitted(fay, anna)
    anna_id = (await participant_ids(fay.page))["Anna"]
    await plays_video_of(fay, anna, anna_id)
    await wait_until_rises(fay.page, anna_id, "audio", "packetsReceived", 20)
    assert (await local_track(anna, "video"))["label"] == "fake_device_0"
    assert anna_events["publish"] == 1
    offers_before = fay_events["subscriber_offer"]

    # Anna opens her devices and picks the depth camera: its picture cannot be sent, so
    # her previous camera comes back, with a notice, and Fay keeps receiving her.
    await anna.page.get_by_role("button", name="Devices", exact=True).click()
    dialog = anna.page.get_by_role("dialog", name="Your devices")
    await dialog.get_by_label("Camera").select_option(label="fake_device_1")
    await expect(
        anna.page.get_by_text("Others could not see that camera's picture", exact=False)
    ).to_be_visible(timeout=STEP_MS)
    await uses(anna, "video", "fake_device_0")
    await encodes(anna, 20)
    await wait_until_rises(fay.page, anna_id, "video", "framesDecoded", 20)

    # She picks the third camera (a colour one) and another microphone.
    await dialog.get_by_label("Camera").select_option(label="fake_device_2")
    await uses(anna, "video", "fake_device_2")
    await dialog.get_by_label("Microphone").select_option(label="Fake Audio Input 1")
    await uses(anna, "audio", "Fake Audio Input 1")
    await anna.screenshot("devices-01-dialog")
    await dialog.get_by_role("button", name="Close", exact=True).click()

    # Her encoder takes the new camera's picture, and Fay keeps receiving both, on the
    # same connection: no renegotiation, no leave.
    await encodes(anna, 30)
    await wait_until_rises(fay.page, anna_id, "video", "framesDecoded", 30)
    await wait_until_rises(fay.page, anna_id, "audio", "packetsReceived", 50)
    assert anna_events["publish"] == 1
    assert fay_events["subscriber_offer"] == offers_before
    assert fay_events["participant_left"] == 0 and fay_events["participant_admitted"] == 1
    # Anna's own view shows the new camera.
    await anna.page.wait_for_function(
        "() => document.querySelector('section.tile video.mirrored')?.videoWidth > 0",
        timeout=MEDIA_TIMEOUT_MS,
    )

    # The facilitator mutes Anna; she switches microphone: it stays muted and held.
    await fay.page.get_by_role("button", name="Mute Anna", exact=True).click()
    await expect(anna.page.get_by_text("The facilitator muted you.", exact=False)).to_be_visible(
        timeout=STEP_MS
    )
    await anna.page.get_by_role("button", name="Devices", exact=True).click()
    await dialog.get_by_label("Microphone").select_option(label="Fake Audio Input 2")
    await uses(anna, "audio", "Fake Audio Input 2")
    assert (await local_track(anna, "audio"))["enabled"] is False
    state: Any = await anna.page.evaluate("window.groupsession.state()")
    assert state["me"]["microphone"] == {"on": False, "held": True}
    await expect(anna.page.get_by_role("button", name="Unmute microphone")).to_be_disabled()
    await dialog.get_by_role("button", name="Close", exact=True).click()
    assert anna_events["publish"] == 1

    # Fay plays the group's sound on another speaker.
    await fay.page.get_by_role("button", name="Devices", exact=True).click()
    fay_dialog = fay.page.get_by_role("dialog", name="Your devices")
    await fay_dialog.get_by_label("Speaker").select_option(label="Fake Audio Output 1")
    chosen = await fay_dialog.get_by_label("Speaker").input_value()
    tile_video = fay.page.get_by_role("region", name="Anna", exact=True).locator("video")
    await expect(tile_video).to_have_js_property("sinkId", chosen, timeout=STEP_MS)
    await fay_dialog.get_by_role("button", name="Close", exact=True).click()

    # Anna turns her camera off and picks the depth camera: it stays off (nothing to
    # check in black frames). Turned on, its picture does not reach her encoder, so the
    # camera that worked comes back.
    await anna.page.get_by_role("button", name="Turn camera off", exact=True).click()
    await expect(anna.page.get_by_role("button", name="Turn camera on")).to_be_visible()
    await anna.page.get_by_role("button", name="Devices", exact=True).click()
    await dialog.get_by_label("Camera").select_option(label="fake_device_1")
    await uses(anna, "video", "fake_device_1")
    assert (await local_track(anna, "video"))["enabled"] is False
    state = await anna.page.evaluate("window.groupsession.state()")
    assert state["me"]["camera"]["on"] is False
    await dialog.get_by_role("button", name="Close", exact=True).click()
    await anna.page.get_by_role("button", name="Turn camera on", exact=True).click()
    await expect(
        anna.page.get_by_text("Others could not see that camera's picture", exact=False)
    ).to_be_visible(timeout=STEP_MS)
    await uses(anna, "video", "fake_device_2")
    assert (await local_track(anna, "video"))["enabled"] is True
    await encodes(anna, 20)
    await wait_until_rises(fay.page, anna_id, "video", "framesDecoded", 20)
    assert anna_events["publish"] == 1

    # Anna's camera disappears (as if unplugged): the default camera takes over.
    await anna.page.evaluate(
        """() => {
          const devices = navigator.mediaDevices;
          const enumerate = devices.enumerateDevices.bind(devices);
          devices.enumerateDevices = async () =>
            (await enumerate()).filter((d) => d.label !== "fake_device_2");
          devices.dispatchEvent(new Event("devicechange"));
        }"""
    )
    await expect(
        anna.page.get_by_text("Your camera was disconnected. Now using fake_device_0.")
    ).to_be_visible(timeout=STEP_MS)
    assert (await local_track(anna, "video"))["label"] == "fake_device_0"
    await encodes(anna, 30)
    await wait_until_rises(fay.page, anna_id, "video", "framesDecoded", 30)
    assert anna_events["publish"] == 1 and fay_events["participant_left"] == 0
