"""Transport-wide congestion control with real peers over real sockets (issue 17).

A subscriber here answers its subscribe offers accepting the transport-wide
sequence extension and ``transport-cc`` feedback, as Chrome and Firefox do
(aiortc itself does not, so these lines are added to the answer's text), reads
the number on every packet it receives (the test wraps its DTLS transport's
handler of decrypted RTP), and sends feedback written the way a browser writes
it: with the times packets really arrived, or with a queue that builds on the
way. What the server concludes is read from its own state and from what it
tells the subscriber (``video_forwarding``).
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.sfu.transport_cc import OFFERED_EXTENSION_ID, TRANSPORT_CC_URI
from signaling.media import TrackKind, VideoPause
from tests.server.sfu.peers import ROOM, ClientPeer, Session, eventually
from tests.server.sfu.test_transport_cc import build_feedback, rtcp

# How often the subscriber sends feedback (Chrome: every 50-250 ms).
FEEDBACK_INTERVAL_S = 0.1


def transport_number(packet: bytes) -> int | None:
    """The transport-wide sequence number a decrypted RTP packet carries (RFC 8285)."""
    if len(packet) < 12 or not packet[0] & 0x10:
        return None
    at = 12 + 4 * (packet[0] & 0x0F)
    if packet[at : at + 2] != b"\xbe\xde":
        return None
    end = at + 4 + 4 * int.from_bytes(packet[at + 2 : at + 4], "big")
    at += 4
    while at < end:
        if packet[at] == 0:
            at += 1
            continue
        element_id, length = packet[at] >> 4, (packet[at] & 0x0F) + 1
        if element_id == OFFERED_EXTENSION_ID and length == 2:
            return int.from_bytes(packet[at + 1 : at + 3], "big")
        at += 1 + length
    return None


@dataclass
class FeedbackPeer(ClientPeer):
    """A browser's subscribe side as far as transport-wide congestion control goes."""

    # (transport-wide number, when it arrived, payload type) per packet received.
    arrivals: list[tuple[int, float, int]] = field(default_factory=list)
    reported: int = 0
    # The queue the feedback pretends: seconds added to each arrival (a function of now).
    queue_s: Callable[[float], float] = lambda now: 0.0
    feedback_task: asyncio.Task[None] | None = None

    async def answer_offer(self, sdp: str, revision: int, tracks: list[Any]) -> Any:
        answer = await super().answer_offer(sdp, revision, tracks)
        self._read_numbers()
        lines: list[str] = []
        for line in answer.sdp.split("\r\n"):
            lines.append(line)
            if line.startswith("a=mid:"):
                lines.append(f"a=extmap:{OFFERED_EXTENSION_ID} {TRANSPORT_CC_URI}")
            if line.startswith("a=rtpmap:") and " rtx/" not in line:
                lines.append(f"a=rtcp-fb:{line.split()[0][len('a=rtpmap:') :]} transport-cc")
        answer.sdp = "\r\n".join(lines)
        return answer

    def _read_numbers(self) -> None:
        transport: Any = self.subscribe_pc.getTransceivers()[0].receiver.transport
        if getattr(transport, "_test_reads_numbers", False):
            return
        original: Callable[[bytes, int], Awaitable[None]] = transport._handle_rtp_data

        async def handle(data: bytes, arrival_time_ms: int) -> None:
            number = transport_number(data)
            if number is not None:
                self.arrivals.append((number, time.monotonic(), data[1] & 0x7F))
            await original(data, arrival_time_ms)

        transport._handle_rtp_data = handle
        transport._test_reads_numbers = True

    def start_feedback(self) -> None:
        self.feedback_task = asyncio.get_running_loop().create_task(self._send_feedback())

    async def send_rtcp(self, data: bytes) -> None:
        transport: Any = self.subscribe_pc.getTransceivers()[0].receiver.transport
        await transport._send_rtp(data)

    async def _send_feedback(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(FEEDBACK_INTERVAL_S)
            new = sorted(self.arrivals[self.reported :])
            self.reported = len(self.arrivals)
            if not new:
                continue
            base = new[0][0]
            arrived = {number: at for number, at, _ in new}
            span = (new[-1][0] - base) & 0xFFFF
            arrivals: list[int | None] = []
            for offset in range(span + 1):
                at = arrived.get((base + offset) & 0xFFFF)
                arrivals.append(
                    None if at is None else int((at + self.queue_s(at)) * 1e6) // 250 * 250
                )
            fci = build_feedback(base, arrivals, count=count & 0xFF)
            count += 1
            await self.send_rtcp(rtcp(205, 15, struct.pack("!II", 1, 0) + fci))


@pytest.fixture
async def peers(session: Session) -> AsyncIterator[tuple[ClientPeer, FeedbackPeer]]:
    publisher = await session.join(0)
    subscriber = FeedbackPeer(ROOM, "p-1", 1, session.plane)
    session.signals.clients[subscriber.participant_id] = subscriber
    await subscriber.publish()
    await session.plane.subscribe(ROOM, subscriber.participant_id)
    yield publisher, subscriber
    if subscriber.feedback_task is not None:
        subscriber.feedback_task.cancel()


async def test_every_copy_is_numbered_and_feedback_drives_the_budget(
    session: Session, peers: tuple[ClientPeer, FeedbackPeer]
) -> None:
    publisher, subscriber = peers
    subscription = session.plane_subscription(subscriber.participant_id)
    await eventually(lambda: subscription.transport_cc_id == OFFERED_EXTENSION_ID, 10, "consent")

    # Every copy she receives, audio and video alike, carries the next number: one
    # sequence for the connection, nothing skipped, nothing twice.
    await eventually(
        lambda: (
            len({pt for _, _, pt in subscriber.arrivals}) >= 2 and len(subscriber.arrivals) > 200
        ),
        15,
        "audio and video with transport-wide numbers",
    )
    numbers = [number for number, _, _ in subscriber.arrivals]
    first = numbers[0]
    assert [(n - first) & 0xFFFF for n in numbers] == list(range(len(numbers)))

    # Feedback with the true arrival times: the link has room, the server probes.
    subscriber.start_feedback()
    downlink = subscription.downlink
    await eventually(
        lambda: downlink.queue.fresh() and downlink.probing, 10, "the estimate to see a clear link"
    )
    delay = downlink.queue.queue_delay_s()
    assert delay is not None and delay < 0.012
    total, video = downlink.queue.delivered_bps()
    assert 0 < video < total
    videos = session.signals.received_videos(subscriber.participant_id)
    assert videos is None or videos[publisher.participant_id].paused is None

    # The same link with a queue building on the way (60 ms more every second): the
    # server sees it within a few feedbacks and pauses the (single-layer) video for
    # bandwidth, while her audio keeps coming.
    building_from = time.monotonic()
    subscriber.queue_s = lambda at: 0.03 + max(at - building_from, 0.0) * 0.06

    def paused_for_bandwidth() -> bool:
        videos = session.signals.received_videos(subscriber.participant_id)
        return videos is not None and (
            videos[publisher.participant_id].paused is VideoPause.BANDWIDTH
        )

    await eventually(paused_for_bandwidth, 10, "the video paused for bandwidth")
    assert not downlink.probing and not downlink.loss_only
    audio_before = await subscriber.packets_received(publisher.participant_id, TrackKind.AUDIO)
    video_before = await subscriber.packets_received(publisher.participant_id, TrackKind.VIDEO)
    await asyncio.sleep(1.0)  # a second of media, to count what kept coming
    audio_after = await subscriber.packets_received(publisher.participant_id, TrackKind.AUDIO)
    video_after = await subscriber.packets_received(publisher.participant_id, TrackKind.VIDEO)
    assert audio_after - audio_before > 30  # 50 a second of Opus
    assert video_after - video_before < 5


async def test_feedback_no_browser_sends_is_dropped_and_counted_and_changes_nothing(
    session: Session, peers: tuple[ClientPeer, FeedbackPeer]
) -> None:
    publisher, subscriber = peers
    subscription = session.plane_subscription(subscriber.participant_id)
    await eventually(lambda: subscription.transport_cc_id is not None, 10, "consent")
    await eventually(lambda: len(subscriber.arrivals) > 50, 15, "numbered packets")
    stats = session.plane.stats
    dropped = stats.rtcp_dropped
    # A count of 65,535 packets (two run-length chunks claim them all lost).
    claim = struct.pack("!HH", 0, 0xFFFF) + bytes(4) + struct.pack("!HH", 0x1FFF, 0x1FFF)
    await subscriber.send_rtcp(rtcp(205, 15, struct.pack("!II", 1, 0) + claim))
    await eventually(lambda: stats.rtcp_dropped == dropped + 1, 5, "the lie counted")
    assert not subscription.downlink.queue.fresh()  # nothing of it was taken
    # More feedback in a second than a browser sends: what is beyond the allowance is
    # not parsed.
    honest = build_feedback(subscriber.arrivals[-1][0], [int(time.monotonic() * 1e6)])
    for _ in range(80):
        await subscriber.send_rtcp(rtcp(205, 15, struct.pack("!II", 1, 0) + honest))
    await eventually(lambda: stats.rtcp_dropped >= dropped + 1 + 20, 5, "the excess counted")
    # She is still served.
    before = len(subscriber.arrivals)
    await eventually(lambda: len(subscriber.arrivals) > before + 50, 10, "media still flowing")
    assert publisher.participant_id in subscriber.subscribed_to()
