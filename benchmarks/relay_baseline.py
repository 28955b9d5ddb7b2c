"""The forwarding benchmark's baseline: aiortc's MediaRelay (decode once, encode per subscriber).

Only the benchmark uses this. It serves a static room: every participant
publishes before anyone subscribes, which is all the comparison needs.
"""

from __future__ import annotations

import asyncio

from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from server.sfu.forwarding_stats import ForwardingStats
from signaling.media import (
    ForwardedTrack,
    MediaSignals,
    SessionDescription,
    TrackKind,
)


class MediaRelayBaseline:
    """Enough of the MediaPlane protocol for the benchmark, done the transcoding way."""

    def __init__(self) -> None:
        self._relay = MediaRelay()
        self._signals: MediaSignals | None = None
        self._publish: dict[str, RTCPeerConnection] = {}
        self._subscribe: dict[str, RTCPeerConnection] = {}
        self._tracks: dict[str, list[MediaStreamTrack]] = {}
        self.stats = ForwardingStats()

    def attach(self, signals: MediaSignals) -> None:
        self._signals = signals

    async def publish(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._publish[participant_id] = pc
        tracks = self._tracks.setdefault(participant_id, [])

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            tracks.append(track)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return SessionDescription(sdp=pc.localDescription.sdp, type="answer")

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        assert self._signals is not None
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self._subscribe[participant_id] = pc
        offered: list[tuple[str, MediaStreamTrack]] = []
        for publisher, tracks in self._tracks.items():
            if publisher != participant_id:
                for track in tracks:
                    pc.addTrack(self._relay.subscribe(track))
                    offered.append((publisher, track))
        await pc.setLocalDescription(await pc.createOffer())
        forwarded = [
            ForwardedTrack(mid=t.mid or "", participant_id=publisher, kind=TrackKind(track.kind))
            for t, (publisher, track) in zip(pc.getTransceivers(), offered, strict=True)
        ]
        offer = SessionDescription(sdp=pc.localDescription.sdp, type="offer")
        await self._signals.send_subscriber_offer(room_id, participant_id, offer, 1, forwarded)

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        pc = self._subscribe[participant_id]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))

    async def close(self) -> None:
        pcs = [*self._publish.values(), *self._subscribe.values()]
        await asyncio.gather(*(pc.close() for pc in pcs))
