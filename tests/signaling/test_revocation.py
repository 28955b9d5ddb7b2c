"""Revoked links, seats taken over, and equal-rank moderation, over the real wire."""

from __future__ import annotations

import aiohttp

from rooms import Role
from server.app_keys import STORE
from tests.conftest import ADMIN_KEY, Client, ClientFactory, RunningServer, joined, wait_until


async def join_code(connect: ClientFactory, token: str) -> str:
    client = await connect()
    reply = await client.call("join", {"token": token})
    return "ok" if reply["ok"] else str(reply["error"]["code"])


async def test_removing_someone_revokes_their_link_beyond_the_session(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    token = server.token("r1", Role.MEMBER, "Ana")
    a = await connect()
    pid = (await a.call("join", {"token": token}))["snapshot"]["you"]["participant_id"]
    assert (await fac.call("remove", {"participant_id": pid}))["ok"]
    assert await join_code(connect, token) == "barred"  # this session says why
    # The room is forgotten (retention, a restart): the link is still refused.
    server.app[STORE].discard("r1")
    assert await join_code(connect, token) == "token_revoked"


async def test_an_operator_revokes_a_link_through_the_admin_api(
    server: RunningServer, connect: ClientFactory
) -> None:
    token = server.token("r1", Role.FACILITATOR, "Leaked")
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        response = await http.post(
            f"{server.url}/api/revocations", json={"token": token}, headers=headers
        )
        assert response.status == 200
        body = await response.json()
        assert body["revoked"] is True and body["jti"]
        refused = await http.post(f"{server.url}/api/revocations", json={"token": token})
        assert refused.status == 401
    assert await join_code(connect, token) == "token_revoked"
    assert await join_code(connect, server.token("r1", Role.FACILITATOR, "Other")) == "ok"


async def test_facilitators_are_told_when_a_seat_is_taken_over(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    token = server.token("r1", Role.MEMBER, "Ana")
    first = await connect()
    pid = (await first.call("join", {"token": token}))["snapshot"]["you"]["participant_id"]
    second = await connect()
    assert (await second.call("join", {"token": token}))["ok"]
    assert await fac.wait_for("seat_taken_over") == {"participant_id": pid}
    await first.wait_for("superseded")


async def test_a_room_can_refuse_takeovers_while_the_first_connection_lives(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True, "takeover_allowed": False})
    token = server.token("r1", Role.MEMBER, "Ana")
    first = await connect()
    assert (await first.call("join", {"token": token}))["ok"]
    assert await join_code(connect, token) == "seat_taken"
    assert first.sio.connected and fac.received("seat_taken_over") == []
    # Once the first connection has dropped, the person comes back as themselves.
    await first.sio.disconnect()
    await wait_until(lambda: bool(fac.received("participant_reconnecting")))
    assert await join_code(connect, token) == "ok"


async def test_equal_ranks_do_not_moderate_each_other(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    fac2, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac Two")
    co, _ = await joined(connect, server, "r1", Role.COFACILITATOR, "Co", microphone=True)
    co2, _ = await joined(connect, server, "r1", Role.COFACILITATOR, "Co Two")

    async def code(actor: Client, event: str, target: Client) -> str:
        reply = await actor.call(event, {"participant_id": target.participant_id})
        return "ok" if reply["ok"] else str(reply["error"]["code"])

    assert await code(fac, "mute", fac2) == "permission_denied"
    assert await code(fac, "remove", fac2) == "permission_denied"
    assert await code(co2, "mute", co) == "permission_denied"
    assert await code(co2, "remove", co) == "permission_denied"
    assert await code(co, "remove", fac) == "permission_denied"
    assert server.room("r1").participant(co.participant_id).microphone.on
    assert await code(fac, "mute", co) == "ok"
    assert await code(fac, "remove", co2) == "ok"
