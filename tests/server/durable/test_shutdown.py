"""SIGTERM: new joins refused, everyone told (``server_shutting_down`` with a retry
hint), what must be kept is kept, and the process exits in bounded time. With the
in-memory store sessions end properly (audit trails written); with Redis they
continue after the restart, everyone still present. Real processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import socketio

from rooms import Role
from tests.conftest import wait_until
from tests.redis_server import RedisServer
from tests.server.processes import ServerProcess

ROOM = "closing"
# SHUTDOWN_STEP_S (server/cli.py) is 10 s per step; generous bound for a loaded machine.
EXIT_BOUND_S = 40.0


class Member:
    def __init__(self, server: ServerProcess, role: Role, name: str) -> None:
        self.server, self.role, self.name = server, role, name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []

        async def record(event: str, data: Any = None) -> None:
            self.events.append((event, data))

        self.sio.on("*", record)

    async def join(self) -> dict[str, Any]:
        await self.sio.connect(self.server.url, transports=["websocket"], wait_timeout=5)
        token = self.server.token(ROOM, self.role, self.name)
        reply: dict[str, Any] = await self.sio.call("join", {"token": token}, timeout=15)
        assert reply["ok"], reply
        snapshot: dict[str, Any] = reply["snapshot"]
        return snapshot

    def received(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def test_sigterm_in_memory_ends_sessions_with_their_audit_trails(tmp_path: Path) -> None:
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir(mode=0o700)
    server = ServerProcess(tmp_path / "node", extra_env={"GROUPSESSION_AUDIT_DIR": str(audit_dir)})
    await server.start()
    fran, ann = Member(server, Role.FACILITATOR, "Fran"), Member(server, Role.MEMBER, "Ann")
    try:
        await fran.join()
        await ann.join()
        server.terminate()
        for person in (fran, ann):
            await wait_until(
                lambda p=person: bool(p.received("server_shutting_down")), 10, "the warning"
            )
            [warning] = person.received("server_shutting_down")
            assert warning == {"retry_after_s": 2.0, "sessions_continue": False}
        await wait_until(lambda: bool(fran.received("session_ended")), 15, "the session's end")
        assert fran.received("session_ended")[0]["reason"] == "server_shutdown"
        assert await server.exited(EXIT_BOUND_S) == 0
        [trail] = list(audit_dir.glob(f"{ROOM}-*.json"))
        actions = [record["action"] for record in json.loads(trail.read_text())["records"]]
        assert actions[-1] == "end_session"
        assert "Traceback" not in server.output()
    finally:
        await fran.close()
        await ann.close()
        server.kill()


async def test_sigterm_with_redis_keeps_everyone_in_the_session(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    server = ServerProcess(tmp_path / "node", redis_url=redis_server.url)
    await server.start()
    fran, ann = Member(server, Role.FACILITATOR, "Fran"), Member(server, Role.MEMBER, "Ann")
    try:
        await fran.join()
        await fran.sio.call("update_settings", {"auto_admit": True}, timeout=5)
        assert (await ann.join())["you"]["state"] == "admitted"
        assert (await ann.sio.call("raise_hand", {}, timeout=5))["ok"]
        server.terminate()
        for person in (fran, ann):
            await wait_until(
                lambda p=person: bool(p.received("server_shutting_down")), 10, "the warning"
            )
            [warning] = person.received("server_shutting_down")
            assert warning == {"retry_after_s": 2.0, "sessions_continue": True}
        assert await server.exited(EXIT_BOUND_S) == 0
        assert not fran.received("session_ended")
        # A join on a socket opened before the shutdown finished would have been refused;
        # after the restart, both come back as themselves, Ann's hand still up.
        await server.start()
        fran, ann = Member(server, Role.FACILITATOR, "Fran"), Member(server, Role.MEMBER, "Ann")
        snapshot = await fran.join()
        again = await ann.join()
        assert again["you"]["state"] == "admitted"
        assert snapshot["hand_queue"] == [again["you"]["participant_id"]]
        assert "Traceback" not in server.output()
    finally:
        await fran.close()
        await ann.close()
        server.kill()
