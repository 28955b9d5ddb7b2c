"""The operator surfaces over real sockets: API, live channel, metrics. Operators see
pseudonymous ids and figures, never names, and no room token opens them."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
import socketio

from rooms import Role
from server.app_keys import MONITOR
from server.links import mint_operator_link
from tests.conftest import ClientFactory, RunningServer, joined, wait_until

NAMES = ("Dr Facilitator", "Ana Example", "Ben Example")


def operator_token(server: RunningServer) -> str:
    return mint_operator_link(server.signer, server.url, ttl_s=600, now=time.time()).token


async def get(server: RunningServer, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        return r.status, await r.json() if r.content_type == "application/json" else await r.text()


async def a_session(connect: ClientFactory, server: RunningServer) -> list[Any]:
    fac, _ = await joined(connect, server, "tuesday-grief-group", Role.FACILITATOR, NAMES[0])
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "tuesday-grief-group", Role.MEMBER, NAMES[1])
    await fac.call("update_settings", {"auto_admit": False})
    b, _ = await joined(connect, server, "tuesday-grief-group", Role.MEMBER, NAMES[2])
    return [fac, a, b]


async def test_room_tokens_do_not_open_the_operator_api(server: RunningServer) -> None:
    member = server.token("r1", Role.MEMBER, "Ana")
    facilitator = server.token("r1", Role.FACILITATOR, "Fac")
    for path in ("/api/rooms", "/api/alerts", "/api/server", "/api/rooms/room_x"):
        for token in (None, member, facilitator, "garbage"):
            status, body = await get(server, path, token)
            assert status == 401, (path, token)
            assert body["error"]["code"] in ("unauthorized", "invalid_token")
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/rooms/room_x/end",
            json={"reason": "test"},
            headers={"Authorization": f"Bearer {facilitator}"},
        )
        assert response.status == 401


async def test_operators_see_rooms_by_pseudonym_and_no_names(
    server: RunningServer, connect: ClientFactory
) -> None:
    clients = await a_session(connect, server)
    server.app[MONITOR].sample()
    token = operator_token(server)
    status, listing = await get(server, "/api/rooms", token)
    assert status == 200
    [room] = listing["rooms"]
    assert room["room_ref"].startswith("room_") and "tuesday" not in room["room_ref"]
    assert (room["participants"], room["waiting"], room["facilitator_present"]) == (2, 1, True)
    status, detail = await get(server, f"/api/rooms/{room['room_ref']}", token)
    assert status == 200
    assert {p["role"] for p in detail["people"]} == {"facilitator", "member"}
    assert all(p["participant_ref"].startswith("peer_") for p in detail["people"])
    status, alerts = await get(server, "/api/alerts", token)
    # The test process itself may load the CPU: only room alerts are this test's business.
    assert status == 200 and [a for a in alerts["alerts"] if a["room_ref"]] == []
    everything = str(listing) + str(detail)
    for secret in (*NAMES, "tuesday", *(c.participant_id for c in clients)):
        assert secret not in everything
    assert (await get(server, "/api/rooms/room_nope", token))[0] == 404


async def test_a_facilitator_leaving_raises_an_alert_that_clears(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _, _ = await a_session(connect, server)
    await fac.sio.disconnect()
    monitor = server.app[MONITOR]
    await wait_until(lambda: not monitor.sample().rooms[0].facilitator_present)
    [alert] = [a for a in monitor.latest.alerts if a.room_ref]
    assert alert.kind == "facilitator_disconnected"
    await joined(connect, server, "tuesday-grief-group", Role.FACILITATOR, "Back")
    assert [a for a in monitor.sample().alerts if a.room_ref] == []


async def test_an_operator_ends_a_room_with_a_reason(
    server: RunningServer, connect: ClientFactory
) -> None:
    _, a, _ = await a_session(connect, server)
    monitor = server.app[MONITOR]
    room_ref = monitor.sample().rooms[0].room_ref
    token = operator_token(server)
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{server.url}/api/rooms/{room_ref}/end"
        refused = await http.post(url, json={}, headers=headers)
        assert refused.status == 400
        ended = await http.post(url, json={"reason": "runaway room"}, headers=headers)
        assert ended.status == 200 and (await ended.json())["ended"] is True
    notice = await a.wait_for("session_ended")
    assert notice == {"ended_by": None, "reason": "ended_by_operator"}
    room = server.room("tuesday-grief-group")
    last = list(room.audit)[-1]
    assert (last.action, last.reason) == ("end_session_by_operator", "runaway room")
    assert last.actor_id is not None and last.actor_id.startswith("op_")


async def test_the_live_channel_needs_an_operator_token(
    server: RunningServer, connect: ClientFactory
) -> None:
    await a_session(connect, server)
    refused = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    refused.on("connect_error", refusals.append, namespace="/operator")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(
            server.url,
            namespaces=["/operator"],
            transports=["websocket"],
            auth={"token": server.token("r1", Role.FACILITATOR, "Fac")},
            wait_timeout=5,
        )
    await wait_until(lambda: bool(refusals), what="the refusal's reason")
    # A browser's socket.io client sees {code, message} as the connect error's `data`.
    assert refusals[0]["data"]["code"] == "invalid_token" and refusals[0]["data"]["message"]
    pushes: list[Any] = []
    live = socketio.AsyncClient(reconnection=False)
    live.on("monitor", pushes.append, namespace="/operator")
    await live.connect(
        server.url,
        namespaces=["/operator"],
        transports=["websocket"],
        auth={"token": operator_token(server)},
        wait_timeout=5,
    )
    try:
        await wait_until(lambda: len(pushes) >= 2, timeout=5, what="two live pushes")
    finally:
        await live.disconnect()
    latest = pushes[-1]
    assert latest["server"]["rooms"] == 1
    assert latest["rooms"][0]["participants"] == 2
    assert all(name not in str(latest) for name in NAMES)


async def test_metrics_after_a_scripted_session(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, a, b = await a_session(connect, server)
    await b.call("launch_rockets", {})
    await a.call("mute", {"participant_id": b.participant_id})
    await fac.call("raise_hand")
    server.app[MONITOR].sample()
    async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as response:
        assert response.status == 200
        text = await response.text()
    lines = set(text.splitlines())
    assert "groupsession_rooms 1.0" in lines
    assert 'groupsession_participants{role="facilitator",state="admitted"} 1.0' in lines
    assert 'groupsession_participants{role="member",state="admitted"} 1.0' in lines
    assert 'groupsession_participants{role="member",state="waiting"} 1.0' in lines
    assert 'groupsession_signaling_messages_total{error_code="",event="join"} 3.0' in lines
    assert (
        'groupsession_signaling_messages_total{error_code="",event="update_settings"} 2.0' in lines
    )
    assert (
        'groupsession_signaling_messages_total{error_code="unknown_event",event="unknown"} 1.0'
        in lines
    )
    assert (
        'groupsession_signaling_messages_total{error_code="not_joined",event="mute"} 0.0'
        not in lines
    )
    assert "groupsession_join_duration_seconds_count 3.0" in lines
    assert "groupsession_event_loop_lag_seconds" in text
    for secret in (*NAMES, "tuesday", fac.participant_id, a.participant_id):
        assert secret not in text


async def test_the_openapi_document(server: RunningServer) -> None:
    status, document = await get(server, "/api/openapi.json", None)
    assert status == 200
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/rooms",
        "/api/rooms/{room_ref}",
        "/api/rooms/{room_ref}/end",
        "/api/alerts",
        "/api/server",
    }
    schemas = document["components"]["schemas"]
    for name in ("RoomList", "RoomDetail", "ParticipantHealth", "AlertView", "ServerHealth"):
        assert name in schemas
    assert "display_name" not in str(schemas)
