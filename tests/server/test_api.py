"""The admin HTTP API and the process's own endpoints, over a real socket."""

from __future__ import annotations

import time

import aiohttp

from rooms import Role, Room
from server.app_keys import CONFIG, STORE
from tests.conftest import ADMIN_KEY, ClientFactory, RunningServer

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_healthz(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok" and body["rooms"] == 0


async def test_create_a_room_and_mint_links(server: RunningServer, connect: ClientFactory) -> None:
    async with aiohttp.ClientSession() as http:
        created = await http.post(
            f"{server.url}/api/rooms",
            json={"room_id": "tuesday", "ground_rules": "Stays here.", "capacity": 8},
            headers=AUTH,
        )
        assert created.status == 201
        assert (await created.json())["room_id"] == "tuesday"
        minted = await http.post(
            f"{server.url}/api/rooms/tuesday/tokens",
            json={"role": "member", "display_name": "Ana"},
            headers=AUTH,
        )
        assert minted.status == 201
        link = await minted.json()
    assert link["url"].startswith(f"{server.app[CONFIG].base_url}/#token=")
    assert link["expires_at"] > time.time()
    token = server.signer.verify_join(link["token"], time.time())
    assert (token.room_id, token.display_name, token.role) == ("tuesday", "Ana", Role.MEMBER)
    client = await connect()
    reply = await client.call("join", {"token": link["token"]})
    assert reply["snapshot"]["ground_rules"] == "Stays here."
    assert reply["snapshot"]["settings"]["capacity"] == 8


async def test_the_admin_key_is_required(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_KEY}):
            response = await http.post(f"{server.url}/api/rooms", json={}, headers=headers)
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "unauthorized"
    assert _rooms(server) == []


async def test_bad_requests_change_nothing(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        cases = [
            ("/api/rooms", {"room_id": "has spaces"}, 400, "invalid_payload"),
            ("/api/rooms", {"capacity": 1000}, 400, "invalid_payload"),
            ("/api/rooms", {"colour": "blue"}, 400, "invalid_payload"),
            (
                "/api/rooms/nowhere/tokens",
                {"role": "member", "display_name": "A"},
                404,
                "no_such_room",
            ),
        ]
        for path, body, status, code in cases:
            response = await http.post(f"{server.url}{path}", json=body, headers=AUTH)
            assert response.status == status, (path, body)
            assert (await response.json())["error"]["code"] == code
        not_json = await http.post(f"{server.url}/api/rooms", data=b"{", headers=AUTH)
        assert not_json.status == 400
        await http.post(f"{server.url}/api/rooms", json={"room_id": "once"}, headers=AUTH)
        again = await http.post(f"{server.url}/api/rooms", json={"room_id": "once"}, headers=AUTH)
        assert again.status == 409
        bad_role = await http.post(
            f"{server.url}/api/rooms/once/tokens",
            json={"role": "operator", "display_name": "Eve"},
            headers=AUTH,
        )
        assert bad_role.status == 400
    assert [room.room_id for room in _rooms(server)] == ["once"]


async def test_the_web_client_needs_building(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/") as response:
        assert response.status == 503
        assert "./dev run" in await response.text()


def _rooms(server: RunningServer) -> list[Room]:
    return list(server.app[STORE])
