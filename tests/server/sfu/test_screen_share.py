"""A shared screen: a publisher's third track, video flagged as a screen, forwarded only
while the room says so, with real aiortc peers."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from aiortc import RTCRtpReceiver, RTCSessionDescription

from signaling.media import (
    ForwardedTrack,
    ForwardingPermission,
    InvalidSessionDescription,
    SessionDescription,
    TrackKind,
)
from tests.server.sfu.peers import (
    COLOURS,
    ROOM,
    ClientPeer,
    ColourTrack,
    Session,
    eventually,
    eventually_async,
)

SHARING = ForwardingPermission(audio=True, video=True, screen=True)
NOT_SHARING = ForwardingPermission(audio=True, video=True, screen=False)


async def share_screen(client: ClientPeer) -> str:
    """Add a third transceiver (the screen) and offer again naming it; its mid."""
    transceiver = client.publish_pc.addTransceiver(ColourTrack(COLOURS[4]), direction="sendonly")
    await client.publish_pc.setLocalDescription(await client.publish_pc.createOffer())
    local = client.publish_pc.localDescription
    mid = transceiver.mid
    assert mid is not None
    answer = await client.plane.publish(
        ROOM, client.participant_id, SessionDescription(local.sdp, "offer"), screen_mid=mid
    )
    await client.publish_pc.setRemoteDescription(RTCSessionDescription(answer.sdp, answer.type))
    return mid


def screen_of(viewer: ClientPeer, publisher_id: str) -> tuple[ForwardedTrack, RTCRtpReceiver]:
    for transceiver in viewer.subscribe_pc.getTransceivers():
        forwarded = viewer.tracks_by_mid.get(transceiver.mid or "")
        if forwarded and forwarded.participant_id == publisher_id and forwarded.screen:
            receiver: RTCRtpReceiver = transceiver.receiver
            return forwarded, receiver
    raise LookupError("no screen track")


async def packets(receiver: RTCRtpReceiver) -> int:
    stats = await receiver.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")


async def test_a_screen_is_a_third_track_forwarded_while_the_room_allows_it(
    session: Session,
) -> None:
    sharer = await session.join(0)
    viewer = await session.join(1)
    session.plane.set_forwarding(ROOM, sharer.participant_id, NOT_SHARING)
    await share_screen(sharer)

    await eventually(
        lambda: any(t.screen for t in viewer.tracks_by_mid.values()),
        timeout=20,
        what="the viewer told which track is the screen",
    )
    forwarded, receiver = screen_of(viewer, sharer.participant_id)
    assert forwarded.kind is TrackKind.VIDEO
    camera = [t for t in viewer.tracks_by_mid.values() if t.participant_id == sharer.participant_id]
    assert sorted((t.kind.value, t.screen) for t in camera) == [
        ("audio", False),
        ("video", False),
        ("video", True),
    ]
    # Not sharing yet in the room: nothing of the screen flows.
    await eventually(
        lambda: viewer.reception(sharer.participant_id, TrackKind.VIDEO).frames >= 5,
        timeout=20,
        what="the camera flowing",
    )
    assert await packets(receiver) == 0

    session.plane.set_forwarding(ROOM, sharer.participant_id, SHARING)
    await eventually_async(
        rises_by(receiver, 20), timeout=20, what="the screen flowing once the room allows it"
    )

    # The room stops the share: the screen stops, the camera goes on.
    session.plane.set_forwarding(ROOM, sharer.participant_id, NOT_SHARING)
    await eventually_async(
        stays_still(receiver, quiet_s=1.0), timeout=20, what="the screen no longer flowing"
    )
    camera_frames = viewer.reception(sharer.participant_id, TrackKind.VIDEO).frames
    await eventually(
        lambda: viewer.reception(sharer.participant_id, TrackKind.VIDEO).frames > camera_frames + 5,
        timeout=20,
        what="the camera still flowing",
    )


def rises_by(receiver: RTCRtpReceiver, rise: int) -> Callable[[], Awaitable[bool]]:
    first: list[int] = []

    async def risen() -> bool:
        now = await packets(receiver)
        if not first:
            first.append(now)
        return now - first[0] >= rise

    return risen


def stays_still(receiver: RTCRtpReceiver, quiet_s: float) -> Callable[[], Awaitable[bool]]:
    """True once the packet count has not moved for ``quiet_s``."""
    last: list[tuple[int, float]] = []

    async def still() -> bool:
        now, at = await packets(receiver), time.monotonic()
        if not last or last[0][0] != now:
            last[:] = [(now, at)]
            return False
        return at - last[0][1] >= quiet_s

    return still


async def test_a_screen_must_be_a_video_section_never_the_camera(session: Session) -> None:
    sharer = await session.join(0)
    camera_mid = next(
        t.mid for t in sharer.publish_pc.getTransceivers() if t.kind == "video" and t.mid
    )
    audio_mid = next(
        t.mid for t in sharer.publish_pc.getTransceivers() if t.kind == "audio" and t.mid
    )
    await sharer.publish_pc.setLocalDescription(await sharer.publish_pc.createOffer())
    offer = SessionDescription(sharer.publish_pc.localDescription.sdp, "offer")
    for wrong in (audio_mid, camera_mid, "99"):
        with pytest.raises(InvalidSessionDescription):
            await session.plane.publish(ROOM, sharer.participant_id, offer, screen_mid=wrong)
    assert not any(t.screen for t in session.plane.published_tracks(ROOM, sharer.participant_id))
