"""Audit trails are kept without an explicit End: when a session empties out, and when
the server shuts down (GROUPSESSION_AUDIT_DIR set). Attendance is in them: ids and
times only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import socketio

import server.app
from rooms import Role
from tests.conftest import Client, start_server, wait_until


async def _join(url: str, token: str) -> Client:
    client = Client(socketio.AsyncClient(reconnection=False))
    await client.sio.connect(url, transports=["websocket"], wait_timeout=5)
    reply = await client.call("join", {"token": token})
    assert reply["ok"], reply
    return client


def _kept(directory: Path, why: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob(f"r1-*-{why}.json"))]


async def test_a_session_that_empties_out_keeps_its_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.app, "AUDIT_CHECK_S", 0.05)
    audit = tmp_path / "audit"
    runner, running = await start_server(tmp_path, audit_dir=audit)
    try:
        fac = await _join(running.url, running.token("r1", Role.FACILITATOR, "Fran Example"))
        await fac.call("update_settings", {"auto_admit": True})
        member = await _join(running.url, running.token("r1", Role.MEMBER, "Mo Example"))
        for client in (member, fac):
            assert (await client.call("leave"))["ok"]
            await client.sio.disconnect()
        await wait_until(lambda: bool(_kept(audit, "emptied")), what="the emptied trail")
        [document] = _kept(audit, "emptied")
        actions = [r["action"] for r in document["records"]]
        assert actions.count("join") == 2 and actions.count("leave_left") == 2
        assert "admitted" in actions
        text = "".join(p.read_text() for p in audit.iterdir())
        assert "Fran" not in text and "Mo Example" not in text
    finally:
        await runner.cleanup()
    assert _kept(audit, "shutdown") == []  # nothing new since it was kept


async def test_shutting_down_keeps_the_trails_of_live_sessions(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    runner, running = await start_server(tmp_path, audit_dir=audit)
    fac = await _join(running.url, running.token("r1", Role.FACILITATOR, "Fran"))
    assert (await fac.call("set_floor_mode", {"on": True}))["ok"]
    await fac.sio.disconnect()
    await runner.cleanup()
    [document] = _kept(audit, "shutdown")
    actions = [r["action"] for r in document["records"]]
    assert actions[:2] == ["join", "admitted"] and "floor_mode_on" in actions
    assert "connection_lost" in actions  # she dropped; the trail was kept in her grace period
