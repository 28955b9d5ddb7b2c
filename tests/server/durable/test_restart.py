"""Restart recovery: `groupsession serve --redis-url` killed mid-session and started
again; everyone reconnects with their own link and comes back as themselves, with
the session's rules intact, and media flows again. Real processes, a real Redis,
real Socket.IO and real aiortc peers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from rooms import Role
from signaling.media import TrackKind
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess
from tests.server.sfu.peers import eventually
from tests.server.sfu.wire_peers import WirePeer

ROOM = "restart"
GROUND_RULES = "Confidential: what is said here stays here."
MEDIA_TIMEOUT_S = 30.0


@pytest.fixture
async def node(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(tmp_path / "node", redis_url=redis_server.url)
    await server.start()
    yield server
    server.kill()


async def signaling_only(server: ServerProcess, name: str) -> tuple[socketio.AsyncClient, Any]:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, transports=["websocket"], wait_timeout=5)
    token = server.token(ROOM, Role.MEMBER, name)
    reply = await client.call("join", {"token": token}, timeout=15)
    return client, reply


class Group:
    """Fran facilitates; Ann and Bo are members with media."""

    def __init__(self, server: ServerProcess) -> None:
        self.fran = WirePeer(server, ROOM, "Fran", index=0, role=Role.FACILITATOR)
        self.ann = WirePeer(server, ROOM, "Ann", index=1)
        self.bo = WirePeer(server, ROOM, "Bo", index=2)
        self.peers = [self.fran, self.ann, self.bo]

    async def join(self) -> dict[str, dict[str, Any]]:
        """Everyone joins (and must come in admitted); their snapshots by name."""
        snapshots: dict[str, dict[str, Any]] = {}
        for peer in self.peers:
            await peer.sio.connect(peer.server.url, transports=["websocket"], wait_timeout=5)
            token = peer.server.token(ROOM, peer.role, peer.name)
            reply = await peer.call("join", {"token": token, "microphone": True, "camera": True})
            snapshot = reply["snapshot"]
            assert snapshot["you"]["state"] == "admitted", (peer.name, snapshot["you"])
            peer.participant_id = snapshot["you"]["participant_id"]
            snapshots[peer.name] = snapshot
            if peer is self.fran and not snapshot["settings"]["auto_admit"]:
                await peer.call("update_settings", {"auto_admit": True})
        for peer in self.peers:
            for other in self.peers:
                peer.identities[other.participant_id] = other.index
        return snapshots

    async def start_media(self) -> None:
        for peer in self.peers:
            await peer.publish()
            await peer.subscribe()

    def media_flows(self) -> bool:
        """Everyone sees and hears Fran; Fran sees everyone and hears Bo, who holds the
        floor in the round (Ann's microphone is held off)."""
        fran, ann, bo = self.fran, self.ann, self.bo
        return (
            ann.sees_and_hears([fran])
            and bo.sees_and_hears([fran])
            and fran.sees_and_hears([bo])
            and fran.reception(ann.participant_id, TrackKind.VIDEO).matching >= 5
        )

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()


async def test_a_killed_server_restarts_with_the_session_intact(node: ServerProcess) -> None:
    before = Group(node)
    dee: socketio.AsyncClient | None = None
    after: Group | None = None
    try:
        await before.join()
        dee, dee_reply = await signaling_only(node, "Dee")
        dee_id = dee_reply["snapshot"]["you"]["participant_id"]
        await before.start_media()
        await eventually(before.media_flows, MEDIA_TIMEOUT_S, "media before the restart")

        fran, ann, bo = before.fran, before.ann, before.bo
        await fran.call("set_ground_rules", {"text": GROUND_RULES})
        await fran.call("remove", {"participant_id": dee_id})
        await fran.call("mute", {"participant_id": ann.participant_id, "device": "microphone"})
        await bo.call("raise_hand")
        await ann.call("raise_hand")
        await fran.call("start_round", {"order": "join"})
        await ann.call("finish_turn", {"passed": True})  # Bo speaks now

        node.kill()  # no shutdown: only what was written before each ack survives
        await before.close()
        restarted_at = time.monotonic()
        await node.start()

        after = Group(node)
        snapshots = await after.join()  # each asserts: admitted, not the waiting room
        room = snapshots["Fran"]
        assert room["ground_rules"] == GROUND_RULES
        assert room["settings"]["auto_admit"] is True
        assert room["hand_queue"] == [after.bo.participant_id, after.ann.participant_id]
        assert room["round"]["current_id"] == after.bo.participant_id
        assert [pid for pid, _ in room["round"]["outcomes"]] == [after.ann.participant_id]
        assert room["floor"]["holder_id"] == after.bo.participant_id
        assert snapshots["Ann"]["you"]["microphone"] == {"on": False, "held": True}
        refused = await after.ann.sio.call(
            "set_media", {"device": "microphone", "on": True}, timeout=15
        )
        assert refused["error"]["code"] == "unmute_not_allowed"

        # The removed member's link is still refused.
        await dee.disconnect()
        dee, dee_again = await signaling_only(node, "Dee")
        assert dee_again["error"]["code"] == "barred"
        # Someone new meets the ground rules before coming in (consent survived).
        eve, eve_reply = await signaling_only(node, "Eve")
        assert eve_reply["snapshot"]["you"]["state"] == "waiting"
        assert eve_reply["snapshot"]["ground_rules"] == GROUND_RULES
        await eve.disconnect()

        # The audit trail in progress survived: what happened before the restart is in it.
        audit = await after.fran.call("get_audit")
        actions = [record["action"] for record in audit["records"]]
        for action in ("set_ground_rules", "remove", "mute_microphone", "start_round_join"):
            assert action in actions

        await after.start_media()
        await eventually(after.media_flows, MEDIA_TIMEOUT_S, "media after the restart")
        print(f"\nmedia flowing again {time.monotonic() - restarted_at:.1f} s after the restart")
    finally:
        if dee is not None and dee.connected:
            await dee.disconnect()
        await before.close()
        if after is not None:
            await after.close()
