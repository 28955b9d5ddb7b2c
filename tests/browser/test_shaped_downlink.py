"""A narrow downlink (issue 17): a Chromium subscriber whose link is limited to 1.5 Mbps
in a room of eight publishers keeps its audio whole and the speaker's video moving,
and the server sends it less than the link carries; unlimited, it gets higher layers.

The subscriber's Chromium runs inside a network namespace (``ip netns exec``), reached
from the test's namespace over a veth pair whose near end has a ``tbf`` qdisc: what the
server sends it is shaped there (tests/netns.py ``shaped_link``; ``netem`` is not
available on these machines). The server listens on the near address, so every
client reaches it the same way. Eight publishers: Sam, a facilitator in Chromium
(camera and the fake microphone's beeps: the speaker), and seven simulcast publishers
of aiortc in a process of their own (tests/browser/simulcast_publishers.py).

Every figure comes from the subscriber's own getStats, from the server's own account
of what it sent her, and from the qdisc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from rooms import Role
from server.app import default_media
from server.app_keys import MEDIA
from server.sfu import RtpForwardingMediaPlane
from tests.browser.conftest import (
    MEDIA_TIMEOUT_MS,
    REPO,
    Person,
    fail_on_csp_violations,
    launch_chromium,
    participant_ids,
    wait_for_async,
)
from tests.browser.test_group_session import join
from tests.browser.test_simulcast import join_camera_off
from tests.conftest import RunningServer, start_server, wait_until
from tests.netns import NamespaceUnavailable, ShapedLink, shaped_link

pytestmark = pytest.mark.browser

RATE_KBIT = 1500
PUBLISHERS_IN_PROCESS = 7
# The measuring window: the speaker's frames decoded at 15 fps for this long.
WINDOW_S = 10
READY_TIMEOUT_S = 120.0
ADAPT_TIMEOUT_S = 60.0

# Per publisher, the subscriber's audio and video counters.
_COUNTERS = """async () => {
  const stats = await window.groupsession.inboundStats();
  const out = {};
  for (const [pid, s] of Object.entries(stats)) {
    out[pid] = {
      concealed: s.audio ? s.audio.concealedSamples : 0,
      samples: s.audio ? s.audio.totalSamplesReceived : 0,
      audioPackets: s.audio ? s.audio.packetsReceived : 0,
      frames: s.video ? s.video.framesDecoded : 0,
      width: s.video ? s.video.frameWidth : 0,
    };
  }
  return { at: performance.now(), stats: out,
           forwarding: window.groupsession.state().videoForwarding };
}"""


@pytest.fixture
def link() -> Iterator[ShapedLink]:
    try:
        with shaped_link("gsd") as made:
            yield made
    except NamespaceUnavailable as error:
        pytest.skip(f"no network namespace here: {error}")


@pytest.fixture
async def server(tmp_path: Path, web_dist: Path, link: ShapedLink) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(
        tmp_path, media_factory=default_media, web_dir=web_dist, host=link.near
    )
    yield running
    await runner.cleanup()


class Publishers:
    """The seven simulcast publishers' process."""

    def __init__(self, server: RunningServer, room: str) -> None:
        tokens = [
            server.token(room, Role.MEMBER, f"Publisher {i + 1}")
            for i in range(PUBLISHERS_IN_PROCESS)
        ]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.browser.simulcast_publishers", server.url, *tokens],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def said(self, key: str) -> list[str]:
        """The ids of its line ``{key: [...]}``, waited for (its stderr if it exits)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(
                asyncio.to_thread(stdout.readline), deadline - time.monotonic()
            )
            if not line:
                break
            if line.startswith("{") and key in (said := json.loads(line)):
                return list(said[key])
        stderr = self.process.stderr.read() if self.process.stderr is not None else ""
        raise AssertionError(f"the publishers never said {key!r}:\n{stderr[-4000:]}")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def open_person(
    browser: Browser, server: RunningServer, room: str, role: Role, name: str
) -> Person:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    page = await context.new_page()
    person = Person(name, role, context, page)
    page.on("console", lambda m: person.console.append(f"{m.type}: {m.text}"))
    await page.goto(f"{server.url}/#token={server.token(room, role, name)}")
    return person


def bytes_sent_to(plane: RtpForwardingMediaPlane, room: str, pid: str) -> int:
    """What the server has handed the network for her (every slot of her subscription)."""
    participant = plane._existing_participant(room, pid)
    assert participant is not None and participant.subscription is not None
    return sum(
        slot.output.bytes_sent for slot in participant.subscription.slots if slot.output is not None
    )


def sending_kbps(plane: RtpForwardingMediaPlane, room: str, pid: str) -> float:
    """The server's own figure of what it sent her over its last few seconds."""
    quality = plane.connection_quality(room, pid)
    return float("inf") if quality is None else quality.bitrate_down_kbps


async def counters(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = await page.evaluate(_COUNTERS)
    return found


async def window(
    page: Page, plane: RtpForwardingMediaPlane, link: ShapedLink, room: str, vic: str, sam: str
) -> dict[str, Any]:
    """Figures over the time Sam's video takes to decode ``WINDOW_S`` seconds at 15 fps."""
    before = await counters(page)
    sent_before = bytes_sent_to(plane, room, vic)
    wire_before, drops_before = link.sent_bytes(), link.qdisc_drops()
    await wait_for_async(
        page,
        """async ([pid, base, rise]) => {
          const video = ((await window.groupsession.inboundStats())[pid] || {}).video;
          return video !== null && video !== undefined && video.framesDecoded >= base + rise;
        }""",
        [sam, before["stats"][sam]["frames"], 15 * WINDOW_S],
        timeout_ms=MEDIA_TIMEOUT_MS * 2,
    )
    after = await counters(page)
    sent_after = bytes_sent_to(plane, room, vic)
    wire_after, drops_after = link.sent_bytes(), link.qdisc_drops()
    seconds = (after["at"] - before["at"]) / 1000
    concealed = samples = 0
    for pid, now in after["stats"].items():
        then = before["stats"].get(pid, {"concealed": 0, "samples": 0})
        concealed += now["concealed"] - then["concealed"]
        samples += now["samples"] - then["samples"]
    sam_then, sam_now = before["stats"][sam], after["stats"][sam]
    # Counters only fall if her connections were made anew (a media recovery) meanwhile.
    restarted = any(
        after["stats"].get(pid, {}).get("samples", 0) < then["samples"]
        for pid, then in before["stats"].items()
    )
    sam_samples = sam_now["samples"] - sam_then["samples"]
    return {
        "restarted": restarted,
        "speaker_concealed_ratio": (
            (sam_now["concealed"] - sam_then["concealed"]) / sam_samples if sam_samples else None
        ),
        "seconds": round(seconds, 1),
        "concealed_ratio": concealed / samples if samples else None,
        "audio_streams": sum(1 for s in after["stats"].values() if s["samples"] > 0),
        "speaker_fps": (sam_now["frames"] - sam_then["frames"]) / seconds,
        "speaker_width": sam_now["width"],
        "server_kbps": (sent_after - sent_before) * 8 / seconds / 1000,
        "wire_kbps": (wire_after - wire_before) * 8 / seconds / 1000,
        "qdisc_drops": drops_after - drops_before,
        "forwarding": after["forwarding"],
    }


async def test_a_narrow_downlink_keeps_audio_and_the_speaker(
    server: RunningServer, link: ShapedLink, chromium_path: str, tmp_path: Path
) -> None:
    room = "r-narrow"
    plane = server.app[MEDIA]
    assert isinstance(plane, RtpForwardingMediaPlane)
    # The subscriber's Chromium, started inside the namespace.
    inside = tmp_path / "chromium-inside"
    inside.write_text(f'#!/bin/sh\nexec {" ".join(link.command(chromium_path))} "$@"\n')
    inside.chmod(0o755)
    # Pages from http://10.204.N.1 are no secure context: allow the camera there anyway.
    secure = [f"--unsafely-treat-insecure-origin-as-secure={server.url}"]
    publishers: Publishers | None = None
    async with async_playwright() as playwright:
        outside, outside_csp = await launch_chromium(playwright, chromium_path, secure)
        shaped, shaped_csp = await launch_chromium(playwright, str(inside), secure)
        try:
            # Her link is narrow from the start, as a home or mobile link would be.
            link.limit(RATE_KBIT)
            sam = await open_person(outside, server, room, Role.FACILITATOR, "Sam")
            await join(sam)
            vic = await open_person(shaped, server, room, Role.MEMBER, "Vic")
            await join_camera_off(vic)
            publishers = Publishers(server, room)
            await publishers.said("joined")
            await expect(
                sam.page.get_by_role("button", name="Admit Vic", exact=True)
            ).to_be_visible()
            for i in range(PUBLISHERS_IN_PROCESS):
                await expect(
                    sam.page.get_by_role("button", name=f"Admit Publisher {i + 1}", exact=True)
                ).to_be_visible()
            await sam.page.get_by_role("button", name="Admit all", exact=True).click()
            await expect(vic.page.get_by_role("button", name="Leave", exact=True)).to_be_visible()
            assert len(await publishers.said("ready")) == PUBLISHERS_IN_PROCESS
            ids = await participant_ids(vic.page)
            sam_id, vic_id = ids["Sam"], ids["Vic"]
            # Everyone's audio and Sam's video reach her.
            await wait_for_async(
                vic.page,
                """async ([sam, count]) => {
                  const stats = await window.groupsession.inboundStats();
                  const hearing = Object.values(stats)
                    .filter((s) => s.audio && s.audio.packetsReceived > 50);
                  return hearing.length >= count && stats[sam] && stats[sam].video
                    && stats[sam].video.framesDecoded > 20;
                }""",
                [sam_id, PUBLISHERS_IN_PROCESS + 1],
                timeout_ms=MEDIA_TIMEOUT_MS * 2,
            )

            # The server learns the link from her REMBs and loss: once what it sent her
            # over its last few seconds fits, a window is measured.
            await wait_until(
                lambda: sending_kbps(plane, room, vic_id) < RATE_KBIT * 0.9,
                ADAPT_TIMEOUT_S,
                "the server's rate to the shaped subscriber to come under the limit",
            )
            narrow = await window(vic.page, plane, link, room, vic_id, sam_id)
            print("narrow downlink:", json.dumps(narrow))
            await vic.screenshot("narrow-01-shaped")
            assert not narrow["restarted"], narrow
            assert narrow["audio_streams"] == PUBLISHERS_IN_PROCESS + 1, narrow
            # Audio first: the speaker's, and everyone's.
            ratio = narrow["speaker_concealed_ratio"]
            assert ratio is not None and ratio < 0.02, narrow
            assert narrow["concealed_ratio"] is not None and narrow["concealed_ratio"] < 0.02, (
                narrow
            )
            assert narrow["speaker_fps"] >= 15, narrow
            assert narrow["server_kbps"] < RATE_KBIT, narrow

            # The same subscriber, unshaped: higher layers, nothing paused for bandwidth.
            link.unlimit()
            await vic.page.wait_for_function(
                """() => {
                  const videos = Object.values(window.groupsession.state().videoForwarding);
                  return videos.length > 0 && videos.every((v) => v.paused !== "bandwidth")
                    && videos.some((v) => v.layer === "h" || v.layer === "f");
                }""",
                timeout=MEDIA_TIMEOUT_MS * 2,
                polling=500,
            )
            wide = await window(vic.page, plane, link, room, vic_id, sam_id)
            print("open downlink:", json.dumps(wide))
            assert not wide["restarted"], wide
            assert wide["server_kbps"] > narrow["server_kbps"], (narrow, wide)
        finally:
            if publishers is not None:
                publishers.stop()
            await outside.close()
            await shaped.close()
    fail_on_csp_violations(outside_csp + shaped_csp)
