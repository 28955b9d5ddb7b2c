"""Several nodes on one Redis: rooms spread across them, a room is placed once even
when its first joins arrive through two nodes at the same time, a client reaching
the wrong node is redirected to the right one, and a node killed outright (kill -9)
hands its rooms to a live node with their state intact and media flowing again.
Real processes, a real Redis, real Socket.IO, real aiortc peers."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import socketio

from rooms import Role
from server.cluster import node_id_for
from server.links import mint_operator_link
from server.monitoring.pseudonyms import Pseudonyms
from signaling.media import TrackKind
from signaling.tokens import TokenSigner
from tests.conftest import TEST_SECRET
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess
from tests.server.sfu.peers import eventually, eventually_async
from tests.server.sfu.wire_peers import WirePeer

MEDIA_TIMEOUT_S = 30.0
FAILOVER_TIMEOUT_S = 40.0  # generous for a loaded machine; the time taken is printed


@pytest.fixture
async def nodes(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[list[ServerProcess]]:
    started = [ServerProcess(tmp_path / f"node{i}", redis_url=redis_server.url) for i in range(2)]
    # One set of links for the whole cluster: a person's token works on every node.
    for node in started[1:]:
        node._tokens = started[0]._tokens
    await asyncio.gather(*(node.start() for node in started))
    yield started
    for node in started:
        node.kill()


async def join_following_redirects(
    sio: socketio.AsyncClient, entry: str, token: str, timeout: float = 15
) -> tuple[dict[str, Any], str]:
    """What a client does: join at the entry address; on ``wrong_node`` reconnect to the
    room's node and join there; if that node cannot be reached, go back to the entry
    and try again. The reply and the address that took the join."""
    deadline = time.monotonic() + timeout
    url = entry
    while True:
        assert time.monotonic() < deadline, f"no node took the join (last tried {url})"
        try:
            # Bounded: a node that is stopped (not dead) accepts TCP and never answers.
            await asyncio.wait_for(sio.connect(url, transports=["websocket"]), 5)
        except (socketio.exceptions.ConnectionError, TimeoutError):
            await sio.disconnect()
            url = entry
            await asyncio.sleep(0.3)
            continue
        payload = {"token": token, "microphone": True, "camera": True}
        reply: dict[str, Any] = await sio.call("join", payload, timeout=15)
        if reply["ok"]:
            return reply, url
        await sio.disconnect()
        if reply["error"]["code"] != "wrong_node":
            return reply, url
        url = reply["error"]["node_url"]


async def registered_load(redis_url: str, node: ServerProcess) -> int:
    raw = aioredis.Redis.from_url(redis_url)
    try:
        stored = await raw.get(f"gs:node:{node_id_for(node.url)}")
    finally:
        await raw.aclose()
    return -1 if stored is None else int(json.loads(stored)["load"])


async def test_rooms_spread_and_are_placed_once(
    nodes: list[ServerProcess], redis_server: RedisServer
) -> None:
    a, b = nodes
    clients: list[socketio.AsyncClient] = []

    def client() -> socketio.AsyncClient:
        clients.append(socketio.AsyncClient(reconnection=False))
        return clients[-1]

    try:
        # Two first joins of one room, through both nodes at the same moment.
        fran, ann = client(), client()
        (fran_reply, fran_at), (ann_reply, ann_at) = await asyncio.gather(
            join_following_redirects(fran, a.url, a.token("together", Role.FACILITATOR, "Fran")),
            join_following_redirects(ann, b.url, a.token("together", Role.MEMBER, "Ann")),
        )
        assert fran_reply["ok"] and ann_reply["ok"], (fran_reply, ann_reply)
        assert fran_at == ann_at  # one node took both: the room was placed once
        owner = a if fran_at == a.url else b
        other = b if owner is a else a
        # Ann waits in the one room, where Fran the facilitator can see her.
        assert ann_reply["snapshot"]["you"]["state"] == "waiting"
        admitted = await fran.call(
            "admit", {"participant_id": ann_reply["snapshot"]["you"]["participant_id"]}, timeout=15
        )
        assert admitted["ok"], admitted

        # The owner's heartbeat now says it holds people; the next new room goes to the
        # other node, even when its first join reaches the owner.
        async def owner_loaded() -> bool:
            return await registered_load(redis_server.url, owner) >= 2

        await eventually_async(owner_loaded, 15, "the owner's load in its lease", 0.2)
        gil = client()
        gil_reply, gil_at = await join_following_redirects(
            gil, owner.url, a.token("elsewhere", Role.FACILITATOR, "Gil")
        )
        assert gil_reply["ok"] and gil_at == other.url
        # A member of the first room who reaches the wrong node ends up in it.
        bo = client()
        bo_reply, bo_at = await join_following_redirects(
            bo, other.url, a.token("together", Role.MEMBER, "Bo")
        )
        assert bo_reply["ok"] and bo_at == owner.url
        assert bo_reply["snapshot"]["room_id"] == "together"
    finally:
        for each in clients:
            if each.connected:
                await each.disconnect()


class Peer(WirePeer):
    async def enter_cluster(self, entry: str) -> str:
        token = self.server.token(self.room_id, self.role, self.name)
        reply, url = await join_following_redirects(self.sio, entry, token, FAILOVER_TIMEOUT_S)
        assert reply["ok"], reply
        snapshot: dict[str, Any] = reply["snapshot"]
        self.participant_id = snapshot["you"]["participant_id"]
        self.snapshot = snapshot
        return url


async def test_a_killed_node_hands_its_rooms_to_a_live_one(nodes: list[ServerProcess]) -> None:
    a, b = nodes
    room = "failover"
    peers: list[Peer] = []

    def peer(name: str, index: int, role: Role = Role.MEMBER) -> Peer:
        peers.append(Peer(a, room, name, index=index, role=role))
        return peers[-1]

    try:
        fran = peer("Fran", 0, Role.FACILITATOR)
        owner_url = await fran.enter_cluster(a.url)
        owner, survivor = (a, b) if owner_url == a.url else (b, a)
        await fran.call("update_settings", {"auto_admit": True})
        ann, bo = peer("Ann", 1), peer("Bo", 2)
        for member in (ann, bo):
            assert await member.enter_cluster(a.url) == owner.url
        everyone = [fran, ann, bo]
        for each in everyone:
            each.identities.update({p.participant_id: p.index for p in everyone})
            await each.publish()
            await each.subscribe()
        await eventually(
            lambda: fran.sees_and_hears([ann, bo]), MEDIA_TIMEOUT_S, "media on the first node"
        )
        await fran.call("mute", {"participant_id": ann.participant_id, "device": "microphone"})
        await bo.call("raise_hand")
        await fran.call("start_round", {"order": "join"})  # Ann's turn first

        owner.kill()
        killed_at = time.monotonic()
        for each in everyone:
            await each.close()
        survivors = [
            peer("Fran", 0, Role.FACILITATOR), peer("Ann", 1), peer("Bo", 2)
        ]  # fmt: skip
        fran2, ann2, bo2 = survivors
        for each in survivors:
            # Their clients go back to the entry address (a load balancer would send them
            # to a live node: here the survivor), which redirects them to the dead node
            # while its lease lives, then takes the room on.
            assert await each.enter_cluster(survivor.url) == survivor.url
            assert each.snapshot["you"]["state"] == "admitted"
        placed_at = time.monotonic()
        state = fran2.snapshot
        assert {p["participant_id"] for p in state["participants"]} == {
            p.participant_id for p in survivors
        }
        assert ann2.snapshot["you"]["microphone"]["held"] is True
        assert state["hand_queue"] == [bo2.participant_id]
        assert state["round"]["current_id"] == ann2.participant_id
        for each in survivors:
            each.identities.update({p.participant_id: p.index for p in survivors})
            await each.publish()
            await each.subscribe()
        # Everyone sees everyone; Fran (a facilitator) is heard. Ann's microphone is held.
        await eventually(
            lambda: (
                all(
                    fran2.reception(p.participant_id, TrackKind.VIDEO).matching >= 5
                    for p in (ann2, bo2)
                )
                and ann2.sees_and_hears([fran2])
                and bo2.sees_and_hears([fran2])
            ),
            MEDIA_TIMEOUT_S,
            "media on the surviving node",
        )
        print(
            f"\nfailover: room placed on the live node {placed_at - killed_at:.1f} s "
            f"after kill -9, media flowing {time.monotonic() - killed_at:.1f} s after it"
        )
    finally:
        for each in peers:
            await each.close()


async def test_the_operator_api_on_any_node_lists_every_nodes_rooms(
    nodes: list[ServerProcess],
) -> None:
    a, b = nodes
    token = mint_operator_link(TokenSigner(TEST_SECRET), a.url, ttl_s=600, now=time.time()).token
    headers = {"Authorization": f"Bearer {token}"}
    pseudonyms = Pseudonyms(TEST_SECRET)  # every node names rooms alike
    fran, gil = socketio.AsyncClient(reconnection=False), socketio.AsyncClient(reconnection=False)
    try:
        _, fran_at = await join_following_redirects(
            fran, a.url, a.token("on-a", Role.FACILITATOR, "Fran")
        )
        _, gil_at = await join_following_redirects(
            gil, b.url, a.token("on-b", Role.FACILITATOR, "Gil")
        )
        assert fran_at == a.url and gil_at == b.url  # one room on each node
        both = {pseudonyms.room("on-a"), pseudonyms.room("on-b")}

        async def rooms_seen_from(node: ServerProcess) -> set[str]:
            async with (
                aiohttp.ClientSession() as http,
                http.get(node.url + "/api/rooms", headers=headers) as response,
            ):
                assert response.status == 200
                return {room["room_ref"] for room in (await response.json())["rooms"]}

        for node in (a, b):

            async def both_listed(node: ServerProcess = node) -> bool:
                return await rooms_seen_from(node) == both

            await eventually_async(both_listed, 15, f"both rooms listed by {node.url}", 0.2)
        # Ending a room is asked of its own node; another node says which.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{a.url}/api/rooms/{pseudonyms.room('on-b')}/end",
                headers=headers,
                json={"reason": "test"},
            ) as response,
        ):
            assert response.status == 409
            error = (await response.json())["error"]
        assert error["code"] == "wrong_node" and error["node_url"] == b.url
    finally:
        for each in (fran, gil):
            if each.connected:
                await each.disconnect()


async def test_a_node_that_lost_its_lease_lets_go_of_its_rooms(
    nodes: list[ServerProcess], redis_server: RedisServer
) -> None:
    """Fencing: a node paused past its lease (SIGSTOP) wakes up after its room moved. It
    never writes that room again and closes its connections, whose clients rejoin at
    the room's new node."""
    a, b = nodes
    room = "fenced"
    fran, bo = socketio.AsyncClient(reconnection=False), socketio.AsyncClient(reconnection=False)
    raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    assert a.process is not None
    try:
        _, fran_at = await join_following_redirects(
            fran, a.url, a.token(room, Role.FACILITATOR, "Fran")
        )
        owner, other = (a, b) if fran_at == a.url else (b, a)
        assert owner.process is not None
        await fran.call("update_settings", {"auto_admit": True}, timeout=10)
        owner.process.send_signal(signal.SIGSTOP)
        try:
            # The other node takes the room on once the paused node's lease has run out.
            bo_reply, bo_at = await join_following_redirects(
                bo, other.url, a.token(room, Role.MEMBER, "Bo"), FAILOVER_TIMEOUT_S
            )
            assert bo_reply["ok"] and bo_at == other.url
        finally:
            owner.process.send_signal(signal.SIGCONT)
        # Awake again, the old node finds the room placed elsewhere and lets go of it.
        await eventually(lambda: not fran.connected, 20, "the stale node closing Fran's socket")
        stored = json.loads(await raw.get(f"gs:room:{room}"))
        assert bo_reply["snapshot"]["you"]["participant_id"] in {
            p["participant_id"] for p in stored["participants"]
        }
        assert await raw.get(f"gs:placement:{room}") == node_id_for(other.url)
        # Fran's client rejoins where the room is now, and finds Bo there.
        fran = socketio.AsyncClient(reconnection=False)
        reply, at = await join_following_redirects(
            fran, owner.url, a.token(room, Role.FACILITATOR, "Fran")
        )
        assert reply["ok"] and at == other.url
        names = {p["display_name"] for p in reply["snapshot"]["participants"]}
        assert names == {"Fran", "Bo"}
    finally:
        for each in (fran, bo):
            if each.connected:
                await each.disconnect()
        await raw.aclose()
