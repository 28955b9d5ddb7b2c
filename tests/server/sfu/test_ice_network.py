"""The server's ICE on real networks, with real aiortc peers over real sockets:
its host candidates announced at a configured address within a configured port
range, and browsers whose own candidates are mDNS names or missing."""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

import pytest

from server.sfu import IcePolicy, RtpForwardingMediaPlane
from server.sfu import aiortc_internals as internals
from signaling.media import ForwardedTrack, SessionDescription
from tests.coturn import relay_address
from tests.server.sfu.peers import ROOM, ClientPeer, RelaySignals, eventually, sees_and_hears

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


async def _room_of_two(
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


MakePlane = Callable[[IcePolicy | None], tuple[RtpForwardingMediaPlane, "SdpRecordingSignals"]]


@pytest.fixture
async def planes() -> AsyncIterator[MakePlane]:
    made: list[tuple[RtpForwardingMediaPlane, SdpRecordingSignals]] = []

    def make(policy: IcePolicy | None) -> tuple[RtpForwardingMediaPlane, SdpRecordingSignals]:
        plane = RtpForwardingMediaPlane(ice_policy=policy)
        signals = SdpRecordingSignals()
        plane.attach(signals)
        made.append((plane, signals))
        return plane, signals

    yield make
    for plane, signals in made:
        for client in list(signals.clients.values()):
            await client.close()
        await plane.close()


@pytest.mark.parametrize("rewrite", [as_mdns, without_candidates], ids=["mdns", "none"])
async def test_clients_whose_candidates_no_server_can_use_still_connect(
    planes: MakePlane,
    rewrite: Callable[[str], str],
) -> None:
    plane, signals = planes(None)
    endpoint = RewritingPlane(plane, rewrite)
    clients = await _room_of_two(plane, endpoint, signals)
    for client in clients:
        others = [c for c in clients if c is not client]
        await eventually(partial(sees_and_hears, client, others), timeout=30, what="media")
    # Both legs of both clients: the server paired with what the clients' checks showed.
    for pc in plane.peer_connections():
        types = internals.selected_candidate_types(pc)
        assert types is not None and types[1] == "prflx", types


async def test_host_candidates_carry_the_announced_address_within_the_port_range(
    planes: MakePlane,
) -> None:
    # This machine's own address (aioice gathers no loopback), announced for a wildcard
    # socket: reachable, and nothing but the policy would put only it in the SDP.
    announced = relay_address()
    low = 41000 + secrets.randbelow(40) * 100
    plane, signals = planes(IcePolicy(announced_address=announced, ports=(low, low + 63)))
    endpoint = RewritingPlane(plane, lambda sdp: sdp)
    clients = await _room_of_two(plane, endpoint, signals)
    for client in clients:
        others = [c for c in clients if c is not client]
        await eventually(partial(sees_and_hears, client, others), timeout=30, what="media")

    server_sdps = endpoint.server_sdps + signals.offers
    assert len(endpoint.server_sdps) == 2 and signals.offers
    for sdp in server_sdps:
        found = candidates(sdp)
        assert found, sdp
        for address, port, kind in found:
            assert (address, kind) == (announced, "host"), found
            assert low <= port <= low + 63, found
    assert ipaddress.ip_address(announced).version == 4
