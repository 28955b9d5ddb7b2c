"""Scenario: the media plane behind a 1:1 NAT, announcing the public address.

Run inside a network namespace (tests/netns.py) by tests/server/sfu/
test_ice_network.py, which has set up the NAT there first:
``python -m tests.server.sfu.scenarios.behind_nat PUBLIC LOW HIGH``. No
interface holds PUBLIC; only a DNAT rule leads it to the namespace's own
address. Prints one JSON line: the candidates of every SDP the server sent,
whether both clients saw and heard each other, and the server's selected
pairs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from server.sfu import IcePolicy, RtpForwardingMediaPlane
from tests.server.sfu.ice_peers import RewritingPlane, SdpRecordingSignals, candidates, room_of_two
from tests.server.sfu.peers import sees_and_hears

CONNECT_TIMEOUT_S = 40.0


async def main(public: str, low: int, high: int) -> dict[str, Any]:
    policy = IcePolicy(announced_address=public, ports=(low, high))
    plane = RtpForwardingMediaPlane(ice_policy=policy)
    signals = SdpRecordingSignals()
    plane.attach(signals)
    endpoint = RewritingPlane(plane, lambda sdp: sdp)
    clients = await room_of_two(plane, endpoint, signals)
    connected = False
    try:
        deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
        while asyncio.get_running_loop().time() < deadline:
            if all(sees_and_hears(c, [o for o in clients if o is not c]) for c in clients):
                connected = True
                break
            await asyncio.sleep(0.1)
        pairs = []
        for pc in plane.peer_connections():
            for transceiver in pc.getTransceivers():
                dtls: Any = transceiver.receiver.transport
                pair = dtls.transport._connection._nominated.get(1)
                if pair is not None:
                    pairs.append([pair.local_candidate.host, pair.local_candidate.port])
                    break
        return {
            "connected": connected,
            "server_candidates": [candidates(sdp) for sdp in endpoint.server_sdps + signals.offers],
            "selected_local": pairs,
        }
    finally:
        for client in clients:
            await client.close()
        await plane.close()


if __name__ == "__main__":
    _, public, low, high = sys.argv
    print(json.dumps(asyncio.run(main(public, int(low), int(high)))))
