"""A dropped connection over the real wire: the person keeps their place for the grace
period, the room sees them as reconnecting, and they come back as themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms import Role
from tests.conftest import Client, ClientFactory, RunningServer, joined, start_server, wait_until

GRACE_S = 2


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(tmp_path, reconnect_grace_s=GRACE_S)
    yield running
    await runner.cleanup()


async def drop(client: Client) -> None:
    """The network goes: the transport closes without the client saying goodbye."""
    await client.sio.eio.ws.close()
    await wait_until(lambda: not client.sio.connected, what="the dropped connection")


async def join_with(connect: ClientFactory, token: str) -> tuple[Client, dict[str, Any]]:
    client = await connect()
    reply = await client.call("join", {"token": token})
    assert reply["ok"], reply
    client.participant_id = reply["snapshot"]["you"]["participant_id"]
    return client, reply["snapshot"]


async def group(
    connect: ClientFactory, server: RunningServer
) -> tuple[Client, Client, Client, str]:
    """A facilitator and two members; the last is Ana's token, to come back with."""
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana = server.token("r1", Role.MEMBER, "Ana")
    a, _ = await join_with(connect, ana)
    b, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    return fac, a, b, ana


def reconnecting(pid: str | None, value: bool) -> Any:
    return lambda e: e == {"participant_id": pid, "reconnecting": value}


async def test_a_drop_shows_reconnecting_and_the_person_comes_back_in_place(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, b, ana = await group(connect, server)
    assert (await a.call("raise_hand"))["ok"]
    assert (await b.call("raise_hand"))["ok"]
    await fac.call("update_settings", {"locked": True, "auto_admit": False})
    await drop(a)
    await fac.wait_for("participant_reconnecting", reconnecting(a.participant_id, True))
    await b.wait_for("participant_reconnecting", reconnecting(a.participant_id, True))
    _, snapshot = await join_with(connect, ana)
    assert snapshot["you"]["participant_id"] == a.participant_id
    assert snapshot["you"]["state"] == "admitted"  # no waiting room, though locked
    assert snapshot["hand_queue"] == [a.participant_id, b.participant_id]
    await fac.wait_for("participant_reconnecting", reconnecting(a.participant_id, False))
    assert fac.received("participant_left") == []


async def test_the_snapshot_of_others_shows_who_is_reconnecting(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, _, _ = await group(connect, server)
    await drop(a)
    await fac.wait_for("participant_reconnecting")
    _, snapshot = await joined(connect, server, "r1", Role.COFACILITATOR, "Co")
    shown = {p["participant_id"]: p["reconnecting"] for p in snapshot["participants"]}
    assert shown[a.participant_id] is True
    assert shown[fac.participant_id] is False


async def test_after_the_grace_period_the_person_has_left(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, _, _ = await group(connect, server)
    assert (await a.call("raise_hand"))["ok"]
    await drop(a)
    await fac.wait_for("participant_reconnecting")
    left = await fac.wait_for("participant_left", timeout=GRACE_S + 3)
    assert left == {"participant_id": a.participant_id, "reason": "disconnected"}
    assert not server.room("r1").is_present(a.participant_id)


async def test_leaving_on_purpose_is_the_leave_command(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, _, _ = await group(connect, server)
    assert (await a.call("leave"))["ok"]
    left = await fac.wait_for("participant_left", timeout=GRACE_S / 2)
    assert left == {"participant_id": a.participant_id, "reason": "left"}
    assert fac.received("participant_reconnecting") == []


async def test_closing_the_socket_without_leaving_is_a_drop(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, _, _ = await group(connect, server)
    await a.sio.disconnect()
    await fac.wait_for("participant_reconnecting", reconnecting(a.participant_id, True))
    assert fac.received("participant_left") == []


async def test_a_round_turn_survives_a_drop(server: RunningServer, connect: ClientFactory) -> None:
    fac, a, b, ana = await group(connect, server)
    assert (await fac.call("start_round", {"turn_seconds": 60}))["ok"]
    await drop(a)
    await fac.wait_for("participant_reconnecting")
    back, _ = await join_with(connect, ana)
    round_ = server.room("r1").round.view()
    assert round_.current_id == a.participant_id and round_.outcomes == ()
    assert (await back.call("finish_turn", {}))["ok"]
    assert server.room("r1").round.view().current_id == b.participant_id
