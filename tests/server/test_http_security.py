"""Origin checks and security headers, over a real socket with real HTTP and Socket.IO
clients: a page from another site can neither call the APIs that change state nor open
a Socket.IO session; same-origin pages and non-browser clients can."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import socketio

from rooms import Role
from server.app_keys import MONITOR, STORE
from server.links import mint_operator_link
from server.monitoring.pseudonyms import Pseudonyms
from tests.conftest import ADMIN_KEY, ClientFactory, RunningServer, joined, start_server

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
EVIL = "https://evil.example"
EXPECTED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Server": "groupsession",
}


async def _connect(
    server: RunningServer,
    origin: str | None,
    *,
    namespace: str = "/",
    auth: dict[str, str] | None = None,
    transport: str = "websocket",
) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Origin": origin} if origin is not None else {}
    await client.connect(
        server.url,
        headers=headers,
        transports=[transport],
        namespaces=[namespace],
        auth=auth,
        wait_timeout=5,
    )
    return client


def _operator_token(server: RunningServer) -> str:
    return mint_operator_link(server.signer, server.url, ttl_s=600, now=time.time()).token


async def test_every_response_carries_the_security_headers(
    server: RunningServer, tmp_path: Path
) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<!doctype html>")
    async with aiohttp.ClientSession() as http:
        for method, path in [
            ("GET", "/"),
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/no/such/page"),
            ("POST", "/api/rooms"),  # 401: errors too
            ("GET", "/socket.io/?EIO=4&transport=polling"),
        ]:
            async with http.request(method, server.url + path) as response:
                for name, value in EXPECTED_HEADERS.items():
                    assert response.headers.get(name) == value, (path, name)
                csp = response.headers["Content-Security-Policy"]
                assert "Strict-Transport-Security" not in response.headers  # plain http
    port = server.config.port
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert f"connect-src 'self' ws://127.0.0.1:{port} ws://localhost:{port}" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


async def test_hsts_when_the_public_url_is_https(tmp_path: Path) -> None:
    runner, server = await start_server(
        tmp_path, public_url="https://groups.example.org", behind_tls_proxy=True
    )
    try:
        async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            csp = response.headers["Content-Security-Policy"]
            assert "connect-src 'self' wss://groups.example.org;" in csp
    finally:
        await runner.cleanup()


async def test_a_foreign_origin_cannot_create_rooms_or_mint_links(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for origin in (EVIL, "null", server.url + ".evil.example"):
            for path, body in [
                ("/api/rooms", {"room_id": "stolen"}),
                ("/api/operator-tokens", {}),
            ]:
                response = await http.post(
                    server.url + path, json=body, headers=AUTH | {"Origin": origin}
                )
                assert response.status == 403, (origin, path)
                error = (await response.json())["error"]
                assert error["code"] == "origin_not_allowed"
                assert origin in error["message"]
        assert list(server.app[STORE]) == []
        # Same origin (a page of this server) and no Origin (a scheduling system) work.
        for headers, room in [(AUTH | {"Origin": server.url}, "mine"), (AUTH, "scheduled")]:
            response = await http.post(
                server.url + "/api/rooms", json={"room_id": room}, headers=headers
            )
            assert response.status == 201, await response.text()
        # Reading is not guarded: a GET changes nothing (and needs its bearer token).
        operator = {"Authorization": f"Bearer {_operator_token(server)}"}
        response = await http.get(server.url + "/api/rooms", headers=operator | {"Origin": EVIL})
        assert response.status == 200
    assert sorted(room.room_id for room in server.app[STORE]) == ["mine", "scheduled"]


async def test_a_foreign_origin_cannot_end_a_room(
    server: RunningServer, connect: ClientFactory
) -> None:
    member, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fran")
    room_ref = "r1"
    ref = Pseudonyms(server.config.signing_secret()).room(room_ref)
    assert server.app[MONITOR].room_by_ref(ref) is not None
    headers = {"Authorization": f"Bearer {_operator_token(server)}", "Origin": EVIL}
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.url}/api/rooms/{ref}/end", json={"reason": "x"}, headers=headers
        )
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "origin_not_allowed"
    room = server.room(room_ref)
    assert room is not None and not room.ended
    assert member.sio.connected


async def test_configured_origins_are_allowed(tmp_path: Path) -> None:
    runner, server = await start_server(
        tmp_path, allowed_origins=("https://scheduler.example", "HTTP://Dev.Example:5173/")
    )
    try:
        async with aiohttp.ClientSession() as http:
            for origin in ("https://scheduler.example", "http://dev.example:5173"):
                response = await http.post(
                    server.url + "/api/operator-tokens", json={}, headers=AUTH | {"Origin": origin}
                )
                assert response.status == 201, origin
        client = await _connect(server, "http://dev.example:5173")
        await client.disconnect()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_socket_io_refuses_a_foreign_origin_on_both_namespaces(
    server: RunningServer, transport: str
) -> None:
    # What a client sees: python-engineio answers the handshake 400 "<origin> is not an
    # accepted origin."; the Socket.IO client reports a connection error and no session.
    token = _operator_token(server)
    for namespace, auth in (("/", None), ("/operator", {"token": token})):
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _connect(server, EVIL, namespace=namespace, auth=auth, transport=transport)
    async with aiohttp.ClientSession() as http:
        handshake = await http.get(
            f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL}
        )
        assert handshake.status == 400
        assert "is not an accepted origin" in await handshake.text()


@pytest.mark.parametrize("origin", ["same", None])
async def test_socket_io_accepts_its_own_pages_and_non_browser_clients(
    server: RunningServer, origin: str | None
) -> None:
    # Browsers always send Origin on a WebSocket handshake and on cross-origin polling,
    # so a missing one is a non-browser client (a bot, a test, a native app), which
    # needs a signed token to do anything; refusing it would protect nothing.
    sent = server.url if origin == "same" else None
    client = await _connect(server, sent)
    try:
        reply = await client.call(
            "join", {"token": server.token("r1", Role.MEMBER, "Ana")}, timeout=10
        )
        assert reply["ok"], reply
    finally:
        await client.disconnect()
    operator = await _connect(
        server, sent, namespace="/operator", auth={"token": _operator_token(server)}
    )
    await operator.disconnect()


@pytest.fixture
async def served_elsewhere(tmp_path: Path) -> AsyncIterator[RunningServer]:
    runner, server = await start_server(tmp_path, public_url="https://groups.example.org")
    yield server
    await runner.cleanup()


async def test_the_origin_is_the_public_urls_not_the_listening_address(
    served_elsewhere: RunningServer,
) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await _connect(served_elsewhere, served_elsewhere.url.replace("https", "http"))
    client = await _connect(served_elsewhere, "https://groups.example.org")
    await client.disconnect()
