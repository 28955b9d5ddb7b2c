"""The server's ICE on real networks, with real aiortc peers over real sockets:
its host candidates announced at a configured address within a configured port
range, and browsers whose own candidates are mDNS names or missing."""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from functools import partial

import pytest

from server.readiness import media_probe
from server.sfu import IcePolicy, RtpForwardingMediaPlane
from server.sfu import aiortc_internals as internals
from signaling.media import MediaError
from tests.coturn import relay_address
from tests.netns import NetworkNamespace
from tests.server.sfu.ice_peers import (
    RewritingPlane,
    SdpRecordingSignals,
    as_mdns,
    candidates,
    room_of_two,
    without_candidates,
)
from tests.server.sfu.peers import ROOM, ClientPeer, eventually, sees_and_hears

MakePlane = Callable[[IcePolicy | None], tuple[RtpForwardingMediaPlane, SdpRecordingSignals]]


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
    clients = await room_of_two(plane, endpoint, signals)
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
    clients = await room_of_two(plane, endpoint, signals)
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


# No interface holds it: only the namespace's DNAT rule leads it to the server.
PUBLIC_ADDRESS = "10.203.7.7"


def _in_namespace(netns: NetworkNamespace, *command: str) -> None:
    done = subprocess.run(
        ["ip", "netns", "exec", netns.name, *command],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)}: {done.stderr.strip()}")


def test_behind_a_one_to_one_nat_media_flows_to_the_announced_address(
    netns: NetworkNamespace,
) -> None:
    if shutil.which("iptables") is None:
        pytest.skip("iptables is not installed (apt-get install iptables)")
    # A 1:1 NAT inside the test's own namespace: what is sent to the public address
    # reaches the server's private one, and its replies come back from the public one.
    _in_namespace(netns, "ip", "route", "replace", f"{PUBLIC_ADDRESS}/32", "dev", "veth1")
    _in_namespace(
        netns,
        "iptables", "-t", "nat", "-A", "OUTPUT", "-d", PUBLIC_ADDRESS, "-p", "udp",
        "-j", "DNAT", "--to-destination", netns.addresses[0],
    )  # fmt: skip
    low = 40000
    outcome = netns.run_module(
        "tests.server.sfu.scenarios.behind_nat",
        PUBLIC_ADDRESS,
        str(low),
        str(low + 63),
        timeout_s=90,
    )
    assert outcome["connected"], outcome
    assert outcome["server_candidates"] and all(outcome["server_candidates"]), outcome
    for found in outcome["server_candidates"]:
        for address, port, kind in found:
            assert address == PUBLIC_ADDRESS and kind == "host", found
            assert low <= port <= low + 63, found
    assert outcome["selected_local"], outcome
    assert all(host == PUBLIC_ADDRESS for host, _ in outcome["selected_local"]), outcome


async def test_a_full_port_range_refuses_media_and_makes_the_server_not_ready(
    planes: MakePlane,
) -> None:
    # One port in the range, and the test holds it: the publish cannot bind anything.
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("0.0.0.0", 0))
    port = taken.getsockname()[1]
    try:
        plane, signals = planes(IcePolicy(ports=(port, port)))
        assert plane.health_problem() is None
        assert media_probe(plane)() is None
        client = ClientPeer(ROOM, "p-0", 0, plane)
        signals.clients[client.participant_id] = client
        with pytest.raises(MediaError, match="no free media port"):
            await client.publish()
        problem = media_probe(plane)()
        assert problem is not None and "port range is full" in problem
    finally:
        taken.close()
