"""A participant's browser played by aiortc, talking to a real server over real Socket.IO.

Unlike ``peers.ClientPeer``, which calls the media plane directly, a
``WirePeer`` goes through the whole stack: Socket.IO, signaling's handlers,
the room's rules and the media plane. It publishes a colour and a tone that
identify it; what it receives is decoded and identified by the receiving half
both share (``peers.ReceivingPeer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio
from aiortc import RTCPeerConnection, RTCSessionDescription

from rooms import Role
from signaling.media import ForwardedTrack, TrackKind
from tests.server.sfu.peers import (
    COLOURS,
    TONES_HZ,
    ColourTrack,
    ReceivingPeer,
    ToneTrack,
    client_peer_connection,
)


class ReachableServer(Protocol):
    """A server a peer can reach and get join tokens for: in this process
    (tests.conftest.RunningServer) or a separate one (tests.server.processes)."""

    url: str

    def token(self, room: str, role: Role, name: str) -> str: ...


class SignalingRefused(AssertionError):
    """The server refused a command the test expected to succeed."""


def _socket() -> socketio.AsyncClient:
    return socketio.AsyncClient(reconnection=False)


@dataclass
class WirePeer(ReceivingPeer):
    """One participant: a Socket.IO connection and two aiortc peer connections."""

    server: ReachableServer
    room_id: str
    name: str
    index: int  # which colour and tone it sends
    role: Role = Role.MEMBER
    sio: socketio.AsyncClient = field(default_factory=lambda: _socket())
    participant_id: str = ""
    publish_pc: RTCPeerConnection = field(default_factory=client_peer_connection)
    events: list[tuple[str, Any]] = field(default_factory=list)
    # Which colour/tone index each publisher sends, so decoded media can be checked.
    identities: dict[str, int] = field(default_factory=dict)
    answer_errors: list[dict[str, Any]] = field(default_factory=list)
    answer_offers: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()

        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

        async def on_subscriber_offer(data: dict[str, Any]) -> None:
            self.events.append(("subscriber_offer", data))
            if self.answer_offers:
                self._spawn(self._answer(data))

        self.sio.on("*", record)
        self.sio.on("subscriber_offer", on_subscriber_offer)

    def identity_of(self, participant_id: str) -> int | None:
        return self.identities.get(participant_id)

    # -- the protocol ---------------------------------------------------------

    async def call(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data or {}, timeout=15)
        if not reply.get("ok"):
            raise SignalingRefused(f"{self.name}: {event} refused: {reply}")
        return reply

    async def join(self) -> None:
        await self.sio.connect(self.server.url, transports=["websocket"], wait_timeout=5)
        token = self.server.token(self.room_id, self.role, self.name)
        reply = await self.call("join", {"token": token, "microphone": True, "camera": True})
        you = reply["snapshot"]["you"]
        self.participant_id = you["participant_id"]
        if you["state"] != "admitted":
            raise SignalingRefused(f"{self.name} is {you['state']}, not admitted")

    async def publish(self) -> None:
        self.publish_pc.addTransceiver(ToneTrack(TONES_HZ[self.index]), direction="sendonly")
        self.publish_pc.addTransceiver(ColourTrack(COLOURS[self.index]), direction="sendonly")
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        local = self.publish_pc.localDescription
        reply = await self.call("publish", {"sdp": local.sdp, "type": "offer"})
        await self.publish_pc.setRemoteDescription(
            RTCSessionDescription(sdp=reply["sdp"], type=reply["type"])
        )

    async def subscribe(self) -> None:
        await self.call("subscribe")

    async def enter(self) -> None:
        """Join, publish and subscribe: what the web client does once admitted."""
        await self.join()
        await self.publish()
        await self.subscribe()

    async def _answer(self, offer: dict[str, Any]) -> None:
        revision: int = offer["revision"]
        tracks = [
            ForwardedTrack(t["mid"], t["participant_id"], TrackKind(t["kind"]))
            for t in offer["tracks"]
        ]
        local = await self.answer_offer(offer["sdp"], revision, tracks)
        reply = await self.sio.call(
            "subscriber_answer",
            {"sdp": local.sdp, "type": local.type, "revision": revision},
            timeout=15,
        )
        if not reply.get("ok"):
            self.answer_errors.append(reply)

    # -- what arrives ---------------------------------------------------------

    def received_events(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def sees_and_hears(self, others: list[WirePeer], frames: int = 5) -> bool:
        return all(
            self.reception(other.participant_id, kind).matching >= frames
            for other in others
            for kind in (TrackKind.VIDEO, TrackKind.AUDIO)
        )

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.stop_receiving()
        await self.publish_pc.close()
