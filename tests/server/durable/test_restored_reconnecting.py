"""One reconnection rule: after a restart with Redis, everyone the room remembers is
``reconnecting`` under the configured grace period, as after a dropped connection.
Whoever rejoins comes back as themselves (hand, turn, floor, holds); whoever does not
leaves as ``disconnected`` when it runs out. Real processes, a real Redis, real
Socket.IO."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from rooms import Role
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess
from tests.server.sfu.peers import eventually

ROOM = "one-rule"
# Short, so the test sees someone let go; long enough for a rejoin on a loaded machine.
GRACE_S = 10
# The grace period, the once-a-second tick and a loaded machine.
LEAVE_TIMEOUT_S = GRACE_S + 20


@pytest.fixture
async def node(tmp_path: Path, redis_server: RedisServer) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(
        tmp_path / "node",
        redis_url=redis_server.url,
        extra_env={"GROUPSESSION_RECONNECT_GRACE_S": str(GRACE_S)},
    )
    await server.start()
    yield server
    server.kill()


class Person:
    def __init__(self, server: ServerProcess, role: Role, name: str) -> None:
        self.server, self.role, self.name = server, role, name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.participant_id = ""

        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

        self.sio.on("*", record)

    async def join(self) -> dict[str, Any]:
        await self.sio.connect(self.server.url, transports=["websocket"], wait_timeout=5)
        token = self.server.token(ROOM, self.role, self.name)
        reply: dict[str, Any] = await self.sio.call("join", {"token": token}, timeout=30)
        assert reply["ok"], reply
        self.participant_id = reply["snapshot"]["you"]["participant_id"]
        return dict(reply["snapshot"])

    async def call(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, data or {}, timeout=15)
        assert reply["ok"], reply
        return reply

    def received(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def reconnecting_in(snapshot: dict[str, Any]) -> dict[str, bool]:
    return {p["participant_id"]: p["reconnecting"] for p in snapshot["participants"]}


async def test_after_a_restart_the_remembered_are_reconnecting_under_the_grace_period(
    node: ServerProcess,
) -> None:
    fran, ann, bo = (
        Person(node, Role.FACILITATOR, "Fran"),
        Person(node, Role.MEMBER, "Ann"),
        Person(node, Role.MEMBER, "Bo"),
    )
    people = [fran, ann, bo]
    after: list[Person] = []
    try:
        await fran.join()
        await fran.call("update_settings", {"auto_admit": True})
        await ann.join()
        await bo.join()
        await ann.call("raise_hand")
        await bo.call("raise_hand")
        await fran.call("start_round", {"order": "join"})  # Ann first, then Bo
        await fran.call("mute", {"participant_id": ann.participant_id, "device": "microphone"})
        ids = {p.name: p.participant_id for p in people}

        node.kill()  # no shutdown: what Redis holds is all there is
        for person in people:
            await person.close()
        await node.start()

        fran2, ann2 = Person(node, Role.FACILITATOR, "Fran"), Person(node, Role.MEMBER, "Ann")
        after = [fran2, ann2]
        snapshot = await fran2.join()
        # Fran sees the others as reconnecting (not gone), in their places.
        assert reconnecting_in(snapshot) == {
            ids["Fran"]: False,
            ids["Ann"]: True,
            ids["Bo"]: True,
        }
        assert snapshot["round"]["current_id"] == ids["Ann"]
        assert snapshot["hand_queue"] == [ids["Ann"], ids["Bo"]]
        assert fran2.received("participant_left") == []

        # Ann comes back as herself: admitted, same place, same hold; Fran sees it.
        mine = await ann2.join()
        assert mine["you"]["participant_id"] == ids["Ann"]
        assert mine["you"]["state"] == "admitted" and not mine["you"]["reconnecting"]
        assert mine["you"]["microphone"] == {"on": False, "held": True}
        assert mine["round"]["current_id"] == ids["Ann"]
        assert reconnecting_in(mine)[ids["Bo"]] is True
        await eventually(
            lambda: {"participant_id": ids["Ann"], "reconnecting": False}
            in fran2.received("participant_reconnecting"),
            15,
            "Fran told that Ann is back",
        )

        # Bo does not come back: he leaves as a drop does once the grace period is over.
        await eventually(
            lambda: {"participant_id": ids["Bo"], "reason": "disconnected"}
            in fran2.received("participant_left"),
            LEAVE_TIMEOUT_S,
            "Bo let go after the grace period",
        )
        assert {"participant_id": ids["Ann"], "reason": "disconnected"} not in fran2.received(
            "participant_left"
        )
        audit = await fran2.call("get_audit")
        actions = {(r["action"], r["target_id"]) for r in audit["records"]}
        assert ("reconnected", ids["Ann"]) in actions
    finally:
        for person in [*people, *after]:
            await person.close()
