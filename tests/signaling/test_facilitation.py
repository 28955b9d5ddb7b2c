"""Facilitation over the wire, with the server's clock under the test's control."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import socketio

from rooms import FixedClock, Role
from server.app_keys import SIGNALING
from tests.conftest import Client, RunningServer, start_server, wait_until


@pytest.fixture
def clock() -> FixedClock:
    import time

    return FixedClock(time.time())


Join = Callable[[Role, str], Awaitable[Client]]


@pytest.fixture
async def timed_server(tmp_path: Path, clock: FixedClock) -> AsyncIterator[RunningServer]:
    # The room clock's own ticker waits an hour: the test ticks by hand after moving time.
    runner, running = await start_server(
        tmp_path, clock=clock, tick_interval_s=3600, audit_dir=tmp_path / "audit"
    )
    yield running
    await runner.cleanup()


@pytest.fixture
async def join(timed_server: RunningServer) -> AsyncIterator[Join]:
    """Join room r1 with a new real client, microphone on."""
    clients: list[Client] = []

    async def join_as(role: Role, name: str) -> Client:
        sio = socketio.AsyncClient(reconnection=False)
        client = Client(sio)
        clients.append(client)

        async def record(event: str, data: object = None) -> None:
            client.events.append((event, data))

        sio.on("*", record)
        await sio.connect(timed_server.url, transports=["websocket"], wait_timeout=5)
        token = timed_server.token("r1", role, name)
        reply = await client.call("join", {"token": token, "microphone": True})
        assert reply["ok"], reply
        client.participant_id = reply["snapshot"]["you"]["participant_id"]
        return client

    yield join_as
    for client in clients:
        if client.sio.connected:
            await client.sio.disconnect()


async def test_a_timed_go_around(
    timed_server: RunningServer, clock: FixedClock, join: Join
) -> None:
    fac = await join(Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    members = [await join(Role.MEMBER, name) for name in ("Ana", "Ben", "Cy")]
    a, b, c = members
    reply = await fac.call("start_round", {"order": "join", "turn_seconds": 60})
    assert reply == {"ok": True}
    started = await b.wait_for("round_changed")
    assert started["round"]["order"] == [m.participant_id for m in members]
    assert started["round"]["current_id"] == a.participant_id
    assert started["round"]["next_id"] == b.participant_id
    assert started["round"]["turn_ends_at"] == pytest.approx(clock.now() + 60)
    floor = await c.wait_for("floor_changed")
    assert floor["floor"]["holder_id"] == a.participant_id
    room = timed_server.room("r1")
    assert room.may_be_heard(a.participant_id) and not room.may_be_heard(b.participant_id)

    # Ana passes; Ben's turn runs out after a warning.
    assert (await b.call("finish_turn", {"passed": True}))["error"]["code"] == "invalid_command"
    assert (await a.call("finish_turn", {"passed": True}))["ok"]
    await c.wait_for("round_changed", lambda d: d["round"]["current_id"] == b.participant_id)
    clock.advance(46)
    await timed_server.app[SIGNALING].tick()
    warning = await b.wait_for("turn_warning")
    assert warning["participant_id"] == b.participant_id and warning["seconds_left"] == 14
    await fac.wait_for("turn_warning")
    assert c.received("turn_warning") == []  # the warning is for the speaker
    clock.advance(14)
    await timed_server.app[SIGNALING].tick()
    await a.wait_for("round_changed", lambda d: d["round"]["current_id"] == c.participant_id)

    # Cy is done: the round closes and everyone can be heard again.
    assert (await c.call("finish_turn", {})).get("ok")
    await a.wait_for("round_changed", lambda d: d["round"] is None)
    assert room.may_be_heard(b.participant_id)
    audit = await fac.call("get_audit")
    actions = [record["action"] for record in audit["records"]]
    assert actions[-4:] == ["start_round_join", "turn_passed", "turn_timed_out", "turn_done"]
    assert (await a.call("get_audit"))["error"]["code"] == "permission_denied"


async def test_session_clock_and_kept_audit(
    timed_server: RunningServer, clock: FixedClock, tmp_path: Path, join: Join
) -> None:
    fac = await join(Role.FACILITATOR, "Fac")
    co = await join(Role.COFACILITATOR, "Co")
    ends_at = clock.now() + 11 * 60
    reply = await fac.call("set_schedule", {"ends_at": ends_at, "hard_end": True})
    assert reply["ok"]
    assert (await fac.call("set_schedule", {"starts_at": 10, "ends_at": 5}))["error"][
        "code"
    ] == "invalid_payload"
    await co.wait_for("schedule_changed")
    clock.advance(60)
    await timed_server.app[SIGNALING].tick()
    warning = await co.wait_for("session_clock_warning")
    assert warning == {"minutes_left": 10, "ends_at": ends_at}
    clock.advance(10 * 60)
    await timed_server.app[SIGNALING].tick()
    ended = await co.wait_for("session_ended")
    assert ended == {"ended_by": None, "reason": "scheduled_end"}
    kept = list((tmp_path / "audit").glob("r1-*.json"))
    assert len(kept) == 1
    document = json.loads(kept[0].read_text())
    moderation = [r["action"] for r in document["records"] if r["actor_id"] is not None]
    assert moderation == ["set_schedule"]
    assert [r["action"] for r in document["records"]][-1] == "end_session"
    assert {r["action"] for r in document["records"]} >= {"join", "admitted"}  # attendance
    assert document["kept_because"] == "ended"
    assert "Fac" not in kept[0].read_text()


async def test_ground_rules_change_reaches_the_waiting_room(
    timed_server: RunningServer, join: Join
) -> None:
    fac = await join(Role.FACILITATOR, "Fac")
    waiting = await join(Role.MEMBER, "Ana")
    assert (await fac.call("set_ground_rules", {"text": "What is said here stays here."}))["ok"]
    changed = await waiting.wait_for("ground_rules_changed")
    assert changed == {"ground_rules": "What is said here stays here."}
    refused = await fac.call("admit", {"participant_id": waiting.participant_id})
    assert refused["error"]["code"] == "consent_required"
    assert (await waiting.call("accept_ground_rules"))["ok"]
    assert (await fac.call("admit", {"participant_id": waiting.participant_id}))["ok"]
    await wait_until(lambda: bool(waiting.received("room_snapshot")))
