"""The media plane with real aiortc peers over real sockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest

from server.sfu import RtpForwardingMediaPlane
from server.sfu import aiortc_internals as internals
from server.sfu.ingress import DropReason
from signaling.media import (
    ForwardingPermission,
    IceCandidate,
    InvalidSessionDescription,
    Leg,
    MediaNotReady,
    SessionDescription,
    TrackKind,
)
from tests.server.sfu.conftest import CodecCount
from tests.server.sfu.peers import (
    ROOM,
    ClientPeer,
    RelaySignals,
    Session,
    eventually,
    eventually_async,
    sees_and_hears,
)


def assert_server_never_codes(plane: RtpForwardingMediaPlane) -> None:
    for pc in plane.peer_connections():
        for receiver in pc.getReceivers():
            assert internals.decoder_thread(receiver) is None
        for sender in pc.getSenders():
            assert internals.encoder_of(sender) is None


async def test_room_of_four_everyone_sees_and_hears_everyone_else(
    session: Session, codec_count: CodecCount
) -> None:
    clients = [await session.join(i) for i in range(4)]

    for client in clients:
        others = [c for c in clients if c is not client]
        await eventually(
            partial(sees_and_hears, client, others),
            timeout=20,
            what=f"{client.participant_id} decoding everyone else's colour and tone",
        )

    # Identity holds on (almost) every decoded frame, not just a few.
    for client in clients:
        for (publisher, kind), reception in client.received.items():
            assert publisher != client.participant_id
            assert reception.matching >= 0.8 * reception.frames, (publisher, kind, reception)

    # No transcoding: every encoder belongs to a client's two senders, every
    # decoder to a client's receivers (3 publishers x 2 kinds each); the
    # server's own receivers and senders never built one.
    assert codec_count.encoders == 4 * 2
    assert codec_count.decoders == 4 * 3 * 2
    assert_server_never_codes(session.plane)
    assert session.plane.stats.packets_out > session.plane.stats.packets_in
    # Published media came straight off the sockets, past aiortc's receive loop.
    for participant in session.plane._rooms[ROOM].values():
        for track in participant.tracks.values():
            assert internals.receives_directly(track.receiver)
    # Copies went straight to each subscriber's socket, through one route per
    # connection (one duplicate descriptor) shared by its six slots.
    for client in clients:
        subscription = session.plane_subscription(client.participant_id)
        routes = [slot.output._line.route for slot in subscription.slots if slot.output]
        assert len(routes) == 6 and routes[0] is not None
        assert all(route is routes[0] for route in routes)

    # Loud tones: everyone was detected as speaking.
    assert {pid for pid, speaking in session.signals.speaking if speaking} == {
        c.participant_id for c in clients
    }


async def test_late_joiner_sees_everyone_within_a_second(session: Session) -> None:
    early = [await session.join(i) for i in range(2)]
    for client in early:
        await eventually(
            partial(sees_and_hears, client, [c for c in early if c is not client]),
            timeout=15,
            what="the first two participants seeing each other",
        )

    joined_at = time.monotonic()
    late = await session.join(2)
    await eventually(
        lambda: all(
            late.reception(c.participant_id, TrackKind.VIDEO).first_matching_at is not None
            for c in early
        ),
        timeout=5,
        what="the late joiner decoding everyone's video",
    )
    first_video_s = (
        max(
            late.reception(c.participant_id, TrackKind.VIDEO).first_matching_at or 0.0
            for c in early
        )
        - joined_at
    )
    print(f"late joiner first video after {first_video_s * 1000:.0f} ms (join incl. ICE+DTLS)")
    assert first_video_s < 3.0  # generous for a loaded CI machine; the aim is < 1 s


async def test_forwarding_mute_stops_audio_at_receivers_and_unmute_restores_it(
    session: Session,
) -> None:
    speaker, listener = [await session.join(i) for i in range(2)]
    await eventually(lambda: sees_and_hears(listener, [speaker]), 15, "listener receiving")
    stats = session.plane.stats

    async def audio_packets() -> int:
        return await listener.packets_received(speaker.participant_id, TrackKind.AUDIO)

    session.plane.set_forwarding(ROOM, speaker.participant_id, ForwardingPermission(False, True))
    dropped_before = stats.packets_dropped_by_mute
    # Let in-flight packets land, then count over half a second of dropped audio.
    await eventually(lambda: stats.packets_dropped_by_mute >= dropped_before + 5, 5, "muting")
    received_at_mute = await audio_packets()
    video_at_mute = listener.reception(speaker.participant_id, TrackKind.VIDEO).frames
    await eventually(lambda: stats.packets_dropped_by_mute >= dropped_before + 30, 5, "0.5 s muted")
    assert await audio_packets() == received_at_mute
    # Video is unaffected by an audio mute.
    assert listener.reception(speaker.participant_id, TrackKind.VIDEO).frames > video_at_mute
    assert (speaker.participant_id, False) in session.signals.speaking

    session.plane.set_forwarding(ROOM, speaker.participant_id, ForwardingPermission(True, True))

    async def resumed() -> bool:
        return await audio_packets() >= received_at_mute + 10

    waited = await eventually_async(resumed, 5, "audio resuming after unmute")
    assert waited < 1.0  # 10 packets are 200 ms of audio


async def test_video_mute_resumes_on_a_keyframe(session: Session) -> None:
    publisher, viewer = [await session.join(i) for i in range(2)]
    await eventually(lambda: sees_and_hears(viewer, [publisher]), 15, "viewer receiving")
    reception = viewer.reception(publisher.participant_id, TrackKind.VIDEO)
    tracks = session.plane.published_tracks(ROOM, publisher.participant_id)
    video = next(t for t in tracks if t.kind is TrackKind.VIDEO)
    requests_before = video.keyframe_requests_sent

    session.plane.set_forwarding(ROOM, publisher.participant_id, ForwardingPermission(True, False))
    stats = session.plane.stats
    dropped = stats.packets_dropped_by_mute
    await eventually(lambda: stats.packets_dropped_by_mute > dropped + 20, 5, "video dropped")
    frames_at_mute = reception.matching

    session.plane.set_forwarding(ROOM, publisher.participant_id, ForwardingPermission(True, True))
    waited = await eventually(
        lambda: reception.matching >= frames_at_mute + 3, 5, "video resuming after unmute"
    )
    assert video.keyframe_requests_sent > requests_before
    assert waited < 1.5


async def test_leaver_disappears_and_their_slots_are_reused(session: Session) -> None:
    a, b, c = [await session.join(i) for i in range(3)]
    for client in (a, b, c):
        others = [x for x in (a, b, c) if x is not client]
        await eventually(partial(sees_and_hears, client, others), 20, "3 way")
    slots_before = len(a.subscribe_pc.getTransceivers())
    pcs_before = len(session.plane.peer_connections())

    await session.leave(c)

    def renegotiated_without_leaver(client: ClientPeer) -> bool:
        return (
            bool(client.offers)
            and all(t.participant_id != c.participant_id for t in client.offers[-1][1])
            and client.subscribe_pc.signalingState == "stable"
        )

    for client in (a, b):
        await eventually(
            partial(renegotiated_without_leaver, client),
            5,
            f"{client.participant_id} renegotiated without the leaver",
        )
        inactive = [
            t for t in client.subscribe_pc.getTransceivers() if t.currentDirection == "inactive"
        ]
        assert len(inactive) == 2  # the leaver's audio and video
    assert len(session.plane.peer_connections()) == pcs_before - 2

    # A newcomer takes over the free slots: no new m-lines, and the right colour.
    d = await session.join(3)
    await eventually(lambda: sees_and_hears(a, [b, d]), 30, "a seeing the newcomer")
    assert len(a.subscribe_pc.getTransceivers()) == slots_before


async def test_bad_input_raises_named_errors_and_changes_nothing(session: Session) -> None:
    plane = session.plane
    with pytest.raises(InvalidSessionDescription, match=r"not valid SDP|no audio or video"):
        await plane.publish(ROOM, "p-0", SessionDescription(sdp="v=0\r\nnonsense", type="offer"))
    with pytest.raises(InvalidSessionDescription, match="expected an offer"):
        await plane.publish(ROOM, "p-0", SessionDescription(sdp="v=0", type="answer"))
    assert plane.room_ids() == []

    with pytest.raises(MediaNotReady):
        await plane.accept_subscriber_answer(ROOM, "p-0", SessionDescription("v=0", "answer"), 1)
    with pytest.raises(MediaNotReady):
        await plane.add_ice_candidate(
            ROOM,
            "p-0",
            Leg.SUBSCRIBE,
            IceCandidate("candidate:1 1 udp 1 192.0.2.1 9 typ host", "0", 0),
        )

    a, b = [await session.join(i) for i in range(2)]
    await eventually(lambda: bool(b.offers), 5, "b's first offer")
    subscription_revision = b.offers[-1][0]
    await eventually(
        lambda: b.subscribe_pc.signalingState == "stable", 5, "b's first answer accepted"
    )
    with pytest.raises(MediaNotReady, match="unexpected"):
        await plane.accept_subscriber_answer(
            ROOM, b.participant_id, SessionDescription("v=0", "answer"), subscription_revision + 5
        )
    with pytest.raises(InvalidSessionDescription, match="malformed ICE candidate"):
        await plane.add_ice_candidate(
            ROOM, a.participant_id, Leg.PUBLISH, IceCandidate("candidate:garbage", "0", 0)
        )
    # A candidate whose port no socket has (aioice's first check there would raise
    # OverflowError and close the socket), trickled or in an offer: refused by the
    # plane itself, not only by signaling.
    with pytest.raises(InvalidSessionDescription, match="port is 0 to 65535"):
        await plane.add_ice_candidate(
            ROOM,
            a.participant_id,
            Leg.PUBLISH,
            IceCandidate("candidate:1 1 udp 1 192.0.2.1 70000 typ host", "0", 0),
        )
    offer = a.publish_pc.localDescription.sdp.replace(
        "a=mid:0\r\n", "a=mid:0\r\na=candidate:1 1 udp 1 192.0.2.1 99999 typ host\r\n", 1
    )
    assert "99999" in offer
    with pytest.raises(InvalidSessionDescription, match="port is 0 to 65535"):
        await plane.publish(ROOM, a.participant_id, SessionDescription(offer, "offer"))
    # A publish offer without a codec the plane forwards is refused up front.
    offer = a.publish_pc.localDescription.sdp.replace("VP8/90000", "VP9/90000")
    with pytest.raises(InvalidSessionDescription, match="video/vp8"):
        await plane.publish(ROOM, a.participant_id, SessionDescription(offer, "offer"))
    # ...and the room carries on.
    await eventually(lambda: sees_and_hears(b, [a]), 15, "b still receiving a")


async def test_close_room_closes_every_connection(session: Session) -> None:
    clients = [await session.join(i) for i in range(2)]
    await eventually(lambda: sees_and_hears(clients[1], [clients[0]]), 15, "media flowing")
    pcs = session.plane.peer_connections()
    assert len(pcs) == 4
    await session.plane.close_room(ROOM)
    assert all(pc.connectionState == "closed" for pc in pcs)
    assert session.plane.peer_connections() == []
    assert session.plane.room_ids() == []


@pytest.fixture
async def impatient_session() -> AsyncIterator[Session]:
    """A session whose subscribe offers time out after 0.3 s."""
    plane = RtpForwardingMediaPlane(answer_timeout_s=0.3)
    signals = RelaySignals()
    plane.attach(signals)
    yield Session(plane, signals)
    for client in list(signals.clients.values()):
        await client.close()
    await plane.close()


async def join_ignoring_offers(session: Session, index: int, offers: int) -> ClientPeer:
    client = ClientPeer(ROOM, f"p-{index}", index, session.plane, offers_to_ignore=offers)
    session.signals.clients[client.participant_id] = client
    await client.publish()
    await session.plane.subscribe(ROOM, client.participant_id)
    return client


async def test_an_unanswered_offer_is_replaced_not_waited_for_forever(
    impatient_session: Session,
) -> None:
    session = impatient_session
    a = await session.join(0)
    b = await join_ignoring_offers(session, 1, offers=1)
    await eventually(lambda: b.ignored == [1], 5, "b losing its first offer")

    # The plane offers again (revision 2) and b, answering that, sees a.
    await eventually(lambda: sees_and_hears(b, [a]), 15, "b receiving after the re-offer")
    assert [revision for revision, _ in b.offers] == [2]
    with pytest.raises(MediaNotReady, match="unexpected"):
        await session.plane.accept_subscriber_answer(
            ROOM, b.participant_id, SessionDescription("v=0", "answer"), 1
        )
    await eventually(lambda: sees_and_hears(a, [b]), 15, "a unaffected: receiving b")


async def test_re_offering_stops_after_repeated_silence_until_something_changes(
    impatient_session: Session,
) -> None:
    session = impatient_session
    await session.join(0)
    b = await join_ignoring_offers(session, 1, offers=10)
    subscription = session.plane_subscription(b.participant_id)
    await eventually(
        lambda: subscription.unanswered_offers == 3 and subscription.pending_revision is None,
        5,
        "three unanswered offers, then none outstanding",
    )
    assert b.ignored == [1, 2, 3]
    await session.join(2)  # a change: offered once more
    await eventually(lambda: b.ignored == [1, 2, 3, 4], 5, "an offer for the newcomer")


async def test_copies_follow_a_newly_selected_ice_pair(session: Session) -> None:
    import aioice.ice

    a, b = [await session.join(i) for i in range(2)]
    await eventually(partial(sees_and_hears, a, [b]), 20, "a decoding b")
    subscription = session.plane_subscription(a.participant_id)
    outputs = [slot.output for slot in subscription.slots if slot.output]
    old_route = outputs[0]._line.route
    assert old_route is not None and old_route.open
    # aioice selects another pair (a new pair object over the same socket, as
    # after a consent failure and recovery): every slot moves to a new route.
    nominated = outputs[0]._nominated
    pair = nominated[1]
    nominated[1] = aioice.ice.CandidatePair(pair.protocol, pair.remote_candidate)
    frames = a.reception(b.participant_id, TrackKind.VIDEO).matching
    await eventually(
        lambda: a.reception(b.participant_id, TrackKind.VIDEO).matching > frames + 5,
        5,
        "b's video still reaching a",
    )
    new_route = outputs[0]._line.route
    assert new_route is not None and new_route is not old_route
    assert not old_route.open  # its duplicate descriptor is gone
    await eventually(
        lambda: all(output._line.route is new_route for output in outputs),
        5,
        "both slots on the new route",
    )


async def test_a_packet_sent_again_on_rtx_is_forwarded_once(session: Session) -> None:
    """Chrome probes its uplink by resending old packets on RTX ("payload padding"): each
    reached every subscriber a second time, where SRTP's replay check dropped it after it
    had crossed their downlink. A packet the server already has is dropped and counted."""
    a, b = [await session.join(i) for i in range(2)]
    await eventually(lambda: sees_and_hears(b, [a]), 15, "b receiving a")
    sender: Any = next(t.sender for t in a.publish_pc.getTransceivers() if t.kind == "video")
    history: dict[int, Any] = sender._RTCRtpSender__rtp_history
    sent = max(history.values(), key=lambda packet: packet.sequence_number)
    counts = session.plane.stats.drops.counts
    before = counts[DropReason.DUPLICATE]
    await sender._retransmit(sent.sequence_number)  # RTX-wrapped, as Chrome's padding is
    await eventually(lambda: counts[DropReason.DUPLICATE] == before + 1, 5, "the copy dropped")
    # ...and media goes on.
    frames = b.reception(a.participant_id, TrackKind.VIDEO).matching
    await eventually(
        lambda: b.reception(a.participant_id, TrackKind.VIDEO).matching > frames + 5,
        10,
        "b still receiving a's video",
    )
