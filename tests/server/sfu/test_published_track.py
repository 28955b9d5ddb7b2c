"""A published track's fan-out: one subscriber's failure costs the others nothing."""

from __future__ import annotations

from aiortc import RTCPeerConnection

from server.sfu.aiortc_internals import RtpPacket
from server.sfu.forwarding_stats import ForwardingStats
from server.sfu.legs import ForwardingLeg, SubscriberSlot
from server.sfu.published_track import PublishedTrack
from signaling.media import TrackKind
from tests.server.sfu.doubles import ManualClock, RecordingOutput


async def test_a_subscriber_whose_srtp_fails_costs_the_others_nothing() -> None:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("audio", direction="recvonly").receiver
    stats = ForwardingStats()
    track = PublishedTrack(
        "pub",
        TrackKind.AUDIO,
        receiver,
        clock=ManualClock(),
        keyframe_interval_s=1.0,
        stats=stats,
        on_audio_level=lambda level: None,
    )
    outputs = {"broken": RecordingOutput(fail=True), "fine": RecordingOutput(fail=False)}
    for subscriber_id, output in outputs.items():
        slot = SubscriberSlot(TrackKind.AUDIO, transceiver=None)  # type: ignore[arg-type]
        slot.output = output  # type: ignore[assignment]
        leg = ForwardingLeg(track, subscriber_id, slot)
        slot.leg = leg
        leg.negotiated = True
        track.add_leg(leg)
    for seq in (1, 2):
        packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=seq * 960, ssrc=5)
        packet.payload = b"opus"
        track._forward(packet, 0, track.first_layer())
    assert len(outputs["fine"].sent) == 2
    assert stats.copies_failed == 2
    assert stats.packets_out == 2
    track.close()
    await pc.close()


