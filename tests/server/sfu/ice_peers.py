"""What the ICE tests share: SDP rewritten as browsers send it, and a plane endpoint that
records what the server sends (tests/server/sfu/test_ice_network.py and the NAT scenario)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from server.sfu import RtpForwardingMediaPlane
from signaling.media import ForwardedTrack, SessionDescription
from tests.server.sfu.peers import ROOM, ClientPeer, RelaySignals

_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d) (\S+) (\d+) (\S+) (\d+) typ (\S+)(.*)$")


def candidates(sdp: str) -> list[tuple[str, int, str]]:
    """(address, port, type) of each candidate line."""
    found = []
    for line in sdp.splitlines():
        match = _CANDIDATE.match(line)
        if match:
            found.append((match[5], int(match[6]), match[7]))
    return found


def as_mdns(sdp: str) -> str:
    """What Firefox (and Chromium without camera permission) sends: each host address
    hidden behind a random ``….local`` name, and end-of-candidates in every section."""
    names: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        name = names.setdefault(match[5], f"{uuid.uuid4()}.local")
        foundation, component, transport, priority = match[1], match[2], match[3], match[4]
        return (
            f"a=candidate:{foundation} {component} {transport} {priority} {name} {match[6]}"
            f" typ {match[7]}{match[8]}"
        )

    lines = [_CANDIDATE.sub(hide, line) for line in sdp.splitlines()]
    return _with_end_of_candidates(lines)


def without_candidates(sdp: str) -> str:
    """No candidate at all (a browser that trickles none), and end-of-candidates."""
    return _with_end_of_candidates(
        [line for line in sdp.splitlines() if not line.startswith("a=candidate:")]
    )


def _with_end_of_candidates(lines: list[str]) -> str:
    out: list[str] = []
    sections = [i for i, line in enumerate(lines) if line.startswith("m=")]
    for i, line in enumerate(lines):
        if i in sections[1:] and (not out or out[-1] != "a=end-of-candidates"):
            out.append("a=end-of-candidates")
        out.append(line)
    if out[-1] != "a=end-of-candidates":
        out.append("a=end-of-candidates")
    return "\r\n".join(line for line in out if line) + "\r\n"


@dataclass
class RewritingPlane:
    """The clients' side of signaling, rewriting what they send as a browser would."""

    plane: RtpForwardingMediaPlane
    rewrite: Callable[[str], str]
    server_sdps: list[str] = field(default_factory=list)

    async def publish(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription:
        rewritten = SessionDescription(self.rewrite(offer.sdp), offer.type)
        answer = await self.plane.publish(room_id, participant_id, rewritten)
        self.server_sdps.append(answer.sdp)
        return answer

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        rewritten = SessionDescription(self.rewrite(answer.sdp), answer.type)
        await self.plane.accept_subscriber_answer(room_id, participant_id, rewritten, revision)


@dataclass
class SdpRecordingSignals(RelaySignals):
    offers: list[str] = field(default_factory=list)

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        self.offers.append(offer.sdp)
        await super().send_subscriber_offer(room_id, participant_id, offer, revision, tracks)


async def room_of_two(
    plane: RtpForwardingMediaPlane, endpoint: RewritingPlane, signals: RelaySignals
) -> list[ClientPeer]:
    clients = []
    for index in range(2):
        client = ClientPeer(ROOM, f"p-{index}", index, endpoint)
        signals.clients[client.participant_id] = client
        await client.publish()
        await plane.subscribe(ROOM, client.participant_id)
        clients.append(client)
    return clients
