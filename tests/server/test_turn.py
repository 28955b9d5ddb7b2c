"""TURN credentials by coturn's REST scheme, checked against a real coturn."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from aioice.stun import TransactionFailed

from rooms import Role
from signaling.turn import TurnSettings
from tests.conftest import RunningServer, start_server
from tests.coturn import Coturn, allocate, running_coturn


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path) as running:
        yield running


@pytest.fixture
async def turn_server(tmp_path: Path, coturn: Coturn) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(
        tmp_path,
        turn_secret=coturn.secret,
        turn_uris=(coturn.uri, "turns:turn.example.org:443?transport=tcp"),
        turn_credential_ttl_s=600,
    )
    yield running
    await runner.cleanup()


async def _join(server: RunningServer, name: str) -> tuple[socketio.AsyncClient, dict[str, Any]]:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(server.url, transports=["websocket"], wait_timeout=5)
    reply: dict[str, Any] = await sio.call(
        "join", {"token": server.token("r1", Role.MEMBER, name)}, timeout=10
    )
    assert reply["ok"], reply
    return sio, reply


async def test_join_hands_out_credentials_that_coturn_accepts(
    turn_server: RunningServer, coturn: Coturn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sio, reply = await _join(turn_server, "Ana")
    try:
        [server] = reply["ice_servers"]
        assert server["urls"] == [coturn.uri, "turns:turn.example.org:443?transport=tcp"]
        expiry, ident = server["username"].split(":")
        assert abs(int(expiry) - (time.time() + 600)) < 5
        assert "Ana" not in ident and len(ident) == 16
        assert reply["ice_servers_refresh_s"] == 300
        relayed = await allocate(coturn, server["username"], server["credential"])
        assert relayed[0] == coturn.relay_ip

        refreshed = await sio.call("refresh_ice_servers", {}, timeout=10)
        assert refreshed["ok"], refreshed
        [fresh] = refreshed["ice_servers"]
        assert fresh["username"] != server["username"]  # a new random id each time
        await allocate(coturn, fresh["username"], fresh["credential"])
    finally:
        await sio.disconnect()
    # Credentials are secrets: nothing the server logged contains one.
    for secret in (server["credential"], fresh["credential"], coturn.secret):
        assert secret not in caplog.text


async def test_coturn_refuses_expired_or_forged_credentials(coturn: Coturn) -> None:
    settings = TurnSettings(coturn.secret, (coturn.uri,), ttl_s=60)
    expired = settings.credential(time.time() - 3600)
    with pytest.raises(TransactionFailed) as refusal:
        await allocate(coturn, *expired)
    assert refusal.value.response.attributes["ERROR-CODE"][0] == 401

    forged = TurnSettings("another-secret-" * 3, (coturn.uri,), ttl_s=600).credential(time.time())
    with pytest.raises(TransactionFailed):
        await allocate(coturn, *forged)

    # The same secret with a valid expiry works: the refusals were for expiry and forgery.
    await allocate(coturn, *settings.credential(time.time()))


async def test_without_turn_the_ack_says_no_ice_servers(tmp_path: Path) -> None:
    runner, running = await start_server(tmp_path)
    try:
        sio, reply = await _join(running, "Bo")
        assert reply["ice_servers"] == [] and reply["ice_servers_refresh_s"] is None
        refreshed = await sio.call("refresh_ice_servers", {}, timeout=10)
        assert refreshed == {"ok": True, "ice_servers": [], "ice_servers_refresh_s": None}
        await sio.disconnect()
    finally:
        await runner.cleanup()
